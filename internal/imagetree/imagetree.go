// Package imagetree reads a small directory tree (Env.Image: tools such as
// a static busybox) that backends add to their sandboxes' root filesystems,
// in a stable order, so every backend copies, archives or packs exactly the
// same files.
package imagetree

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// Entry is one directory, regular file or symbolic link of a tree.
type Entry struct {
	// Rel is the slash-separated path below the tree's root.
	Rel  string
	Mode fs.FileMode // type and permission bits
	Size int64       // regular files
	Link string      // symbolic links: the target, unchanged
	Path string      // the entry on the host
}

// Read lists the tree below dir in lexical order (parents before
// children). Device nodes, sockets and pipes are refused: a sandbox image
// has no business carrying them.
func Read(dir string) ([]Entry, error) {
	var out []Entry
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if path == dir {
			return nil
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		e := Entry{Rel: filepath.ToSlash(rel), Mode: info.Mode(), Path: path}
		switch {
		case info.Mode().IsDir():
		case info.Mode().IsRegular():
			e.Size = info.Size()
		case info.Mode()&fs.ModeSymlink != 0:
			if e.Link, err = os.Readlink(path); err != nil {
				return err
			}
		default:
			return fmt.Errorf("%s: %s is not a directory, regular file or symbolic link", dir, rel)
		}
		out = append(out, e)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("image tree: %w", err)
	}
	return out, nil
}

// Digest identifies a tree by its names, modes, link targets and file
// contents, for caches built from it.
func Digest(entries []Entry) (string, error) {
	h := sha256.New()
	for _, e := range entries {
		fmt.Fprintf(h, "%s\x00%o\x00%s\x00%d\x00", e.Rel, uint32(e.Mode), e.Link, e.Size)
		if e.Mode.IsRegular() {
			if err := hashFile(h, e.Path); err != nil {
				return "", fmt.Errorf("image tree: %w", err)
			}
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func hashFile(w io.Writer, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(w, f)
	return err
}

// CopyTo recreates the entries below dst (which exists), replacing files
// and links of the same names (a root filesystem prepared before).
func CopyTo(entries []Entry, dst string) error {
	for _, e := range entries {
		target := filepath.Join(dst, filepath.FromSlash(e.Rel))
		var err error
		switch {
		case e.Mode.IsDir():
			err = os.MkdirAll(target, e.Mode.Perm())
		case e.Mode&fs.ModeSymlink != 0:
			if err = removeFile(target); err == nil {
				err = os.Symlink(e.Link, target)
			}
		default:
			if err = removeFile(target); err == nil {
				err = copyFile(e.Path, target, e.Mode.Perm())
			}
		}
		if err != nil {
			return fmt.Errorf("image tree: %w", err)
		}
	}
	return nil
}

// removeFile removes a file or link; a directory in its place is an error.
func removeFile(path string) error {
	if fi, err := os.Lstat(path); err == nil && fi.IsDir() {
		return fmt.Errorf("%s: a directory is in the place of a file", path)
	}
	if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
		return err
	}
	return nil
}

func copyFile(src, dst string, perm fs.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
