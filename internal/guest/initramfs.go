// Package guest makes what a VM boots: a kernel (the user's, or Debian's
// cloud kernel fetched with apt-get download and cached) and an initramfs,
// built in Go, whose /init is the isobench agent itself, with the guest
// driver modules beside it; and ext4 disk images for scratch volumes.
package guest

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/cavaliergopher/cpio"

	"github.com/isobench/isobench/internal/digest"
	"github.com/isobench/isobench/internal/imagetree"
)

// BuildInitramfs writes a newc cpio archive holding the agent as /init,
// the empty directories it mounts at boot, and the modules in modulesDir
// (may be empty) under ModulesDir. It holds no device nodes: the agent
// mounts devtmpfs and opens the console itself.
func BuildInitramfs(w io.Writer, agentPath, modulesDir string, image []imagetree.Entry) error {
	cw := cpio.NewWriter(w)
	mtime := time.Unix(0, 0) // reproducible: the same inputs give the same archive
	dirs := []struct {
		name string
		mode cpio.FileMode
	}{{"dev", 0o755}, {"proc", 0o555}, {"sys", 0o555}, {"tmp", 0o1777}, {"var", 0o755}, {"var/tmp", 0o1777}, {"scratch", 0o755}}
	if modulesDir != "" {
		dirs = append(dirs, []struct {
			name string
			mode cpio.FileMode
		}{{"lib", 0o755}, {"lib/modules", 0o755}, {ModulesDir, 0o755}}...)
	}
	for _, d := range dirs {
		if err := cw.WriteHeader(&cpio.Header{Name: d.name, Mode: cpio.TypeDir | d.mode, Links: 2, ModTime: mtime}); err != nil {
			return fmt.Errorf("initramfs: %w", err)
		}
	}
	if err := addFile(cw, "init", agentPath, 0o755, mtime); err != nil {
		return err
	}
	for _, e := range image {
		var err error
		switch {
		case e.Mode.IsDir():
			err = cw.WriteHeader(&cpio.Header{Name: e.Rel, Mode: cpio.TypeDir | cpio.FileMode(e.Mode.Perm()), Links: 2, ModTime: mtime})
		case e.Link != "":
			err = cw.WriteHeader(&cpio.Header{Name: e.Rel, Mode: cpio.TypeSymlink | 0o777, Size: int64(len(e.Link)), Links: 1, ModTime: mtime})
			if err == nil {
				_, err = io.WriteString(cw, e.Link)
			}
		default:
			err = addFile(cw, e.Rel, e.Path, cpio.FileMode(e.Mode.Perm()), mtime)
		}
		if err != nil {
			return fmt.Errorf("initramfs: image %s: %w", e.Rel, err)
		}
	}
	if modulesDir != "" {
		files, err := moduleFiles(modulesDir)
		if err != nil {
			return err
		}
		for _, f := range files {
			if err := addFile(cw, ModulesDir+"/"+filepath.Base(f), f, 0o644, mtime); err != nil {
				return err
			}
		}
	}
	if err := cw.Close(); err != nil {
		return fmt.Errorf("initramfs: %w", err)
	}
	return nil
}

func addFile(cw *cpio.Writer, name, src string, mode cpio.FileMode, mtime time.Time) error {
	f, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("initramfs: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("initramfs: %w", err)
	}
	if err := cw.WriteHeader(&cpio.Header{Name: name, Mode: cpio.TypeReg | mode, Size: st.Size(), Links: 1, ModTime: mtime}); err != nil {
		return fmt.Errorf("initramfs: %w", err)
	}
	if _, err := io.Copy(cw, f); err != nil {
		return fmt.Errorf("initramfs: copy %s: %w", src, err)
	}
	return nil
}

// moduleFiles lists a modules directory's files in a stable order.
func moduleFiles(dir string) ([]string, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.ko"))
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("initramfs: no modules in %s", dir)
	}
	return append(files, filepath.Join(dir, DepsFile)), nil // Glob sorts
}

// Initramfs returns the path of the initramfs for the agent and the
// kernel's modules, building it into dir (a cache) unless one for the same
// bytes exists.
func Initramfs(dir, agentPath string, k Kernel, image string) (string, error) {
	inputs := []string{agentPath}
	var tree []imagetree.Entry
	treeKey := ""
	if image != "" {
		var err error
		if tree, err = imagetree.Read(image); err != nil {
			return "", fmt.Errorf("initramfs: %w", err)
		}
		if treeKey, err = imagetree.Digest(tree); err != nil {
			return "", fmt.Errorf("initramfs: %w", err)
		}
	}
	if k.Modules != "" {
		files, err := moduleFiles(k.Modules)
		if err != nil {
			return "", err
		}
		inputs = append(inputs, files...)
	}
	key, err := contentKey(inputs, treeKey)
	if err != nil {
		return "", fmt.Errorf("initramfs: %w", err)
	}
	path := filepath.Join(dir, "initramfs-"+key[:16]+".cpio")
	// The name is a hash of the inputs; the sidecar holds the hash of the
	// archive itself, so a damaged cached file is rebuilt, not booted.
	sumPath := path + ".sha256"
	if want, err := os.ReadFile(sumPath); err == nil {
		if got, err := digest.File(path); err == nil && got == string(want) {
			now := time.Now()
			_ = os.Chtimes(path, now, now) // in use: not pruned
			return path, nil
		}
	}
	// Every isobench build has its own initramfs; old ones go.
	pruneInitramfs(dir, time.Now())
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("initramfs: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".initramfs-*")
	if err != nil {
		return "", fmt.Errorf("initramfs: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := BuildInitramfs(tmp, agentPath, k.Modules, tree); err != nil {
		tmp.Close()
		return "", err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return "", fmt.Errorf("initramfs: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return "", fmt.Errorf("initramfs: %w", err)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return "", fmt.Errorf("initramfs: %w", err)
	}
	sum, err := digest.File(tmp.Name())
	if err != nil {
		return "", fmt.Errorf("initramfs: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return "", fmt.Errorf("initramfs: %w", err)
	}
	if err := os.WriteFile(sumPath, []byte(sum), 0o644); err != nil {
		return "", fmt.Errorf("initramfs: %w", err)
	}
	return path, nil
}

// Cached initramfs images unused for initramfsMaxAge are removed, but the
// initramfsKeep newest always stay. The age protects a run in progress
// that uses an older build's image (its VMs load it at every launch).
const (
	initramfsMaxAge = 7 * 24 * time.Hour
	initramfsKeep   = 4
)

// pruneInitramfs removes old cached images: without it the cache grows by
// one image (tens of MB) per isobench build.
func pruneInitramfs(dir string, now time.Time) []string {
	paths, _ := filepath.Glob(filepath.Join(dir, "initramfs-*.cpio"))
	type entry struct {
		path string
		mod  time.Time
	}
	var es []entry
	for _, p := range paths {
		if fi, err := os.Stat(p); err == nil {
			es = append(es, entry{p, fi.ModTime()})
		}
	}
	slices.SortFunc(es, func(a, b entry) int { return b.mod.Compare(a.mod) })
	var removed []string
	for i, e := range es {
		if i < initramfsKeep || now.Sub(e.mod) < initramfsMaxAge {
			continue
		}
		if os.Remove(e.path) == nil {
			_ = os.Remove(e.path + ".sha256")
			removed = append(removed, e.path)
		}
	}
	return removed
}

// contentKey hashes the names and contents of files together, and extra.
func contentKey(files []string, extra string) (string, error) {
	h := sha256.New()
	h.Write([]byte(extra))
	for _, p := range files {
		f, err := os.Open(p)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(h, "%s\x00", filepath.Base(p))
		_, err = io.Copy(h, f)
		f.Close()
		if err != nil {
			return "", err
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// CacheDir is isobench's cache: $XDG_CACHE_HOME/isobench or
// ~/.cache/isobench. Without a home it is a per-user directory under the
// temp dir, which must belong to this user and be writable by no one else
// (another user could otherwise plant a kernel there).
func CacheDir() (string, error) {
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "isobench"), nil
	}
	dir := filepath.Join(os.TempDir(), fmt.Sprintf("isobench-cache-%d", os.Getuid()))
	if err := os.Mkdir(dir, 0o700); err != nil && !os.IsExist(err) {
		return "", fmt.Errorf("cache dir: %w", err)
	}
	if err := checkOwnDir(dir); err != nil {
		return "", fmt.Errorf("cache dir %s: %w (set XDG_CACHE_HOME to a directory of your own)", dir, err)
	}
	return dir, nil
}
