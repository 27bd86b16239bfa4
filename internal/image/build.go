package image

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/isobench/isobench/internal/procgroup"
)

// DefaultMirror is the Debian archive images are fetched from.
const DefaultMirror = "http://deb.debian.org/debian"

// BuildOptions tune one build.
type BuildOptions struct {
	Mirror string
	// Progress gets every line the builder prints, as it prints it.
	Progress func(line string)
	// Rebuild builds even when the image is cached.
	Rebuild bool
}

// Placeholders every image holds, so that a sandbox can run on the image
// read-only: the agent is bind-mounted over AgentPath, the scratch volume
// over ScratchDir.
const (
	AgentPath  = "/isobench"
	ScratchDir = "/scratch"
)

// Build returns the image of r, building it unless it is cached. The build
// runs debootstrap in a private mount namespace, so that nothing it mounts
// (proc, sys in the new root) outlives it, even when it is killed; a build
// that fails leaves nothing in the cache.
func (c Cache) Build(ctx context.Context, r Recipe, opts BuildOptions) (Image, error) {
	if err := r.Validate(); err != nil {
		return Image{}, err
	}
	unlock, err := c.lock()
	if err != nil {
		return Image{}, err
	}
	defer unlock()
	final := filepath.Join(c.Dir, r.Name())
	if !opts.Rebuild {
		if img, err := c.read(final); err == nil {
			return img, nil
		}
	}
	if os.Geteuid() != 0 {
		return Image{}, errors.New("image build: debootstrap needs root (run as root, or sudo isobench image build)")
	}
	deboot, err := exec.LookPath("debootstrap")
	if err != nil {
		return Image{}, fmt.Errorf("image build: debootstrap not found (apt-get install debootstrap): %w", err)
	}
	mirror := opts.Mirror
	if mirror == "" {
		mirror = DefaultMirror
	}
	tmp, err := os.MkdirTemp(c.Dir, buildPrefix+r.Name()+"-")
	if err != nil {
		return Image{}, fmt.Errorf("image build: %w", err)
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		os.RemoveAll(tmp)
		return Image{}, fmt.Errorf("image build: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			os.RemoveAll(tmp)
		}
	}()
	rootfs := filepath.Join(tmp, "rootfs")
	args := []string{"--variant=" + r.Variant, "--components=main"}
	if len(r.Packages) > 0 {
		args = append(args, "--include="+strings.Join(r.Packages, ","))
	}
	args = append(args, r.Release, rootfs, mirror)
	err = runLogged(ctx, filepath.Join(tmp, "build.log"), opts.Progress, deboot, args...)
	// A package's maintainer script may have started a daemon in the new
	// root (in a session of its own): nothing may run from the image.
	killRootedIn(rootfs)
	if err != nil {
		return Image{}, fmt.Errorf("image build %s: debootstrap %s: %w", r.Name(), r.Release, err)
	}
	if err := finishRootfs(rootfs); err != nil {
		return Image{}, fmt.Errorf("image build %s: %w", r.Name(), err)
	}
	img := Image{Format: metaVersion, Recipe: r, Digest: r.Digest(), Built: time.Now().UTC(), Mirror: mirror,
		Builder: "debootstrap " + toolVersion(ctx, "dpkg-query", "-W", "-f=${Version}", "debootstrap")}
	if img.Packages, err = installedVersions(rootfs, r.Packages); err != nil {
		return Image{}, fmt.Errorf("image build %s: %w", r.Name(), err)
	}
	if img.SizeBytes, _, err = diskUsage(rootfs); err != nil {
		return Image{}, fmt.Errorf("image build %s: size: %w", r.Name(), err)
	}
	b, _ := json.MarshalIndent(img, "", "  ")
	if err := os.WriteFile(filepath.Join(tmp, metaFile), b, 0o644); err != nil {
		return Image{}, fmt.Errorf("image build: %w", err)
	}
	if _, err := os.Stat(final); err == nil {
		gone, err := removeUnused(final)
		if err != nil {
			return Image{}, err
		}
		if !gone {
			return Image{}, fmt.Errorf("image build: %s is in use by a running isobench; rebuild it when that run ends", r.Name())
		}
	}
	if err := os.Rename(tmp, final); err != nil {
		return Image{}, fmt.Errorf("image build: %w", err)
	}
	ok = true
	img.Dir, img.LastUsed = final, img.Built
	return img, nil
}

// finishRootfs drops what only the build needed and adds the placeholders.
func finishRootfs(rootfs string) error {
	for _, glob := range []string{"var/cache/apt/archives/*.deb", "var/cache/apt/*.bin", "var/lib/apt/lists/*_*", "var/log/*.log"} {
		matches, _ := filepath.Glob(filepath.Join(rootfs, glob))
		for _, m := range matches {
			if err := os.RemoveAll(m); err != nil {
				return err
			}
		}
	}
	// MariaDB's initial database is the template the oltp workload
	// copies: readable by root without CAP_DAC_OVERRIDE, which
	// containers drop.
	if err := chmodTree(filepath.Join(rootfs, "var/lib/mysql")); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(rootfs, ScratchDir), 0o755); err != nil {
		return err
	}
	// An empty file for the agent's bind mount, which needs a target.
	return os.WriteFile(filepath.Join(rootfs, AgentPath), nil, 0o755)
}

// installedVersions reads the image's dpkg database (var/lib/dpkg/status)
// itself: the host need not have dpkg.
func installedVersions(rootfs string, pkgs []string) (map[string]string, error) {
	b, err := os.ReadFile(filepath.Join(rootfs, "var/lib/dpkg/status"))
	if err != nil {
		return nil, fmt.Errorf("the image's dpkg status: %w", err)
	}
	installed := map[string]string{}
	for para := range strings.SplitSeq(string(b), "\n\n") {
		var name, version, status string
		for line := range strings.SplitSeq(para, "\n") {
			k, v, ok := strings.Cut(line, ": ")
			if !ok {
				continue
			}
			switch k {
			case "Package":
				name = v
			case "Version":
				version = v
			case "Status":
				status = v
			}
		}
		if name != "" && strings.HasSuffix(status, " installed") {
			installed[name] = version
		}
	}
	v := map[string]string{}
	for _, p := range pkgs {
		if installed[p] == "" {
			return nil, fmt.Errorf("package %s is not installed in the image", p)
		}
		v[p] = installed[p]
	}
	return v, nil
}

func toolVersion(ctx context.Context, name string, args ...string) string {
	out, err := exec.CommandContext(ctx, name, args...).Output()
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(out))
}

// runLogged runs a command in its own process group and mount namespace,
// writing its output to logPath and passing each line to progress. On
// failure the error ends with the output's last lines.
func runLogged(ctx context.Context, logPath string, progress func(string), name string, args ...string) error {
	logf, err := os.Create(logPath)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive", "LC_ALL=C")
	cmd.SysProcAttr = &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS}
	// A daemon that inherited the output pipe must not hold the build up.
	cmd.WaitDelay = 10 * time.Second
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	var tail tailLines
	scanned := make(chan struct{})
	go func() {
		defer close(scanned)
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(logf, line)
			tail.add(line)
			if progress != nil {
				progress(line)
			}
		}
		_, _ = io.Copy(io.Discard, pr)
	}()
	err = procgroup.Run(ctx, cmd)
	pw.Close()
	<-scanned
	if err != nil {
		return fmt.Errorf("%w; last output:\n%s", err, tail.String())
	}
	return nil
}

type tailLines struct{ lines []string }

func (t *tailLines) add(s string) {
	t.lines = append(t.lines, s)
	if len(t.lines) > 20 {
		t.lines = t.lines[1:]
	}
}

func (t *tailLines) String() string {
	var b bytes.Buffer
	for _, l := range t.lines {
		b.WriteString("  " + l + "\n")
	}
	return b.String()
}

// chmodTree makes a tree readable (and its directories searchable) by
// everyone; a missing tree is fine.
func chmodTree(dir string) error {
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type()&fs.ModeSymlink != 0 {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		mode := info.Mode().Perm() | 0o444
		if d.IsDir() {
			mode |= 0o111
		}
		return os.Chmod(path, mode)
	})
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

// killRootedIn kills every process whose root directory is dir or below it
// (chrooted into the image being built).
func killRootedIn(dir string) {
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		root, err := os.Readlink(filepath.Join("/proc", e.Name(), "root"))
		if err == nil && (root == dir || strings.HasPrefix(root, dir+"/")) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}
