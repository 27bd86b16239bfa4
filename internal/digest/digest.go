// Package digest names file contents: cache keys and image tags derive
// from it, so that what was built from a file changes when the file does.
package digest

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
)

// File is the SHA-256 of a file's contents, in hex.
func File(path string) (string, error) {
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
