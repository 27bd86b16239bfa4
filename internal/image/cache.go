package image

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Image is one built, cached image.
type Image struct {
	Format  int       `json:"format"`
	Recipe  Recipe    `json:"recipe"`
	Digest  string    `json:"digest"`
	Built   time.Time `json:"built"`
	Mirror  string    `json:"mirror"`
	Builder string    `json:"builder"` // debootstrap's version
	// SizeBytes is the root filesystem's disk usage.
	SizeBytes int64 `json:"size_bytes"`
	// Packages are the installed versions of the recipe's packages.
	Packages map[string]string `json:"packages"`

	// Dir is the cache entry (not stored: it moves with the cache).
	Dir string `json:"-"`
	// LastUsed is when a run last used the image.
	LastUsed time.Time `json:"-"`
	// Broken says why the entry cannot be read (prune removes it).
	Broken string `json:"-"`
}

// metaVersion is image.json's format.
const metaVersion = 1

// Rootfs is the image's root filesystem directory ("" for no image).
func (i Image) Rootfs() string {
	if i.Dir == "" {
		return ""
	}
	return filepath.Join(i.Dir, "rootfs")
}

// Label is a short human name: preset@digest.
func (i Image) Label() string {
	if len(i.Digest) < 12 {
		return filepath.Base(i.Dir)
	}
	return i.Recipe.Preset + "@" + i.Digest[:12]
}

// Cache is a directory of images, one sub-directory per recipe digest.
// Building and pruning hold its lock; reading needs none, because an entry
// appears complete or not at all (built aside, then renamed).
type Cache struct {
	Dir string
}

const (
	metaFile    = "image.json"
	usedFile    = "last-used"
	lockFile    = ".lock"
	inUseFile   = "in-use"
	buildPrefix = ".build-"
)

// lock takes the cache's exclusive lock; the returned func releases it.
func (c Cache) lock() (func(), error) {
	if err := os.MkdirAll(c.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("image cache %s: %w", c.Dir, err)
	}
	f, err := os.OpenFile(filepath.Join(c.Dir, lockFile), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("image cache: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("image cache: lock: %w", err)
	}
	return func() { f.Close() }, nil
}

// Lookup returns the cached image of r, if it is built.
func (c Cache) Lookup(r Recipe) (Image, bool, error) {
	img, err := c.read(filepath.Join(c.Dir, r.Name()))
	if errors.Is(err, fs.ErrNotExist) {
		return Image{}, false, nil
	}
	if err != nil {
		return Image{}, false, err
	}
	return img, true, nil
}

func (c Cache) read(dir string) (Image, error) {
	b, err := os.ReadFile(filepath.Join(dir, metaFile))
	if err != nil {
		return Image{}, fmt.Errorf("image %s: %w", dir, err)
	}
	var img Image
	if err := json.Unmarshal(b, &img); err != nil {
		return Image{}, fmt.Errorf("image %s: %s: %w", dir, metaFile, err)
	}
	if img.Format != metaVersion {
		return Image{}, fmt.Errorf("image %s: format %d, this isobench reads %d (rebuild it: isobench image prune --all && isobench image build)", dir, img.Format, metaVersion)
	}
	img.Dir = dir
	img.LastUsed = img.Built
	if st, err := os.Stat(filepath.Join(dir, usedFile)); err == nil {
		img.LastUsed = st.ModTime()
	}
	return img, nil
}

// List returns the cached images, newest first.
func (c Cache) List() ([]Image, error) {
	entries, err := os.ReadDir(c.Dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("image cache: %w", err)
	}
	var out []Image
	for _, e := range entries {
		if !e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		img, err := c.read(filepath.Join(c.Dir, e.Name()))
		if err != nil {
			img = Image{Dir: filepath.Join(c.Dir, e.Name()), Broken: err.Error()}
		}
		out = append(out, img)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Built.After(out[j].Built) })
	return out, nil
}

// MarkUsed records that a run uses the image now (prune keeps recent ones).
func (c Cache) MarkUsed(img Image) {
	p := filepath.Join(img.Dir, usedFile)
	now := time.Now()
	if err := os.Chtimes(p, now, now); err != nil {
		_ = os.WriteFile(p, nil, 0o644)
	}
}

// Use marks the image in use until release is called: a run holds it
// for its whole length, so that prune and rebuild leave the image alone.
func (c Cache) Use(img Image) (release func(), err error) {
	f, err := os.OpenFile(filepath.Join(img.Dir, inUseFile), os.O_CREATE|os.O_RDONLY, 0o644)
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", img.Label(), err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_SH); err != nil {
		f.Close()
		return nil, fmt.Errorf("image %s: lock: %w", img.Label(), err)
	}
	c.MarkUsed(img)
	return func() { f.Close() }, nil
}

// removeUnused removes an image directory unless a run uses it; it
// reports whether it did.
func removeUnused(dir string) (bool, error) {
	f, err := os.OpenFile(filepath.Join(dir, inUseFile), os.O_CREATE|os.O_RDONLY, 0o644)
	if err == nil {
		defer f.Close()
		if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
			return false, nil // a running isobench uses it
		}
	}
	if err := os.RemoveAll(dir); err != nil {
		return false, fmt.Errorf("image cache: remove %s: %w", dir, err)
	}
	return true, nil
}

// PruneOptions choose what Prune removes.
type PruneOptions struct {
	All bool // every image
	// UnusedFor removes images no run used for this long (0: none by age).
	UnusedFor time.Duration
	// Keep are digests never removed unless All (the current presets').
	Keep map[string]bool
	// Stale removes images whose recipe no preset builds any more.
	Stale bool
}

// Prune removes images as opts say, and leftovers of interrupted builds;
// it returns what it removed, and what it kept because a run uses it.
func (c Cache) Prune(opts PruneOptions) (removed, inUse []Image, err error) {
	unlock, err := c.lock()
	if err != nil {
		return nil, nil, err
	}
	defer unlock()
	entries, err := os.ReadDir(c.Dir)
	if err != nil {
		return nil, nil, fmt.Errorf("image cache: %w", err)
	}
	for _, e := range entries {
		dir := filepath.Join(c.Dir, e.Name())
		if strings.HasPrefix(e.Name(), buildPrefix) {
			// A build that was killed: the lock says none runs now.
			if err := os.RemoveAll(dir); err != nil {
				return removed, inUse, fmt.Errorf("image cache: remove %s: %w", dir, err)
			}
			continue
		}
		if !e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		img, err := c.read(dir)
		drop := opts.All || err != nil // an unreadable entry is a broken one
		if err == nil && !opts.Keep[img.Digest] {
			if opts.UnusedFor > 0 && time.Since(img.LastUsed) > opts.UnusedFor {
				drop = true
			}
			if opts.Stale {
				drop = true
			}
		}
		if !drop {
			continue
		}
		if img.Dir == "" {
			img.Dir = dir
		}
		gone, err := removeUnused(dir)
		if err != nil {
			return removed, inUse, err
		}
		if gone {
			removed = append(removed, img)
		} else {
			inUse = append(inUse, img)
		}
	}
	return removed, inUse, nil
}

// diskUsage sums the blocks under dir (hard links once) and counts its
// entries.
func diskUsage(dir string) (total int64, entries int, err error) {
	seen := map[uint64]bool{}
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		entries++
		info, err := d.Info()
		if err != nil {
			return err
		}
		st, ok := info.Sys().(*syscall.Stat_t)
		if !ok {
			total += info.Size()
			return nil
		}
		if st.Nlink > 1 && !d.IsDir() {
			if seen[st.Ino] {
				return nil
			}
			seen[st.Ino] = true
		}
		// Blocks, or the apparent size where the host's file system
		// stores less (compression, deduplication): ext4 will not.
		total += max(st.Blocks*512, (info.Size()+4095)/4096*4096)
		return nil
	})
	return total, entries, err
}
