package grader

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/isobench/isobench/internal/backend"
	"github.com/isobench/isobench/internal/metric"
	"github.com/isobench/isobench/internal/stats"
)

// BenchConfig is one load test of the service.
type BenchConfig struct {
	Submissions int
	// Rate is submissions per second (0: all at once).
	Rate    float64
	Workers int
	Mode    Mode
	Limits  JobLimits
	// Jobs are the kinds sent, in turn.
	Jobs []string
	// DBDir holds the load test's SQLite database (removed afterwards);
	// DB, when set, is used instead (a postgres:// URL).
	DBDir string
	DB    string
	// SandboxPrefix starts every sandbox id.
	SandboxPrefix string
	Log           *slog.Logger
}

// Validate names the offending field.
func (c BenchConfig) Validate() error {
	if c.Submissions < 1 || c.Submissions > 100000 {
		return fmt.Errorf("submissions: %d is not between 1 and 100000", c.Submissions)
	}
	if c.Rate < 0 || c.Rate > 10000 {
		return fmt.Errorf("rate: %v is not between 0 (all at once) and 10000 per second", c.Rate)
	}
	if c.Workers < 1 || c.Workers > 256 {
		return fmt.Errorf("workers: %d is not between 1 and 256", c.Workers)
	}
	if !slices.Contains(Modes(), c.Mode) {
		return fmt.Errorf("mode: %q is not one of %v", c.Mode, Modes())
	}
	if err := ValidJobKinds(c.Jobs); err != nil {
		return err
	}
	return c.Limits.Validate()
}

// BenchResult is what one load test measured.
type BenchResult struct {
	Metrics []metric.Value
	// Problems lists submissions graded wrongly or lost (at most a few).
	Problems []string
}

// Bench starts a service on loopback with backend b, sends the
// submissions at the configured rate, waits for every result, and stops
// the service. Latencies are measured by the client; phases come from the
// service's records.
func Bench(ctx context.Context, b backend.Backend, cfg BenchConfig) (BenchResult, error) {
	var res BenchResult
	if err := cfg.Validate(); err != nil {
		return res, err
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	token := make([]byte, 16)
	if _, err := rand.Read(token); err != nil {
		return res, err
	}
	dsn := cfg.DB
	if dsn == "" {
		dir, err := os.MkdirTemp(cfg.DBDir, "grader-bench-")
		if err != nil {
			return res, fmt.Errorf("bench database: %w", err)
		}
		defer os.RemoveAll(dir)
		dsn = filepath.Join(dir, "grader.db")
	}
	svc, err := Start(ctx, Config{Backend: b, DB: dsn, Listen: "127.0.0.1:0", Token: hex.EncodeToString(token), Workers: cfg.Workers,
		Mode: cfg.Mode, Limits: cfg.Limits, MaxUpload: 1 << 20, SandboxPrefix: cfg.SandboxPrefix, Log: cfg.Log})
	if err != nil {
		return res, err
	}
	defer svc.Stop(context.WithoutCancel(ctx))

	c := &client{base: "http://" + svc.Addr(), token: hex.EncodeToString(token), http: &http.Client{Timeout: maxWait + 30*time.Second}}
	jobs := make([]Job, len(cfg.Jobs))
	for i, k := range cfg.Jobs {
		if jobs[i], err = NewJob(k); err != nil {
			return res, err
		}
	}
	var (
		mu       sync.Mutex
		e2e      []float64
		httpLat  []float64
		subs     []*Submission
		problems []string
		first    = time.Now()
		last     time.Time
	)
	record := func(d time.Duration) {
		mu.Lock()
		httpLat = append(httpLat, d.Seconds())
		mu.Unlock()
	}
	problem := func(format string, args ...any) {
		mu.Lock()
		problems = append(problems, fmt.Sprintf(format, args...))
		mu.Unlock()
	}
	// A prober reads the service's state while it is loaded, as a
	// student's browser polling a status page would.
	pctx, stopProbe := context.WithCancel(ctx)
	var probeWG sync.WaitGroup
	probeWG.Go(func() {
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-pctx.Done():
				return
			case <-t.C:
			}
			start := time.Now()
			if err := c.do(pctx, "GET", "/v1/submissions?status=done&limit=20", nil, nil); err == nil {
				record(time.Since(start))
			}
		}
	})

	var wg sync.WaitGroup
	interval := time.Duration(0)
	if cfg.Rate > 0 {
		interval = time.Duration(float64(time.Second) / cfg.Rate)
	}
	next := time.Now()
	for i := range cfg.Submissions {
		if interval > 0 {
			if d := time.Until(next); d > 0 {
				sleep(ctx, d)
			}
			next = next.Add(interval)
		}
		if ctx.Err() != nil {
			break
		}
		job := jobs[i%len(jobs)]
		wg.Go(func() {
			start := time.Now()
			var sub Submission
			err := c.do(ctx, "POST", "/v1/submissions", submitRequest{Command: job.Command, Files: job.Files}, &sub)
			if err == nil {
				record(time.Since(start))
			}
			if err != nil {
				problem("%s job: submit: %v", job.Kind, err)
				return
			}
			for sub.Status != StatusDone {
				if err := c.do(ctx, "GET", "/v1/submissions/"+sub.ID+"?wait=30s", nil, &sub); err != nil {
					problem("%s job %s: status: %v", job.Kind, sub.ID, err)
					return
				}
			}
			done := time.Now()
			mu.Lock()
			e2e = append(e2e, done.Sub(start).Seconds())
			subs = append(subs, &sub)
			if done.After(last) {
				last = done
			}
			mu.Unlock()
			if sub.Verdict != job.Expect {
				problem("%s job %s: verdict %s, expected %s: %s", job.Kind, sub.ID, sub.Verdict, job.Expect, sub.Message)
				return
			}
			var log bytes.Buffer
			if err := c.do(ctx, "GET", "/v1/submissions/"+sub.ID+"/log", nil, &log); err != nil {
				problem("%s job %s: log: %v", job.Kind, sub.ID, err)
			} else if !strings.Contains(log.String(), job.ExpectLog) {
				problem("%s job %s: log lacks %q: %s", job.Kind, sub.ID, job.ExpectLog, truncate(log.String(), 300))
			}
		})
	}
	wg.Wait()
	stopProbe()
	probeWG.Wait()
	if ctx.Err() != nil {
		return res, ctx.Err()
	}
	if err := svc.Stop(ctx); err != nil {
		return res, fmt.Errorf("stop service: %w", err)
	}

	sec := func(n metric.Name, v float64) {
		res.Metrics = append(res.Metrics, metric.Value{Name: n, Unit: metric.Seconds, Value: v})
	}
	if len(e2e) > 0 {
		sec(metric.GraderE2EP50, stats.Quantile(e2e, 0.5))
		sec(metric.GraderE2EP95, stats.Quantile(e2e, 0.95))
		sec(metric.GraderE2EP99, stats.Quantile(e2e, 0.99))
		if span := last.Sub(first).Seconds(); span > 0 {
			res.Metrics = append(res.Metrics, metric.Value{Name: metric.GraderThroughput, Unit: metric.OpsPerSec, Value: float64(len(e2e)) / span})
		}
		var q, sb, run, down []float64
		for _, s := range subs {
			if s.Phases != nil {
				q, sb, run, down = append(q, s.Phases.Queue), append(sb, s.Phases.Sandbox), append(run, s.Phases.Run), append(down, s.Phases.Teardown)
			}
		}
		if len(q) > 0 {
			sec(metric.GraderQueue, stats.Quantile(q, 0.5))
			sec(metric.GraderSandboxUp, stats.Quantile(sb, 0.5))
			sec(metric.GraderTestRun, stats.Quantile(run, 0.5))
			sec(metric.GraderTeardown, stats.Quantile(down, 0.5))
		}
	}
	if len(httpLat) > 0 {
		sec(metric.GraderHTTPP50, stats.Quantile(httpLat, 0.5))
		sec(metric.GraderHTTPP99, stats.Quantile(httpLat, 0.99))
	}
	// At most one problem per submission: each ends its check at the first.
	res.Metrics = append(res.Metrics,
		metric.Value{Name: metric.GraderFailed, Unit: metric.Count, Value: float64(len(problems))},
		metric.Value{Name: metric.GraderSubmissions, Unit: metric.Count, Value: float64(cfg.Submissions)})
	slices.Sort(problems)
	res.Problems = problems
	return res, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// client is the load test's (and the tests') API client.
type client struct {
	base  string
	token string
	http  *http.Client
}

// do sends body as JSON and decodes a JSON answer into out (or copies it
// into a *bytes.Buffer); a non-2xx answer is an error holding its message.
func (c *client) do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		var e apiError
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		if json.Unmarshal(b, &e) == nil && e.Error != "" {
			return fmt.Errorf("HTTP %d: %s", resp.StatusCode, e.Error)
		}
		return fmt.Errorf("HTTP %d: %s", resp.StatusCode, truncate(string(b), 200))
	}
	switch o := out.(type) {
	case nil:
		_, err = io.Copy(io.Discard, resp.Body)
	case *bytes.Buffer:
		_, err = io.Copy(o, resp.Body)
	default:
		err = json.NewDecoder(resp.Body).Decode(out)
	}
	if err != nil {
		return errors.Join(fmt.Errorf("%s %s: read answer", method, path), err)
	}
	return nil
}
