// Package progress shows a run's progress on stderr: a bar on a terminal,
// one plain line per sample otherwise (CI logs, pipes).
package progress

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
	"golang.org/x/term"

	"github.com/isobench/isobench/internal/metric"
	"github.com/isobench/isobench/internal/result"
	"github.com/isobench/isobench/internal/runner"
)

// New returns a bar when w is a terminal, plain lines otherwise.
func New(w io.Writer) runner.Progress {
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		return &bar{w: w}
	}
	return &lines{w: w}
}

func announce(w io.Writer, runID string, backends []result.BackendRecord, total int) {
	for _, b := range backends {
		if b.Available {
			fmt.Fprintf(w, "backend %-14s %s %s\n", b.Name, b.Version, accelNote(b))
		} else {
			fmt.Fprintf(w, "backend %-14s unavailable: %s (fix: %s)\n", b.Name, b.Reason, b.Fix)
		}
	}
	fmt.Fprintf(w, "run %s: %d samples to take\n", runID, total)
}

func accelNote(b result.BackendRecord) string {
	if b.Accel == "tcg" {
		return "[EMULATED: tcg]"
	}
	return ""
}

func describe(s result.Sample) string {
	kind := "rep"
	if s.Warmup {
		kind = "warm-up"
	}
	if s.Error != "" {
		return fmt.Sprintf("%s %s %s %d: FAILED: %s", s.Backend, s.Workload, kind, s.Rep+1, s.Error)
	}
	dur := func(v float64) time.Duration {
		return time.Duration(v * float64(time.Second)).Round(10 * time.Microsecond)
	}
	head := fmt.Sprintf("%s %s %s %d", s.Backend, s.Workload, kind, s.Rep+1)
	if len(s.Skipped) > 0 && len(s.Metrics) == 0 {
		return head + ": n/a"
	}
	if s.Stop != "" {
		n, _ := s.Value(metric.DensityInstances)
		return fmt.Sprintf("%s: %.0f sandboxes; stopped: %s", head, n, s.Stop)
	}
	if all, ok := s.Value(metric.ScaleAllReady); ok {
		p50, _ := s.Value(metric.ScaleInstanceP50)
		failed, _ := s.Value(metric.ScaleFailed)
		return fmt.Sprintf("%s: %d at once, all ready in %s (per instance p50 %s), %.0f failed", head, len(s.Instances), dur(all), dur(p50), failed)
	}
	if p50, ok := s.Value(metric.GraderE2EP50); ok {
		n, _ := s.Value(metric.GraderSubmissions)
		rate, _ := s.Value(metric.GraderThroughput)
		sbx, _ := s.Value(metric.GraderSandboxUp)
		return fmt.Sprintf("%s: %.0f submissions graded, end-to-end p50 %s (sandbox %s), %.1f jobs/min", head, n, dur(p50), dur(sbx), rate*60)
	}
	v, _ := s.Value(metric.ColdStart)
	return fmt.Sprintf("%s: cold start %s", head, dur(v))
}

type lines struct {
	w           io.Writer
	done, total int
}

func (l *lines) Plan(runID string, backends []result.BackendRecord, total int) {
	l.total = total
	announce(l.w, runID, backends, total)
}

func (l *lines) Step(s result.Sample) {
	l.done++
	fmt.Fprintf(l.w, "[%d/%d] %s\n", l.done, l.total, describe(s))
}

func (l *lines) Finish() {}

// bar draws with mpb, which (unlike some bar libraries) pulls in no
// net/http: the agent is this same binary, and every package initialiser
// adds to each sandbox's cold start.
type bar struct {
	w    io.Writer
	p    *mpb.Progress
	b    *mpb.Bar
	name string
}

func (b *bar) Plan(runID string, backends []result.BackendRecord, total int) {
	announce(b.w, runID, backends, total)
	b.p = mpb.New(mpb.WithOutput(b.w), mpb.WithWidth(40), mpb.WithRefreshRate(150*time.Millisecond))
	b.b = b.p.AddBar(int64(total),
		mpb.PrependDecorators(decor.Any(func(decor.Statistics) string { return b.name }, decor.WCSyncSpaceR),
			decor.CountersNoUnit("%d/%d", decor.WCSyncSpace)),
		mpb.AppendDecorators(decor.Elapsed(decor.ET_STYLE_GO), decor.Name(" · eta "), decor.AverageETA(decor.ET_STYLE_GO)),
	)
}

func (b *bar) Step(s result.Sample) {
	if s.Error != "" {
		fmt.Fprintln(b.p, describe(s))
	}
	b.name = fmt.Sprintf("%s %s", s.Backend, s.Workload)
	b.b.Increment()
}

func (b *bar) Finish() {
	if b.p == nil {
		return
	}
	if !b.b.Completed() {
		b.b.Abort(false)
	}
	b.p.Wait()
}
