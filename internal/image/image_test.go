package image

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestRecipe(t *testing.T) {
	std, err := Preset(PresetStandard)
	if err != nil {
		t.Fatal(err)
	}
	reordered := std
	reordered.Packages = append([]string{std.Packages[len(std.Packages)-1]}, std.Packages[:len(std.Packages)-1]...)
	if std.Digest() != reordered.Digest() {
		t.Error("the order of packages changed the digest")
	}
	more := std
	more.Packages = append(append([]string{}, std.Packages...), "strace")
	if std.Digest() == more.Digest() {
		t.Error("another package kept the digest")
	}
	if !strings.HasPrefix(std.Name(), "standard-") || len(std.Name()) != len("standard-")+12 {
		t.Errorf("name %q", std.Name())
	}
	if _, err := Preset("huge"); err == nil || !strings.Contains(err.Error(), "valid: standard, tools") {
		t.Errorf("unknown preset: %v", err)
	}
	bad := []struct {
		r    Recipe
		want string
	}{
		{Recipe{Preset: "x", Release: "", Variant: "minbase"}, "recipe release"},
		{Recipe{Preset: "a/b", Release: "bookworm"}, "recipe preset"},
		{Recipe{Preset: "x", Release: "bookworm", Packages: []string{"a,b"}}, "recipe packages"},
	}
	for _, b := range bad {
		if err := b.r.Validate(); err == nil || !strings.Contains(err.Error(), b.want) {
			t.Errorf("%+v: %v, want %q", b.r, err, b.want)
		}
	}
}

// fakeImage writes a cache entry as Build leaves one, without building.
func fakeImage(t *testing.T, c Cache, r Recipe, built time.Time) Image {
	t.Helper()
	img := Image{Format: metaVersion, Recipe: r, Digest: r.Digest(), Built: built, SizeBytes: 1 << 20}
	dir := filepath.Join(c.Dir, r.Name())
	if err := os.MkdirAll(filepath.Join(dir, "rootfs"), 0o755); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(img)
	if err := os.WriteFile(filepath.Join(dir, metaFile), b, 0o644); err != nil {
		t.Fatal(err)
	}
	img.Dir = dir
	return img
}

func TestCacheListAndPrune(t *testing.T) {
	c := Cache{Dir: t.TempDir()}
	tools, _ := Preset(PresetTools)
	old := tools
	old.Packages = []string{"sysbench"}
	cur := fakeImage(t, c, tools, time.Now().Add(-time.Hour))
	fakeImage(t, c, old, time.Now().Add(-48*time.Hour))
	if err := os.MkdirAll(filepath.Join(c.Dir, buildPrefix+"tools-x-123", "rootfs"), 0o755); err != nil {
		t.Fatal(err)
	}
	imgs, err := c.List()
	if err != nil || len(imgs) != 2 || imgs[0].Digest != tools.Digest() {
		t.Fatalf("list: %v %+v", err, imgs)
	}
	if got, ok, err := c.Lookup(tools); err != nil || !ok || got.Dir != cur.Dir {
		t.Fatalf("lookup: %+v %v %v", got, ok, err)
	}
	// The default prune: recipes no preset builds, and interrupted builds.
	removed, _, err := c.Prune(PruneOptions{Keep: map[string]bool{tools.Digest(): true}, Stale: true})
	if err != nil || len(removed) != 1 || removed[0].Digest != old.Digest() {
		t.Fatalf("prune stale: %v %+v", err, removed)
	}
	if _, err := os.Stat(filepath.Join(c.Dir, buildPrefix+"tools-x-123")); !os.IsNotExist(err) {
		t.Errorf("an interrupted build survived prune: %v", err)
	}
	// A current image goes only when unused for long enough.
	if removed, _, _ := c.Prune(PruneOptions{Keep: map[string]bool{tools.Digest(): true}, UnusedFor: 30 * time.Minute}); len(removed) != 0 {
		t.Errorf("a kept image was pruned by age: %+v", removed)
	}
	c.MarkUsed(cur)
	if imgs, _ := c.List(); len(imgs) != 1 || time.Since(imgs[0].LastUsed) > time.Minute {
		t.Errorf("last use not recorded: %+v", imgs)
	}
	// An image a run uses survives even --all.
	release, err := c.Use(cur)
	if err != nil {
		t.Fatal(err)
	}
	if removed, inUse, err := c.Prune(PruneOptions{All: true}); err != nil || len(removed) != 0 || len(inUse) != 1 {
		t.Errorf("prune --all of an image in use: %v removed %+v in use %+v", err, removed, inUse)
	}
	release()
	if removed, _, err := c.Prune(PruneOptions{All: true}); err != nil || len(removed) != 1 {
		t.Errorf("prune --all: %v %+v", err, removed)
	}
	if imgs, _ := c.List(); len(imgs) != 0 {
		t.Errorf("left after prune --all: %+v", imgs)
	}
}

func TestBuildRefusesBadRecipe(t *testing.T) {
	c := Cache{Dir: t.TempDir()}
	_, err := c.Build(t.Context(), Recipe{Preset: "x"}, BuildOptions{})
	if err == nil || !strings.Contains(err.Error(), "recipe release") {
		t.Fatalf("build of a bad recipe: %v", err)
	}
}

func TestInstalledVersions(t *testing.T) {
	root := t.TempDir()
	status := `Package: sysbench
Status: install ok installed
Version: 1.0.20+ds-5

Package: fio
Status: deinstall ok config-files
Version: 3.33-3

Package: g++
Status: install ok installed
Architecture: amd64
Version: 4:12.2.0-3
`
	if err := os.MkdirAll(filepath.Join(root, "var/lib/dpkg"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "var/lib/dpkg/status"), []byte(status), 0o644); err != nil {
		t.Fatal(err)
	}
	v, err := installedVersions(root, []string{"sysbench", "g++"})
	if err != nil || v["sysbench"] != "1.0.20+ds-5" || v["g++"] != "4:12.2.0-3" {
		t.Errorf("versions %v, %v", v, err)
	}
	if _, err := installedVersions(root, []string{"fio"}); err == nil || !strings.Contains(err.Error(), "fio is not installed") {
		t.Errorf("a removed package: %v", err)
	}
}

func TestListShowsBrokenEntry(t *testing.T) {
	c := Cache{Dir: t.TempDir()}
	if err := os.MkdirAll(filepath.Join(c.Dir, "tools-000000000000"), 0o755); err != nil {
		t.Fatal(err)
	}
	imgs, err := c.List()
	if err != nil || len(imgs) != 1 || imgs[0].Broken == "" || imgs[0].Label() != "tools-000000000000" {
		t.Fatalf("list: %v %+v", err, imgs)
	}
	if removed, _, err := c.Prune(PruneOptions{}); err != nil || len(removed) != 1 {
		t.Errorf("prune of a broken entry: %v %+v", err, removed)
	}
}
