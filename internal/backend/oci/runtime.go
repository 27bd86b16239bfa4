// Package oci runs the agent under any runtime with runc's command line:
// runc, crun and gVisor's runsc. One implementation; each runtime is a
// registration with its own binary and global flags.
package oci

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/isobench/isobench/internal/reaper"
)

// Runtime is a client for one runc-compatible CLI.
type Runtime struct {
	// Binary is the runtime executable's path.
	Binary string
	// Root is the state directory (--root), private to one isobench run so
	// that leftovers are easy to find and other users' containers are never
	// touched.
	Root string
	// Global flags placed before every subcommand (e.g. --platform=ptrace).
	Global []string
	// Wrapper, when set, runs Binary through another program (argv prefix).
	Wrapper []string
	// UnshareMounts starts every command in a new, private mount namespace.
	UnshareMounts bool
	// Log receives every command with its duration at debug level.
	Log *slog.Logger
}

// killGrace is how long a cancelled runtime command gets after SIGTERM.
const killGrace = 2 * time.Second

// command builds every exec.Cmd of this client: context first, then global
// flags, a filtered environment, and a new process group with a parent-death
// signal, so that no runtime process outlives isobench or sees the terminal's
// Ctrl-C before isobench decides how to clean up.
func (r *Runtime) command(ctx context.Context, args ...string) *exec.Cmd {
	argv := append(append(append([]string{}, r.Wrapper...), r.Binary, "--root", r.Root), r.Global...)
	argv = append(argv, args...)
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = filteredEnv()
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if r.UnshareMounts {
		cmd.SysProcAttr.Unshareflags = syscall.CLONE_NEWNS
	}
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = killGrace
	return cmd
}

func filteredEnv() []string {
	env := []string{"PATH=" + envOr("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")}
	if v := os.Getenv("TMPDIR"); v != "" {
		env = append(env, "TMPDIR="+v)
	}
	return env
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// CommandError is a runtime command that failed.
type CommandError struct {
	Args   []string // the full command line, for debugging
	Name   string   // e.g. "runc create"
	Status string
	Stderr string
}

func (e *CommandError) Error() string {
	msg := fmt.Sprintf("%s: %s", e.Name, e.Status)
	if e.Stderr != "" {
		msg += ": " + e.Stderr
	}
	return msg
}

// run executes cmd, capturing output; a failure names the command, its exit
// status and its trimmed stderr.
func run(cmd *exec.Cmd) ([]byte, error) {
	var stdout, stderr bytes.Buffer
	if cmd.Stdout == nil {
		cmd.Stdout = &stdout
	}
	if cmd.Stderr == nil {
		cmd.Stderr = &stderr
	}
	err := reaper.Run(cmd)
	if err != nil {
		return stdout.Bytes(), commandError(cmd, err, stderr.String())
	}
	return stdout.Bytes(), nil
}

// run executes one command of this runtime and logs how long it took.
func (r *Runtime) run(cmd *exec.Cmd) ([]byte, error) {
	start := time.Now()
	out, err := run(cmd)
	r.logged(cmd, start, err)
	return out, err
}

func (r *Runtime) logged(cmd *exec.Cmd, start time.Time, err error) {
	if r.Log != nil {
		r.Log.Debug("runtime command", "cmd", commandName(cmd.Args), "took", time.Since(start), "err", err)
	}
}

func commandError(cmd *exec.Cmd, err error, stderr string) error {
	status := err.Error()
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) {
		status = exitErr.ProcessState.String()
	}
	return &CommandError{Args: cmd.Args, Name: commandName(cmd.Args), Status: status, Stderr: trimStderr(stderr)}
}

// commandName is the runtime's base name and its subcommand: the first
// argument after --root that is not a flag.
func commandName(args []string) string {
	for i, a := range args {
		if a != "--root" || i+2 >= len(args) {
			continue
		}
		name := filepath.Base(args[i-1])
		for _, rest := range args[i+2:] {
			if !strings.HasPrefix(rest, "-") {
				return name + " " + rest
			}
		}
		return name
	}
	return strings.Join(args, " ")
}

// trimStderr keeps the last lines of stderr, where runtimes put the cause.
func trimStderr(s string) string {
	s = strings.TrimSpace(s)
	const max = 600
	if len(s) > max {
		s = "…" + s[len(s)-max:]
	}
	return s
}

// IO is the container process's stdio: the container inherits these files
// from `create`, which then exits, so they must be *os.File pipe ends.
type IO struct {
	Stdin, Stdout, Stderr *os.File
}

// CreateOpts are per-call options of Create; nil means defaults.
type CreateOpts struct {
	PidFile string
	IO      *IO
}

func (o *CreateOpts) args() []string {
	if o == nil || o.PidFile == "" {
		return nil
	}
	return []string{"--pid-file", o.PidFile}
}

// Create creates a container from a bundle without starting its process.
func (r *Runtime) Create(ctx context.Context, id, bundle string, opts *CreateOpts) error {
	args := append([]string{"create", "--bundle", bundle}, opts.args()...)
	cmd := r.command(ctx, append(args, id)...)
	if opts != nil && opts.IO != nil {
		cmd.Stdin, cmd.Stdout, cmd.Stderr = opts.IO.Stdin, opts.IO.Stdout, opts.IO.Stderr
		// The runtime's own errors go to the container's stderr; the caller
		// reads that pipe and quotes it.
		start := time.Now()
		err := reaper.Run(cmd)
		r.logged(cmd, start, err)
		if err != nil {
			return commandError(cmd, err, "")
		}
		return nil
	}
	_, err := r.run(cmd)
	return err
}

// Start runs the created container's process.
func (r *Runtime) Start(ctx context.Context, id string) error {
	_, err := r.run(r.command(ctx, "start", id))
	return err
}

// Kill sends a signal to the container's processes.
func (r *Runtime) Kill(ctx context.Context, id string, sig syscall.Signal) error {
	_, err := r.run(r.command(ctx, "kill", "--all", id, fmt.Sprint(int(sig))))
	return err
}

// DeleteOpts are per-call options of Delete; nil means defaults.
type DeleteOpts struct {
	Force bool
}

func (o *DeleteOpts) args() []string {
	if o != nil && o.Force {
		return []string{"--force"}
	}
	return nil
}

// Delete removes a stopped container (or any, with Force).
func (r *Runtime) Delete(ctx context.Context, id string, opts *DeleteOpts) error {
	_, err := r.run(r.command(ctx, append(append([]string{"delete"}, opts.args()...), id)...))
	return err
}

// State is the subset of `state` output isobench uses.
type State struct {
	ID     string `json:"id"`
	Pid    int    `json:"pid"`
	Status string `json:"status"`
}

// State returns a container's state.
func (r *Runtime) State(ctx context.Context, id string) (*State, error) {
	out, err := r.run(r.command(ctx, "state", id))
	if err != nil {
		return nil, err
	}
	var s State
	if err := json.Unmarshal(out, &s); err != nil {
		return nil, fmt.Errorf("parse %s state output %q: %w", r.Binary, trimStderr(string(out)), err)
	}
	return &s, nil
}

// List returns the IDs of every container under Root.
func (r *Runtime) List(ctx context.Context) ([]string, error) {
	out, err := r.run(r.command(ctx, "list", "--format", "json"))
	if err != nil {
		return nil, err
	}
	var states []State
	if s := strings.TrimSpace(string(out)); s != "" && s != "null" {
		if err := json.Unmarshal(out, &states); err != nil {
			return nil, fmt.Errorf("parse %s list output: %w", r.Binary, err)
		}
	}
	ids := make([]string, 0, len(states))
	for _, s := range states {
		ids = append(ids, s.ID)
	}
	return ids, nil
}

// Version is a runtime's parsed --version output.
type Version struct {
	Version string `json:"version"`
	Commit  string `json:"commit,omitempty"`
	Spec    string `json:"spec,omitempty"`
	Raw     string `json:"-"`
}

// Version runs `<binary> --version` (without --root or global flags).
func (r *Runtime) Version(ctx context.Context) (Version, error) {
	cmd := exec.CommandContext(ctx, r.Binary, "--version")
	cmd.Env = filteredEnv()
	out, err := run(cmd)
	if err != nil {
		return Version{}, err
	}
	return parseVersion(string(out))
}

// parseVersion reads "<name> version X", "commit: C" and "spec: S" lines, the
// format runc, crun and runsc share.
func parseVersion(out string) (Version, error) {
	v := Version{Raw: strings.TrimSpace(out)}
	for line := range strings.SplitSeq(out, "\n") {
		line = strings.TrimSpace(line)
		switch {
		case strings.Contains(line, " version "):
			v.Version = strings.TrimSpace(line[strings.Index(line, " version ")+len(" version "):])
		case strings.HasPrefix(line, "commit:"):
			v.Commit = strings.TrimSpace(strings.TrimPrefix(line, "commit:"))
		case strings.HasPrefix(line, "spec:"):
			v.Spec = strings.TrimSpace(strings.TrimPrefix(line, "spec:"))
		}
	}
	if v.Version == "" {
		return v, fmt.Errorf("no version line in %q", trimStderr(out))
	}
	return v, nil
}
