// Package guest makes what a VM boots: a kernel (the user's, or Debian's
// cloud kernel fetched with apt-get download and cached) and an initramfs,
// built in Go, whose /init is the isobench agent itself.
package guest

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/cavaliergopher/cpio"
)

// BuildInitramfs writes a newc cpio archive holding the agent as /init and
// the empty directories it mounts at boot. It holds no device nodes: the
// agent mounts devtmpfs and opens the console itself.
func BuildInitramfs(w io.Writer, agentPath string) error {
	agent, err := os.Open(agentPath)
	if err != nil {
		return fmt.Errorf("initramfs: %w", err)
	}
	defer agent.Close()
	st, err := agent.Stat()
	if err != nil {
		return fmt.Errorf("initramfs: %w", err)
	}
	cw := cpio.NewWriter(w)
	mtime := time.Unix(0, 0) // reproducible: the same agent gives the same archive
	for _, d := range []struct {
		name string
		mode cpio.FileMode
	}{{"dev", 0o755}, {"proc", 0o555}, {"sys", 0o555}, {"tmp", 0o1777}, {"var", 0o755}, {"var/tmp", 0o1777}} {
		if err := cw.WriteHeader(&cpio.Header{Name: d.name, Mode: cpio.TypeDir | d.mode, Links: 2, ModTime: mtime}); err != nil {
			return fmt.Errorf("initramfs: %w", err)
		}
	}
	if err := cw.WriteHeader(&cpio.Header{Name: "init", Mode: cpio.TypeReg | 0o755, Size: st.Size(), Links: 1, ModTime: mtime}); err != nil {
		return fmt.Errorf("initramfs: %w", err)
	}
	if _, err := io.Copy(cw, agent); err != nil {
		return fmt.Errorf("initramfs: copy agent: %w", err)
	}
	if err := cw.Close(); err != nil {
		return fmt.Errorf("initramfs: %w", err)
	}
	return nil
}

// Initramfs returns the path of the initramfs for agentPath, building it
// into dir (a cache) unless a file for the same agent bytes exists.
func Initramfs(dir, agentPath string) (string, error) {
	sum, err := fileHash(agentPath)
	if err != nil {
		return "", fmt.Errorf("initramfs: %w", err)
	}
	path := filepath.Join(dir, "initramfs-"+sum[:16]+".cpio")
	if _, err := os.Stat(path); err == nil {
		return path, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("initramfs: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".initramfs-*")
	if err != nil {
		return "", fmt.Errorf("initramfs: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := BuildInitramfs(tmp, agentPath); err != nil {
		tmp.Close()
		return "", err
	}
	if err := tmp.Close(); err != nil {
		return "", fmt.Errorf("initramfs: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return "", fmt.Errorf("initramfs: %w", err)
	}
	return path, nil
}

func fileHash(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// CacheDir is isobench's cache: $XDG_CACHE_HOME/isobench or ~/.cache/isobench.
func CacheDir() string {
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "isobench")
	}
	return filepath.Join(os.TempDir(), "isobench-cache")
}
