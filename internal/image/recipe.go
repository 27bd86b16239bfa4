// Package image builds, caches and prunes isobench's guest images: a Debian
// root filesystem made from Debian packages with the standard benchmark
// tools, so that the same binaries run in every backend (as an OCI rootfs,
// an ext4 disk for VMs, and a Docker image imported from it).
package image

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
)

// builderVersion changes whenever Build's steps change what an image
// holds, so that images built by older steps are rebuilt.
const builderVersion = 2

// Recipe is what an image is made of. Its digest names the cached image:
// a changed recipe builds a new one.
type Recipe struct {
	Preset   string   `json:"preset"`
	Release  string   `json:"release"`
	Variant  string   `json:"variant"`
	Packages []string `json:"packages"`
}

// Preset names.
const (
	PresetStandard = "standard"
	PresetTools    = "tools"
)

// DefaultRelease is the Debian release images are made from.
const DefaultRelease = "bookworm"

// presets are the recipes `image build --preset` offers.
var presets = map[string][]string{
	// The reference evaluation's tools: CPU, file and network I/O, a
	// database, a web server and a load generator for it, and a C++ CI
	// job (compiler, coverage, valgrind, static analysis).
	PresetStandard: {"sysbench", "fio", "iperf3", "mariadb-server", "mariadb-client", "nginx-light", "apache2-utils",
		"g++", "make", "valgrind", "lcov", "cppcheck", "procps", "ca-certificates"},
	// The tools that need no server: small enough to build in a test.
	PresetTools: {"sysbench", "fio", "iperf3"},
}

// Presets lists the preset names.
func Presets() []string {
	names := make([]string, 0, len(presets))
	for n := range presets {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Preset returns the recipe of a preset.
func Preset(name string) (Recipe, error) {
	pkgs, ok := presets[name]
	if !ok {
		return Recipe{}, fmt.Errorf("preset: %q is not a preset (valid: %s)", name, strings.Join(Presets(), ", "))
	}
	return Recipe{Preset: name, Release: DefaultRelease, Variant: "minbase", Packages: slices.Clone(pkgs)}, nil
}

// Validate names the offending field.
func (r Recipe) Validate() error {
	if r.Preset == "" || strings.ContainsAny(r.Preset, "/ \t\n") {
		return fmt.Errorf("recipe preset: %q is not a name", r.Preset)
	}
	if r.Release == "" || strings.ContainsAny(r.Release, "/ \t\n") {
		return fmt.Errorf("recipe release: %q is not a Debian release name (e.g. %s)", r.Release, DefaultRelease)
	}
	for _, p := range r.Packages {
		if p == "" || strings.ContainsAny(p, ", \t\n") {
			return fmt.Errorf("recipe packages: %q is not a package name", p)
		}
	}
	return nil
}

// Digest identifies the image the recipe builds.
func (r Recipe) Digest() string {
	c := r
	c.Packages = slices.Clone(r.Packages)
	sort.Strings(c.Packages)
	b, _ := json.Marshal(struct {
		Builder int    `json:"builder"`
		Recipe  Recipe `json:"recipe"`
	}{builderVersion, c})
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// Name is the cache entry's directory name: preset and short digest.
func (r Recipe) Name() string { return r.Preset + "-" + r.Digest()[:12] }
