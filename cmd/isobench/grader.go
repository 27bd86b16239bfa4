package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/sys/unix"

	"github.com/isobench/isobench/internal/agent"
	"github.com/isobench/isobench/internal/backend"
	"github.com/isobench/isobench/internal/runner"
	"github.com/isobench/isobench/internal/scenario/grader"
	"github.com/isobench/isobench/internal/suite"
)

func newGraderCommand(ctx context.Context, g *globals, h *hooks) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "grader",
		Short: "The autograding service: run it (serve) or load-test it on backends (bench)",
		Long: `An autograding service, as education platforms run: an HTTP API accepts submissions
(files and a test command), a database keeps them (SQLite, or PostgreSQL with --db
postgres://...), and workers run each one's tests in a fresh sandbox of one backend,
under CPU, memory, task, time and output limits. See docs/grader.md.`,
	}
	cmd.AddCommand(newGraderServeCommand(ctx, g), newGraderBenchCommand(ctx, g, h))
	return cmd
}

// addGraderFlags registers the load test's and the jobs' settings.
func addGraderFlags(f *pflag.FlagSet, o *runOptions, prefix string) {
	d := suite.DefaultGrader()
	p := func(name string) string { return prefix + name }
	f.IntVar(&o.suite.Grader.Submissions, p("submissions"), 0, fmt.Sprintf("grader load test: submissions per sample (default %d, --quick %d)", suite.DefaultGraderSubmissions, suite.QuickGraderSubmissions))
	f.Float64Var(&o.suite.Grader.Rate, p("rate"), d.Rate, "grader load test: submissions sent per second (0: all at once)")
	f.IntVar(&o.suite.Grader.Workers, p("workers"), d.Workers, "grader: jobs run at once, each in its own sandbox")
	f.StringVar(&o.suite.Grader.Mode, p("mode"), d.Mode, "grader: where a job's fresh sandbox comes from: cold (launched for it), warm (from a pool launched ahead), restore (from a snapshot)")
	f.StringSliceVar(&o.suite.Grader.Jobs, p("jobs"), d.Jobs, "grader load test: job kinds sent in turn ("+strings.Join(grader.JobKinds(), ", ")+")")
	f.DurationVar(&o.suite.Grader.TimeLimit, p("time-limit"), d.TimeLimit, "grader: a job's time limit")
	f.StringVar(&o.graderOutput, p("output-limit"), "64KiB", "grader: output (stdout+stderr) kept per job")
	f.Int64Var(&o.suite.Grader.Pids, p("pids"), d.Pids, "grader: task limit per sandbox (gVisor's own threads count too)")
}

func newGraderBenchCommand(ctx context.Context, g *globals, h *hooks) *cobra.Command {
	o := &runOptions{suite: suite.Defaults()}
	o.suite.Workloads = []string{string(suite.Grader)}
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Load-test the grader service on each backend: end-to-end latency, throughput, phase split",
		Example: `  isobench grader bench --backends process,runc,runsc-ptrace --submissions 60 --rate 2
  isobench grader bench --quick --mode warm`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.complete(cmd); err != nil {
				return err
			}
			if !cmd.Flags().Changed("reps") {
				o.suite.Reps = graderReps
			}
			// A load test warms itself up with its first jobs.
			o.suite.Warmup = 0
			if h.run != nil {
				return h.run(o)
			}
			return runRun(ctx, g, o)
		},
	}
	addRunFlags(cmd.Flags(), o, false)
	addGraderFlags(cmd.Flags(), o, "")
	reps := cmd.Flags().Lookup("reps")
	reps.Usage, reps.DefValue = "load tests per backend (each one's latencies are percentiles over its submissions)", fmt.Sprint(graderReps)
	_ = cmd.Flags().MarkHidden("warmup")
	return cmd
}

// graderReps: each grader sample is a whole load test whose latencies are
// already percentiles over its submissions; three give a spread.
const graderReps = 3

type serveOptions struct {
	backend      string
	db           string
	listen       string
	tokenFile    string
	stateDir     string
	workers      int
	mode         string
	cpus         float64
	memory       string
	pids         int64
	timeLimit    time.Duration
	outputLimit  string
	maxUpload    string
	kernel       string
	accel        string
	probeTimeout time.Duration
	unisolated   bool
}

func newGraderServeCommand(ctx context.Context, g *globals) *cobra.Command {
	o := &serveOptions{}
	d := suite.DefaultGrader()
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the grader service until interrupted",
		Example: `  isobench grader serve --backend runsc-ptrace --listen 127.0.0.1:8080
  isobench grader serve --backend runc --db postgres://grader@localhost/grader --workers 4 --mode warm`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runServe(ctx, g, o) },
	}
	f := cmd.Flags()
	f.StringVar(&o.backend, "backend", "", "backend that runs the jobs (required; see `isobench backends`)")
	f.StringVar(&o.stateDir, "state-dir", defaultStateDir(), "the service's directory: default database, token file, sandbox state (one service at a time)")
	f.StringVar(&o.db, "db", "", "database: a SQLite file or a postgres:// URL (default: grader.db in --state-dir)")
	f.StringVar(&o.listen, "listen", "127.0.0.1:8080", "address of the HTTP API")
	f.StringVar(&o.tokenFile, "token-file", "", "file holding the API token (default: token in --state-dir, created with a random token if missing)")
	f.IntVar(&o.workers, "workers", d.Workers, "jobs run at once, each in its own sandbox")
	f.StringVar(&o.mode, "mode", d.Mode, "where a job's fresh sandbox comes from: cold, warm (pool launched ahead), restore (snapshot)")
	f.Float64Var(&o.cpus, "cpus", 1, "CPU limit of each job's sandbox")
	f.StringVar(&o.memory, "memory", "512MiB", "memory limit of each job's sandbox (its files live in memory too)")
	f.Int64Var(&o.pids, "pids", d.Pids, "task limit of each job's sandbox (gVisor's own threads count too)")
	f.DurationVar(&o.timeLimit, "time-limit", d.TimeLimit, "a job's time limit (submissions may ask for less)")
	f.StringVar(&o.outputLimit, "output-limit", "64KiB", "output (stdout+stderr) kept per job")
	f.StringVar(&o.maxUpload, "max-upload", "1MiB", "largest submission archive accepted")
	f.StringVar(&o.kernel, "kernel", "", "guest kernel for VM backends")
	f.StringVar(&o.accel, "accel", string(backend.AccelAuto), accelHelp)
	f.DurationVar(&o.probeTimeout, "probe-timeout", 20*time.Second, "bound on the backend's start probe")
	f.BoolVar(&o.unisolated, "unisolated", false, "allow --backend process, which runs jobs on the host without isolation (trusted code only)")
	return cmd
}

// defaultStateDir is /var/lib/isobench/grader for root, else under
// $XDG_STATE_HOME (~/.local/state).
func defaultStateDir() string {
	if os.Geteuid() == 0 {
		return "/var/lib/isobench/grader"
	}
	if d := os.Getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "isobench", "grader")
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".local", "state", "isobench", "grader")
}

func (o *serveOptions) config() (grader.Config, error) {
	var c grader.Config
	if o.backend == "" {
		return c, usagef("--backend: required; pick one of %v (see `isobench backends`)", backend.Names())
	}
	if o.backend == "process" && !o.unisolated {
		return c, usagef("--backend process runs submissions on this host without isolation (its files, network and processes); pass --unisolated as well to serve trusted code only, or pick an isolating backend")
	}
	mem, err := suite.ParseBytes(o.memory)
	if err != nil {
		return c, usagef("--memory: %v", err)
	}
	out, err := suite.ParseBytes(o.outputLimit)
	if err != nil {
		return c, usagef("--output-limit: %v", err)
	}
	up, err := suite.ParseBytes(o.maxUpload)
	if err != nil {
		return c, usagef("--max-upload: %v", err)
	}
	if err := validAccel(o.accel); err != nil {
		return c, err
	}
	c = grader.Config{Listen: o.listen, Workers: o.workers, Mode: grader.Mode(o.mode), MaxUpload: up,
		Limits: grader.JobLimits{Sandbox: backend.Limits{CPUs: o.cpus, MemoryBytes: mem, Pids: o.pids}, Timeout: o.timeLimit, OutputLimit: out}}
	if err := c.Limits.Validate(); err != nil {
		return c, usagef("--%v", err)
	}
	return c, nil
}

func runServe(ctx context.Context, g *globals, o *serveOptions) error {
	cfg, err := o.config()
	if err != nil {
		return err
	}
	log := g.logger()
	if err := os.MkdirAll(o.stateDir, 0o700); err != nil {
		return fmt.Errorf("--state-dir: %w", err)
	}
	// One service per state directory: its sandbox state and default
	// database are not meant to be shared.
	lock, err := os.OpenFile(filepath.Join(o.stateDir, "lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return fmt.Errorf("--state-dir: %w", err)
	}
	defer lock.Close()
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		return usagef("--state-dir: %s is in use by another grader service (%v); stop it or pass another --state-dir", o.stateDir, err)
	}
	if cfg.Token, err = loadToken(o.tokenFile, o.stateDir); err != nil {
		return err
	}
	cfg.DB = o.db
	if cfg.DB == "" {
		cfg.DB = filepath.Join(o.stateDir, "grader.db")
	}
	self, err := selfPath()
	if err != nil {
		return err
	}
	if err := agent.CheckStatic(self); err != nil {
		return err
	}
	// The run id is the state directory's, so that a restarted service
	// finds (and removes) what a crashed one left: containers in the
	// runtime state below work/, cgroups, leftover job processes.
	runID := fmt.Sprintf("gr%06x", backend.Hash32(o.stateDir)&0xffffff)
	workDir := filepath.Join(o.stateDir, "work")
	image := filepath.Join(workDir, "image")
	_ = os.RemoveAll(image)
	if err := os.MkdirAll(workDir, 0o700); err != nil {
		return fmt.Errorf("--state-dir: %w", err)
	}
	if err := grader.PrepareImage(image); err != nil {
		return err
	}
	env := backend.Env{AgentPath: self, WorkDir: workDir, RunID: runID, ProbeTimeout: o.probeTimeout, KernelPath: o.kernel,
		Accel: backend.AccelChoice(o.accel), Image: image, Log: log}
	detect := func() (backend.Backend, error) {
		dets, err := backend.Detect(ctx, env, []backend.Name{backend.Name(o.backend)})
		if err != nil {
			return nil, usagef("--backend: %v", err)
		}
		if d := dets[0]; !d.Available() {
			reason, fix := backend.Explain(d.Err)
			_, _ = runner.Cleanup(ctx, nil, runID, workDir)
			return nil, fmt.Errorf("--backend %s is unavailable: %s (fix: %s)", o.backend, reason, fix)
		}
		return dets[0].Backend, nil
	}
	b, err := detect()
	if err != nil {
		return err
	}
	// What a crashed predecessor left goes before anything starts. The
	// sweep also removes the backend's run-scoped state (Docker's agent
	// image, which may be an older binary's), so the backend is set up
	// again afterwards.
	if leaks := sweepLeftovers(ctx, b, runID); len(leaks) > 0 {
		log.Warn("removed what an earlier instance of the service left behind", "what", strings.Join(leaks, "; "))
	}
	if b, err = detect(); err != nil {
		return err
	}
	cfg.Backend, cfg.Log = b, log
	epoch := make([]byte, 2)
	_, _ = rand.Read(epoch)
	cfg.SandboxPrefix = backend.IDPrefix + runID + "-" + hex.EncodeToString(epoch)

	sctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	svc, err := grader.Start(sctx, cfg)
	if err != nil {
		cleanupServe(ctx, g, b, runID, workDir)
		return err
	}
	if n := len(svc.Requeued()); n > 0 {
		fmt.Fprintf(g.stderr, "grader: re-queued %d submissions that were running when the service last stopped\n", n)
	}
	fmt.Fprintf(g.stderr, "grader: serving on http://%s (backend %s, mode %s, %d workers, %s); token in %s\n",
		svc.Addr(), b.Name(), cfg.Mode, cfg.Workers, describeDB(cfg.DB), tokenPath(o.tokenFile, o.stateDir))
	waitErr := svc.Wait(sctx)
	stopErr := svc.Stop(context.WithoutCancel(ctx))
	cleanupServe(ctx, g, b, runID, workDir)
	return errors.Join(waitErr, stopErr)
}

func describeDB(db string) string {
	if strings.HasPrefix(db, "postgres") {
		return "postgresql"
	}
	return "sqlite " + db
}

// sweepLeftovers removes a backend's leftover containers and the run's
// leftover cgroups (with any job still inside) without touching the work
// directory the backend now uses.
func sweepLeftovers(ctx context.Context, b backend.Backend, runID string) []string {
	var leaks []string
	if sw, ok := b.(backend.Sweeper); ok {
		ids, _ := sw.Sweep(ctx)
		leaks = append(leaks, ids...)
	}
	return append(leaks, runner.SweepCgroups(runID)...)
}

// cleanupServe removes everything the service's sandboxes may have left.
func cleanupServe(ctx context.Context, g *globals, b backend.Backend, runID, workDir string) {
	leaks, warnings := runner.Cleanup(ctx, []backend.Backend{b}, runID, workDir)
	for _, w := range append(warnings, leaks...) {
		fmt.Fprintf(g.stderr, "grader: cleanup: %s\n", w)
	}
}

func tokenPath(file, stateDir string) string {
	if file != "" {
		return file
	}
	return filepath.Join(stateDir, "token")
}

// loadToken reads the API token, creating the default token file with a
// random token when it does not exist.
func loadToken(file, stateDir string) (string, error) {
	path := tokenPath(file, stateDir)
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) && file == "" {
		raw := make([]byte, 24)
		if _, err := rand.Read(raw); err != nil {
			return "", err
		}
		tok := hex.EncodeToString(raw)
		if err := os.WriteFile(path, []byte(tok+"\n"), 0o600); err != nil {
			return "", fmt.Errorf("token file: %w", err)
		}
		return tok, nil
	}
	if err != nil {
		return "", usagef("--token-file: %v", err)
	}
	tok := strings.TrimSpace(string(b))
	if len(tok) < 16 {
		return "", usagef("--token-file: %s holds %d characters; use a random token of at least 16", path, len(tok))
	}
	return tok, nil
}
