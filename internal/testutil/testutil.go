// Package testutil builds the real isobench binary for integration tests:
// sandboxes need the static agent, and a test binary is not one.
package testutil

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// BuildIsobench compiles cmd/isobench with CGO_ENABLED=0 into dir.
func BuildIsobench(dir string) (string, error) {
	gomod, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	root := filepath.Dir(strings.TrimSpace(string(gomod)))
	out := filepath.Join(dir, "isobench")
	cmd := exec.Command("go", "build", "-o", out, "./cmd/isobench")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build isobench: %v\n%s", err, b)
	}
	return out, nil
}

// RequireRoot skips tests that create cgroups and containers.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates cgroups, namespaces and containers")
	}
}
