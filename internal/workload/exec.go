package workload

import (
	"archive/tar"
	"bytes"
	"cmp"
	"compress/gzip"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/isobench/isobench/internal/metric"
)

// Job archive bounds, checked by the grader before a job is queued and
// again by the agent while unpacking.
const (
	MaxJobFiles        = 1000
	MaxJobEntries      = 4 * MaxJobFiles // files and directories
	MaxJobUnpacked     = 64 << 20
	MaxJobOutputLimit  = 1 << 20
	DefaultOutputLimit = 64 << 10
)

// imageEnv mirrors backend.ImageEnv (the agent does not import backends):
// where the native process finds the sandbox image's tools.
const imageEnv = "ISOBENCH_IMAGE"

func execSpec() Spec {
	return Spec{
		ID:          Exec,
		Description: "an autograder job: unpack files, run a shell command on them under a time limit, capture its output",
		Params: []Param{
			{Name: "command", Default: "true", Help: "shell command line, run by the sandbox image's /bin/sh in the job's directory"},
			{Name: "archive", Help: "the job's files: a gzip-compressed tar, base64-encoded (regular files and directories only)"},
			{Name: "timeout", Default: "60s", Help: "time limit; the command's process group is killed when it passes"},
			{Name: "output_limit", Default: strconv.Itoa(DefaultOutputLimit), Help: "bytes of stdout+stderr kept; the rest is counted and dropped"},
			{Name: "pids", Default: "0", Help: "task limit inside a VM guest (the host's cgroup limits containers); 0: none"},
		},
		Metrics: []metric.Name{metric.ExecWall, metric.ExecUnpack, metric.ExecUserCPU, metric.ExecSysCPU, metric.ExecMaxRSS,
			metric.ExecExitCode, metric.ExecSignal, metric.ExecTimedOut, metric.ExecOutputBytes, metric.ExecOOMKills, metric.ExecForksRefused},
		Parse: parseExec,
	}
}

// ExecJob is one job: its files, command and limits.
type ExecJob struct {
	Command     string
	Archive     []byte // gzip'd tar
	Timeout     time.Duration
	OutputLimit int64
	Pids        int64
}

func parseExec(p Params) (Runner, error) {
	j := ExecJob{Command: p.String("command"), Timeout: p.Duration("timeout", time.Millisecond), OutputLimit: p.Int("output_limit", 0), Pids: p.Int("pids", 0)}
	if err := p.Err(); err != nil {
		return nil, err
	}
	if strings.TrimSpace(j.Command) == "" {
		return nil, errors.New("exec: parameter command is empty")
	}
	if j.OutputLimit > MaxJobOutputLimit {
		return nil, fmt.Errorf("exec: parameter output_limit %d is above %d", j.OutputLimit, MaxJobOutputLimit)
	}
	if a := p.String("archive"); a != "" {
		b, err := base64.StdEncoding.DecodeString(a)
		if err != nil {
			return nil, fmt.Errorf("exec: parameter archive is not base64: %w", err)
		}
		j.Archive = b
	}
	return j, nil
}

// Shell is the shell that runs jobs: the image's, which for the native
// process lies below ImageEnv, or the sandbox's /bin/sh.
func Shell() string {
	if dir := os.Getenv(imageEnv); dir != "" {
		return filepath.Join(dir, "bin", "sh")
	}
	return "/bin/sh"
}

func (j ExecJob) Run(ctx context.Context) (Output, error) {
	var out Output
	sh := Shell()
	if _, err := os.Stat(sh); err != nil {
		return out, fmt.Errorf("exec: no shell in this sandbox (%w): the sandbox image needs one (isobench adds busybox-static's when installed: apt-get install busybox-static)", err)
	}
	base := cmp.Or(os.Getenv(ScratchEnv), os.TempDir())
	dir, err := os.MkdirTemp(base, "job-")
	if err != nil {
		return out, fmt.Errorf("exec: job directory: %w", err)
	}
	// A fresh sandbox disappears with the job; a reused one (the native
	// process keeps the host's disk) must not keep its files.
	defer os.RemoveAll(dir)
	start := time.Now()
	if len(j.Archive) > 0 {
		if _, err := UnpackJobArchive(bytes.NewReader(j.Archive), dir); err != nil {
			return out, fmt.Errorf("exec: %w", err)
		}
	}
	out.add(metric.ExecUnpack, metric.Seconds, time.Since(start).Seconds())

	log := &cappedBuffer{max: j.OutputLimit}
	cmd := exec.Command(sh, "-c", j.Command)
	cmd.Dir = dir
	path := "/usr/local/bin:/usr/bin:/bin"
	if img := os.Getenv(imageEnv); img != "" {
		path = filepath.Join(img, "bin") + ":" + path
	}
	cmd.Env = []string{"PATH=" + path, "HOME=" + dir, "TMPDIR=" + dir, "LC_ALL=C"}
	cmd.Stdin = nil
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var cg *jobCgroup
	if inVMGuest() {
		// The agent and kernel keep 24 MiB: enough to report the job's end.
		c, err := newJobCgroup(filepath.Base(dir), j.Pids, 24<<20)
		if err != nil {
			return out, fmt.Errorf("exec: job cgroup in the guest: %w", err)
		}
		defer c.remove()
		cg = c
		cmd.SysProcAttr.UseCgroupFD, cmd.SysProcAttr.CgroupFD = true, c.fd
	}
	// One pipe for stdout and stderr, read here: Wait then returns when
	// the shell exits (the wall time), not when the last background child
	// closes the pipe.
	pr, pw, err := os.Pipe()
	if err != nil {
		return out, fmt.Errorf("exec: output pipe: %w", err)
	}
	defer pr.Close()
	cmd.Stdout, cmd.Stderr = pw, pw
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		_, _ = io.Copy(log, pr)
	}()
	runStart := time.Now()
	err = cmd.Start()
	pw.Close() // the children hold their copies
	if err != nil {
		return out, fmt.Errorf("exec: start %s: %w", sh, err)
	}
	pgid := cmd.Process.Pid
	// The job, not the agent, is the one the OOM killer should pick.
	_ = os.WriteFile(fmt.Sprintf("/proc/%d/oom_score_adj", pgid), []byte("1000"), 0)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	timer := time.NewTimer(j.Timeout)
	defer timer.Stop()
	timedOut := false
	var waitErr error
	select {
	case waitErr = <-done:
	case <-timer.C:
		timedOut = true
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		waitErr = <-done
	case <-ctx.Done():
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-done
		return out, ctx.Err()
	}
	wall := time.Since(runStart)
	// Whatever the job left running in the background goes with it; a
	// child that left the group and holds the pipe is not waited for long.
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	select {
	case <-copied:
	case <-time.After(time.Second):
		pr.Close()
		<-copied
	}

	st := cmd.ProcessState
	if st == nil {
		return out, fmt.Errorf("exec: wait: %w", waitErr)
	}
	code, sig := st.ExitCode(), 0
	if ws, ok := st.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		sig = int(ws.Signal())
	}
	out.add(metric.ExecWall, metric.Seconds, wall.Seconds())
	out.add(metric.ExecUserCPU, metric.Seconds, st.UserTime().Seconds())
	out.add(metric.ExecSysCPU, metric.Seconds, st.SystemTime().Seconds())
	if ru, ok := st.SysUsage().(*syscall.Rusage); ok {
		out.add(metric.ExecMaxRSS, metric.Bytes, float64(ru.Maxrss)*1024)
	}
	out.add(metric.ExecExitCode, metric.Count, float64(code))
	out.add(metric.ExecSignal, metric.Count, float64(sig))
	out.add(metric.ExecTimedOut, metric.Count, b2f(timedOut))
	out.add(metric.ExecOutputBytes, metric.Bytes, float64(log.total))
	if cg != nil {
		oom, refused := cg.events()
		out.add(metric.ExecOOMKills, metric.Count, float64(oom))
		out.add(metric.ExecForksRefused, metric.Count, float64(refused))
	} else {
		// A container's kernel counters are the host's, shared with every
		// other sandbox: the host reads the sandbox's own cgroup instead.
		out.skip(metric.ExecOOMKills, "counted by the host in the sandbox's cgroup (the kernel's counters here are host-wide)")
		out.skip(metric.ExecForksRefused, "counted by the host in the sandbox's cgroup (pids.events)")
	}
	out.Log = log.String()
	return out, nil
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// cappedBuffer keeps the first max bytes written and counts the rest.
type cappedBuffer struct {
	max   int64
	total int64
	buf   bytes.Buffer
}

func (c *cappedBuffer) Write(p []byte) (int, error) {
	c.total += int64(len(p))
	if room := c.max - int64(c.buf.Len()); room > 0 {
		c.buf.Write(p[:min(int64(len(p)), room)])
	}
	return len(p), nil
}

func (c *cappedBuffer) String() string {
	s := strings.ToValidUTF8(c.buf.String(), "\uFFFD")
	if c.total > int64(c.buf.Len()) {
		s += fmt.Sprintf("\n[isobench: output truncated: %d of %d bytes kept]\n", c.buf.Len(), c.total)
	}
	return s
}

// JobArchiveInfo summarises a checked archive.
type JobArchiveInfo struct {
	Files int
	Bytes int64
}

// CheckJobArchive validates a job archive without writing anything: gzip'd
// tar, only regular files and directories, relative paths that stay inside
// the job directory, at most MaxJobFiles files and MaxJobUnpacked bytes.
func CheckJobArchive(r io.Reader) (JobArchiveInfo, error) {
	return walkJobArchive(r, func(string, *tar.Header, io.Reader) error { return nil })
}

// UnpackJobArchive checks and unpacks a job archive into dir.
func UnpackJobArchive(r io.Reader, dir string) (JobArchiveInfo, error) {
	return walkJobArchive(r, func(name string, h *tar.Header, body io.Reader) error {
		target := filepath.Join(dir, filepath.FromSlash(name))
		if h.Typeflag == tar.TypeDir {
			return os.MkdirAll(target, 0o755)
		}
		if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
			return err
		}
		mode := os.FileMode(0o644)
		if h.Mode&0o111 != 0 {
			mode = 0o755
		}
		f, err := os.OpenFile(target, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
		if err != nil {
			return err
		}
		if _, err := io.Copy(f, body); err != nil {
			f.Close()
			return err
		}
		return f.Close()
	})
}

func walkJobArchive(r io.Reader, visit func(name string, h *tar.Header, body io.Reader) error) (JobArchiveInfo, error) {
	var info JobArchiveInfo
	entries := 0
	kinds := map[string]byte{} // path → tar type, directories implied by files included
	zr, err := gzip.NewReader(r)
	if err != nil {
		return info, fmt.Errorf("archive: not gzip-compressed: %w", err)
	}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return info, fmt.Errorf("archive: not a valid tar: %w", err)
		}
		entries++
		if entries > MaxJobEntries {
			return info, fmt.Errorf("archive: more than %d entries", MaxJobEntries)
		}
		name, err := jobPath(h.Name)
		if err != nil {
			return info, err
		}
		if name == "" && h.Typeflag != tar.TypeDir {
			return info, fmt.Errorf("archive: member %q is not a file name", h.Name)
		}
		if err := claimPath(kinds, name, h.Typeflag); err != nil {
			return info, err
		}
		switch h.Typeflag {
		case tar.TypeDir:
		case tar.TypeReg:
			info.Files++
			if info.Files > MaxJobFiles {
				return info, fmt.Errorf("archive: more than %d files", MaxJobFiles)
			}
			if h.Size < 0 || info.Bytes+h.Size > MaxJobUnpacked {
				return info, fmt.Errorf("archive: more than %d bytes unpacked", MaxJobUnpacked)
			}
			info.Bytes += h.Size
		default:
			return info, fmt.Errorf("archive: %s: only regular files and directories are allowed (type %q)", h.Name, h.Typeflag)
		}
		if name == "" {
			continue // "./"
		}
		if err := visit(name, h, io.LimitReader(tr, h.Size)); err != nil {
			return info, fmt.Errorf("archive: %s: %w", name, err)
		}
	}
	return info, nil
}

// claimPath records name as a file or directory, refusing a name that is
// both (a file "a" and a file "a/b"), which could not be unpacked.
func claimPath(kinds map[string]byte, name string, typ byte) error {
	if name == "" {
		return nil
	}
	for dir := path.Dir(name); dir != "."; dir = path.Dir(dir) {
		if kinds[dir] == tar.TypeReg {
			return fmt.Errorf("archive: %s is a file and also the directory of %s", dir, name)
		}
		kinds[dir] = tar.TypeDir
	}
	if k, ok := kinds[name]; ok && k != typ {
		return fmt.Errorf("archive: %s is both a file and a directory", name)
	}
	kinds[name] = typ
	return nil
}

// jobPath cleans an archive member's name, refusing any that would land
// outside the job directory.
func jobPath(name string) (string, error) {
	if name == "" || strings.HasPrefix(name, "/") || strings.ContainsRune(name, 0) || strings.Contains(name, `\`) {
		return "", fmt.Errorf("archive: member name %q must be a relative path", name)
	}
	clean := path.Clean(name)
	if clean == "." {
		return "", nil
	}
	if clean == ".." || strings.HasPrefix(clean, "../") {
		return "", fmt.Errorf("archive: member name %q leaves the job directory", name)
	}
	return clean, nil
}

// MakeJobArchive packs files (name → content; names ending in ".sh" are
// made executable) into a job archive.
func MakeJobArchive(files map[string]string) ([]byte, error) {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		if _, err := jobPath(n); err != nil {
			return nil, err
		}
		mode := int64(0o644)
		if strings.HasSuffix(n, ".sh") {
			mode = 0o755
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: n, Mode: mode, Size: int64(len(files[n])), ModTime: time.Unix(0, 0)}); err != nil {
			return nil, err
		}
		if _, err := io.WriteString(tw, files[n]); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
