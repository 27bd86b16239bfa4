package grader

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/isobench/isobench/internal/agent"
	"github.com/isobench/isobench/internal/backend"
	"github.com/isobench/isobench/internal/metric"
	"github.com/isobench/isobench/internal/workload"
)

// Mode is where a job's sandbox comes from. Every job gets a sandbox no
// other job used, and the sandbox is destroyed afterwards; the modes
// differ in when it was started.
type Mode string

const (
	// ModeCold launches a sandbox when the job is picked.
	ModeCold Mode = "cold"
	// ModeWarm takes one launched ahead of time from a pool of idle
	// sandboxes (as FaaS platforms keep warm instances), refilled behind.
	ModeWarm Mode = "warm"
	// ModeRestore restores one from a snapshot of a ready sandbox taken
	// when the service started (backends that can snapshot).
	ModeRestore Mode = "restore"
)

// Modes lists the valid modes.
func Modes() []Mode { return []Mode{ModeCold, ModeWarm, ModeRestore} }

// Unsupported says why backend b cannot serve mode, or "".
func Unsupported(b backend.Backend, mode Mode) string {
	switch mode {
	case ModeCold, ModeWarm:
		return ""
	case ModeRestore:
		if _, ok := b.(backend.Snapshotter); !ok || !b.Info().Capabilities.Snapshot {
			return fmt.Sprintf("%s cannot snapshot, so --mode restore is not available; use cold or warm, or a backend with snapshots (runsc-*, qemu*, firecracker, cloud-hypervisor)", b.Name())
		}
		return ""
	}
	return fmt.Sprintf("%q is not one of %v", mode, Modes())
}

// JobLimits bound every job: the sandbox's resources and the job's time
// and output.
type JobLimits struct {
	Sandbox     backend.Limits
	Timeout     time.Duration // the most a submission may ask for, and its default
	OutputLimit int64
}

// Validate names the offending field.
func (l JobLimits) Validate() error {
	if err := l.Sandbox.Validate(); err != nil {
		return err
	}
	if l.Timeout < time.Second || l.Timeout > time.Hour {
		return fmt.Errorf("time-limit: %s is not between 1s and 1h", l.Timeout)
	}
	if l.OutputLimit < 1024 || l.OutputLimit > workload.MaxJobOutputLimit {
		return fmt.Errorf("output-limit: %d bytes is not between 1 KiB and %d", l.OutputLimit, workload.MaxJobOutputLimit)
	}
	return nil
}

// agentGrace is how long past the job's time limit its agent may take to
// answer before the sandbox counts as hung.
const agentGrace = 30 * time.Second

// Executor runs queued submissions with a pool of workers, each job in a
// fresh sandbox of one backend.
type Executor struct {
	store   *Store
	backend backend.Backend
	mode    Mode
	limits  JobLimits
	workers int
	// idPrefix starts every sandbox id; seq numbers them (fixed width:
	// runsc resolves unique id prefixes).
	idPrefix string
	seq      atomic.Int64
	log      *slog.Logger
	events   *events

	pool *warmPool
	snap backend.Snapshot

	wake chan struct{}
}

// newExecutor checks that backend b can serve mode.
func newExecutor(store *Store, b backend.Backend, mode Mode, limits JobLimits, workers int, idPrefix string, ev *events, log *slog.Logger) (*Executor, error) {
	if workers < 1 || workers > 256 {
		return nil, fmt.Errorf("workers: %d is not between 1 and 256", workers)
	}
	if why := Unsupported(b, mode); why != "" {
		return nil, fmt.Errorf("mode: %s", why)
	}
	return &Executor{store: store, backend: b, mode: mode, limits: limits, workers: workers, idPrefix: idPrefix, log: log, events: ev, wake: make(chan struct{}, 1)}, nil
}

// Wake tells an idle worker that a submission was queued.
func (e *Executor) Wake() {
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

func (e *Executor) nextSpec() backend.Spec {
	return backend.Spec{ID: fmt.Sprintf("%s-%06d", e.idPrefix, e.seq.Add(1)), Limits: e.limits.Sandbox}
}

// prepare takes the snapshot or fills the warm pool before workers start.
func (e *Executor) prepare(ctx context.Context) error {
	switch e.mode {
	case ModeRestore:
		snap, err := e.backend.(backend.Snapshotter).Snapshot(ctx, e.nextSpec())
		if err != nil {
			return fmt.Errorf("%s: snapshot for --mode restore: %w", e.backend.Name(), err)
		}
		e.snap = snap
	case ModeWarm:
		e.pool = newWarmPool(e.workers, e.backend, e.nextSpec, e.log)
		e.pool.start(ctx)
	}
	return nil
}

// run works until ctx is cancelled, then returns once every worker has
// stopped, its job re-queued and its sandbox destroyed.
func (e *Executor) run(ctx context.Context) {
	var wg sync.WaitGroup
	for range e.workers {
		wg.Go(func() { e.work(ctx) })
	}
	wg.Wait()
}

// close releases the pool and the snapshot.
func (e *Executor) close() error {
	var errs []error
	if e.pool != nil {
		errs = append(errs, e.pool.close())
	}
	if e.snap != nil {
		errs = append(errs, e.snap.Remove())
	}
	return errors.Join(errs...)
}

// pollInterval bounds how long a queued submission may wait unseen should
// a wake be missed.
const pollInterval = time.Second

func (e *Executor) work(ctx context.Context) {
	for ctx.Err() == nil {
		sub, err := e.store.Claim(ctx, string(e.backend.Name()), time.Now())
		if err != nil {
			if ctx.Err() == nil {
				e.log.Error("claim a submission", "err", err)
				sleep(ctx, pollInterval)
			}
			continue
		}
		if sub == nil {
			select {
			case <-ctx.Done():
			case <-e.wake:
			case <-time.After(pollInterval):
			}
			continue
		}
		// More may be queued: pass the wake on to an idle worker, since
		// several submissions may have shared one wake.
		e.Wake()
		e.handle(ctx, sub)
	}
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// maxAttempts bounds how often a submission is started: one that keeps
// being interrupted (the service stops during it each time) fails.
const maxAttempts = 3

func (e *Executor) handle(ctx context.Context, sub *Submission) {
	// Storing the outcome must happen even as the service stops.
	dbctx := context.WithoutCancel(ctx)
	if sub.Attempts > maxAttempts {
		o := Outcome{Verdict: VerdictError, Message: fmt.Sprintf("gave up after %d attempts: the service stopped while it ran each time", maxAttempts)}
		e.finish(dbctx, sub, o)
		return
	}
	o, interrupted := e.execute(ctx, sub)
	if interrupted {
		if err := e.store.Requeue(dbctx, sub.ID); err != nil {
			e.log.Error("re-queue interrupted submission", "id", sub.ID, "err", err)
		}
		return
	}
	e.finish(dbctx, sub, o)
}

func (e *Executor) finish(ctx context.Context, sub *Submission, o Outcome) {
	// Whoever waits for it is woken whatever happens below.
	defer e.events.done(sub.ID)
	if err := e.store.Finish(ctx, sub.ID, o, time.Now()); err != nil {
		e.log.Error("store result", "id", sub.ID, "err", err)
		// A result the database refuses must not leave the submission
		// running for ever: store the failure without the job's output.
		fallback := Outcome{Verdict: VerdictError, Message: "the result could not be stored: " + err.Error(), Phases: o.Phases, SandboxID: o.SandboxID}
		if err := e.store.Finish(ctx, sub.ID, fallback, time.Now()); err != nil {
			e.log.Error("store result", "id", sub.ID, "err", err)
		}
		return
	}
	e.log.Debug("graded", "id", sub.ID, "verdict", o.Verdict, "sandbox_s", o.Phases.Sandbox, "run_s", o.Phases.Run)
}

// execute runs one submission in a fresh sandbox and always destroys it.
// interrupted: ctx was cancelled (the service is stopping) before the
// job had a result, so it is to be run again.
func (e *Executor) execute(ctx context.Context, sub *Submission) (o Outcome, interrupted bool) {
	o.Phases.Queue = sub.StartedAt.Sub(sub.CreatedAt).Seconds()
	t0 := time.Now()
	sb, spec, err := e.sandbox(ctx, sub.ID)
	o.Phases.Sandbox = time.Since(t0).Seconds()
	o.SandboxID = spec.ID
	if err != nil {
		if ctx.Err() != nil {
			return o, true
		}
		o.Verdict, o.Message = VerdictError, "sandbox: "+err.Error()
		return o, false
	}
	defer func() {
		t := time.Now()
		if err := sb.Close(context.WithoutCancel(ctx)); err != nil {
			e.log.Error("destroy sandbox", "sandbox", spec.ID, "err", err)
			if !interrupted && o.Verdict != VerdictError {
				o.Message = joinMessage(o.Message, "sandbox teardown failed: "+err.Error())
			}
		}
		o.Phases.Teardown = time.Since(t).Seconds()
	}()

	timeout := sub.Timeout
	if timeout <= 0 || timeout > e.limits.Timeout {
		timeout = e.limits.Timeout
	}
	req := agent.Request{V: agent.ProtocolVersion, Op: agent.OpRun, Workload: string(workload.Exec), Params: map[string]string{
		"command":      sub.Command,
		"timeout":      timeout.String(),
		"output_limit": strconv.FormatInt(e.limits.OutputLimit, 10),
		"pids":         strconv.FormatInt(e.limits.Sandbox.Pids, 10),
	}}
	if len(sub.Archive) > 0 {
		req.Params["archive"] = base64.StdEncoding.EncodeToString(sub.Archive)
	}
	// The agent enforces the time limit; the host's deadline only catches
	// a sandbox that stopped answering.
	rctx, cancel := context.WithTimeoutCause(ctx, timeout+agentGrace, fmt.Errorf("the sandbox did not answer within %s of the time limit", agentGrace))
	defer cancel()
	watch := watchLimits(ctx, sb)
	t1 := time.Now()
	res, err := sb.Run(rctx, req)
	o.Phases.Run = time.Since(t1).Seconds()
	hits := watch.hits(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return o, true
		}
		o.Verdict, o.Message = VerdictError, "run in sandbox: "+err.Error()
		if cause := context.Cause(rctx); rctx.Err() != nil && cause != nil {
			o.Message = joinMessage(o.Message, cause.Error())
		}
		// A sandbox the job took down is the job's verdict, not ours.
		switch {
		case hits.OOMKills > 0:
			o.Verdict, o.Message = VerdictMemoryLimit, fmt.Sprintf("the sandbox was killed at its memory limit (%d OOM kills in its cgroup; the limit covers the backend's own processes in the sandbox too): %s", hits.OOMKills, err)
		case hits.PidsMax > 0:
			o.Verdict, o.Message = VerdictTaskLimit, fmt.Sprintf("the job hit the task limit of %d (%d forks refused) and the sandbox died: %s", e.limits.Sandbox.Pids, hits.PidsMax, err)
		}
		return o, false
	}
	judge(&o, res, timeout, e.limits.OutputLimit)
	// In a VM the agent counts in the job's cgroup of the guest (in other
	// sandboxes it reports neither: the host counts above).
	for _, m := range res.Metrics {
		switch m.Name {
		case metric.ExecForksRefused:
			hits.PidsMax += int64(m.Value)
		case metric.ExecOOMKills:
			hits.OOMKills += int64(m.Value)
		}
	}
	if hits.OOMKills > 0 && (o.Verdict == VerdictKilled || o.Verdict == VerdictFailed) {
		// A test process the OOM killer took makes the script fail: the
		// limit, not the tests, decided.
		o.Verdict, o.Message = VerdictMemoryLimit, joinMessage("the out-of-memory killer acted at the sandbox's memory limit", o.Message)
	}
	if hits.PidsMax > 0 {
		o.Message = joinMessage(o.Message, fmt.Sprintf("the task limit of %d refused %d forks", e.limits.Sandbox.Pids, hits.PidsMax))
	}
	return o, false
}

// judge turns the agent's result into a verdict.
func judge(o *Outcome, res *agent.Result, timeout time.Duration, outputLimit int64) {
	val := func(n metric.Name) float64 {
		for _, m := range res.Metrics {
			if m.Name == n {
				return m.Value
			}
		}
		return 0
	}
	code := int(val(metric.ExecExitCode))
	o.ExitCode = &code
	o.Log = res.Log
	o.OutputBytes = int64(val(metric.ExecOutputBytes))
	o.OutputTruncated = o.OutputBytes > outputLimit
	o.Phases.Tests = val(metric.ExecWall)
	sig := int(val(metric.ExecSignal))
	switch {
	case val(metric.ExecTimedOut) == 1:
		o.Verdict, o.Message = VerdictTimeLimit, fmt.Sprintf("killed at the time limit (%s)", timeout)
	case sig == 9 && val(metric.ExecOOMKills) > 0:
		o.Verdict, o.Message = VerdictMemoryLimit, "killed by the out-of-memory killer at the sandbox's memory limit"
	case sig != 0:
		o.Verdict, o.Message = VerdictKilled, fmt.Sprintf("killed by signal %d", sig)

	case code == 0:
		o.Verdict = VerdictPassed
	default:
		o.Verdict, o.Message = VerdictFailed, fmt.Sprintf("the test command exited with status %d", code)
	}
	if o.OutputTruncated {
		o.Message = joinMessage(o.Message, fmt.Sprintf("output truncated to its first %d of %d bytes (the output limit)", outputLimit, o.OutputBytes))
	}
}

func joinMessage(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}

// sandbox returns a ready sandbox for submission id, as the mode says. The
// sandbox's id is recorded before it starts, so that a restarted service
// can tell what a crashed one was running where.
func (e *Executor) sandbox(ctx context.Context, id string) (backend.Sandbox, backend.Spec, error) {
	record := func(spec backend.Spec) {
		if err := e.store.SetSandbox(ctx, id, spec.ID); err != nil {
			e.log.Warn("record sandbox", "err", err)
		}
	}
	switch e.mode {
	case ModeWarm:
		sb, spec, err := e.pool.take(ctx)
		if err == nil {
			record(spec)
		}
		return sb, spec, err
	case ModeRestore:
		spec := e.nextSpec()
		record(spec)
		sb, err := e.snap.Restore(ctx, spec)
		return sb, spec, err
	default:
		spec := e.nextSpec()
		record(spec)
		sb, err := e.backend.Launch(ctx, spec)
		return sb, spec, err
	}
}
