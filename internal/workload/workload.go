// Package workload holds what the agent runs inside a sandbox. Each workload
// is a small type whose parameters are fields, parsed from string
// parameters with precise errors; the agent binary is identical in every
// backend, so differences between backends come from the isolation layer.
package workload

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/isobench/isobench/internal/metric"
)

// ID names an in-sandbox workload.
type ID string

const (
	// Noop does nothing: cold start is measured around it by the host.
	Noop ID = "noop"
	// Sleep idles for "duration" (default: until cancelled): an idle
	// instance for density runs, and a hung sandbox for timeout tests.
	Sleep   ID = "sleep"
	CPUID   ID = "cpu"
	Memory  ID = "memory"
	Syscall ID = "syscall"
	Spawn   ID = "spawn"
	FileIO  ID = "fileio"
	// Exec runs a shell command on files sent with the request: an
	// autograder's job. It is driven by the grader, not by suites.
	Exec ID = "exec"
)

// Output is what a run produced: values, and for every metric the workload
// could not measure here, the reason (never a silent zero).
type Output struct {
	Values  []metric.Value
	Skipped map[metric.Name]string
	// Log is what a job (the exec workload) wrote, capped.
	Log string
}

func (o *Output) add(n metric.Name, u metric.Unit, v float64) {
	o.Values = append(o.Values, metric.Value{Name: n, Unit: u, Value: v})
}

func (o *Output) skip(n metric.Name, reason string) {
	if o.Skipped == nil {
		o.Skipped = map[metric.Name]string{}
	}
	o.Skipped[n] = reason
}

// Runner is a workload with its parameters parsed.
type Runner interface {
	Run(ctx context.Context) (Output, error)
}

// Param documents one parameter, with its full and --quick defaults.
type Param struct {
	Name    string
	Default string
	Quick   string
	Help    string
}

// Spec describes a workload: its parameters, what it measures, and how to
// parse parameters into a Runner.
type Spec struct {
	ID          ID
	Description string
	Params      []Param
	Metrics     []metric.Name
	Parse       func(p Params) (Runner, error)
	// MetricsOf, when set, gives the metrics for given parameters (the
	// workloads that measure one figure per level).
	MetricsOf func(params map[string]string) []metric.Name
}

// Defaults returns the parameter values for a full or a --quick run.
func (s Spec) Defaults(quick bool) map[string]string {
	out := map[string]string{}
	for _, p := range s.Params {
		out[p.Name] = p.Default
		if quick && p.Quick != "" {
			out[p.Name] = p.Quick
		}
	}
	return out
}

// New parses params (missing ones take their full-run defaults).
func (s Spec) New(params map[string]string) (Runner, error) {
	merged := s.Defaults(false)
	for k, v := range params {
		if !slices.ContainsFunc(s.Params, func(p Param) bool { return p.Name == k }) {
			return nil, fmt.Errorf("%s: unknown parameter %q (valid: %s)", s.ID, k, strings.Join(s.paramNames(), ", "))
		}
		merged[k] = v
	}
	return s.Parse(Params{id: s.ID, values: merged})
}

func (s Spec) paramNames() []string {
	var out []string
	for _, p := range s.Params {
		out = append(out, p.Name)
	}
	return out
}

func specs() []Spec {
	return []Spec{
		{ID: Noop, Description: "nothing (cold start is measured by the host)",
			Parse: func(Params) (Runner, error) {
				return runnerFunc(func(context.Context) (Output, error) { return Output{}, nil }), nil
			}},
		{ID: Sleep, Description: "idle until duration passes or the run is cancelled",
			Params: []Param{{Name: "duration", Default: "0", Help: "how long; 0 means until cancelled"}},
			Parse:  parseSleep},
		cpuSpec(), memorySpec(), syscallSpec(), spawnSpec(), fileioSpec(), networkSpec(), execSpec(),
		sysbenchCPUSpec(), sysbenchFileIOSpec(), fioSpec(), iperf3Spec(), oltpSpec(), httpSpec(), cijobSpec(),
	}
}

// Lookup returns the workload with the given ID.
func Lookup(id ID) (Spec, error) {
	for _, s := range specs() {
		if s.ID == id {
			return s, nil
		}
	}
	return Spec{}, fmt.Errorf("unknown workload %q (valid: %s)", id, strings.Join(IDs(), ", "))
}

// IDs lists the in-sandbox workloads in a stable order.
func IDs() []string {
	var ids []string
	for _, s := range specs() {
		ids = append(ids, string(s.ID))
	}
	return ids
}

type runnerFunc func(context.Context) (Output, error)

func (f runnerFunc) Run(ctx context.Context) (Output, error) { return f(ctx) }

func parseSleep(p Params) (Runner, error) {
	d := p.Duration("duration", 0)
	if err := p.Err(); err != nil {
		return nil, err
	}
	return runnerFunc(func(ctx context.Context) (Output, error) {
		if d == 0 {
			<-ctx.Done()
			return Output{}, ctx.Err()
		}
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
			return Output{}, nil
		case <-ctx.Done():
			return Output{}, ctx.Err()
		}
	}), nil
}
