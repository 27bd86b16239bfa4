package runner

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/isobench/isobench/internal/backend"
	"github.com/isobench/isobench/internal/result"
	"github.com/isobench/isobench/internal/scenario/grader"
	"github.com/isobench/isobench/internal/suite"
)

// GraderBench is the grader workload's load test as the suite configures
// it (the sandbox prefix and database directory are set per sample).
func GraderBench(s suite.Suite) grader.BenchConfig {
	g := s.Grader
	limits := s.Limits
	limits.Pids = g.Pids
	return grader.BenchConfig{Submissions: s.GraderSubmissions(), Rate: g.Rate, Workers: g.Workers, Mode: grader.Mode(g.Mode), Jobs: g.Jobs,
		Limits: grader.JobLimits{Sandbox: limits, Timeout: g.TimeLimit, OutputLimit: g.OutputLimit}}
}

// measureGrader runs one load test of the grader service on b. Its
// database lives in dbDir (on disk, as a service's would).
func measureGrader(ctx context.Context, b backend.Backend, w suite.Workload, id string, s suite.Suite, dbDir string, log *slog.Logger) (result.Sample, bool) {
	info := b.Info()
	sample := result.Sample{Backend: info.Name, Accel: info.Accel, Workload: string(w.Name), Start: time.Now()}
	cfg := GraderBench(s)
	if why := grader.Unsupported(b, cfg.Mode); why != "" {
		return skippedSample(b, w, why), false
	}
	cfg.SandboxPrefix, cfg.DBDir, cfg.Log = id, dbDir, log.With("backend", info.Name, "workload", w.Name)
	// A bound for a stuck service: every job at its time limit, one
	// worker after another, plus start-up.
	bound := time.Duration(cfg.Submissions)*(cfg.Limits.Timeout+s.Timeout)/time.Duration(cfg.Workers) + 5*time.Minute
	bctx, cancel := context.WithTimeoutCause(ctx, bound, fmt.Errorf("grader load test did not finish within %s", bound))
	defer cancel()
	res, err := grader.Bench(bctx, b, cfg)
	if ctx.Err() != nil {
		return sample, true
	}
	sample.Metrics = res.Metrics
	switch {
	case err != nil:
		if cause := context.Cause(bctx); bctx.Err() != nil && cause != nil {
			err = fmt.Errorf("%w: %w", err, cause)
		}
		sample.Error = "grader: " + err.Error()
	case len(res.Problems) > 0:
		const shown = 5
		p := res.Problems
		more := ""
		if len(p) > shown {
			p, more = p[:shown], fmt.Sprintf("; and %d more", len(res.Problems)-shown)
		}
		sample.Error = fmt.Sprintf("grader: %d of %d submissions not graded as expected: %s%s", len(res.Problems), cfg.Submissions, strings.Join(p, "; "), more)
	}
	return sample, false
}
