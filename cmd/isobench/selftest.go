package main

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/isobench/isobench/internal/backend"
	"github.com/isobench/isobench/internal/selftest"
)

type selftestOptions struct {
	backend string
	reps    int
	warmup  int
	json    bool
}

func newSelftestCommand(ctx context.Context, g *globals) *cobra.Command {
	o := &selftestOptions{}
	cmd := &cobra.Command{
		Use:   "selftest",
		Short: "Measure isobench's own overhead: its runc cold start against the bare `runc run` of the same bundle",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			if o.reps < 6 {
				return usagef("--reps: %d is too few; at least 6 are needed for a confidence interval", o.reps)
			}
			if o.warmup < 0 {
				return usagef("--warmup: %d is negative", o.warmup)
			}
			return runSelftest(ctx, g, o)
		},
	}
	cmd.Flags().StringVar(&o.backend, "backend", "runc", "OCI backend to test (runc, crun, runsc-ptrace, …)")
	cmd.Flags().IntVar(&o.reps, "reps", 30, "interleaved pairs to measure")
	cmd.Flags().IntVar(&o.warmup, "warmup", 3, "pairs to discard first")
	cmd.Flags().BoolVar(&o.json, "json", false, "print JSON")
	return cmd
}

func runSelftest(ctx context.Context, g *globals, o *selftestOptions) error {
	self, err := selfPath()
	if err != nil {
		return err
	}
	r, err := selftest.Overhead(ctx, selftest.Options{
		Backend: backend.Name(o.backend), AgentPath: self, WorkRoot: workRoot(),
		Reps: o.reps, Warmup: o.warmup, Limits: backend.Limits{CPUs: 1, MemoryBytes: 512 << 20}, Log: g.logger(),
	})
	if err != nil {
		return interrupted(ctx, err)
	}
	if o.json {
		enc := json.NewEncoder(g.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	}
	ms := func(s float64) string { return fmt.Sprintf("%.2f ms", s*1e3) }
	fmt.Fprintf(g.stdout, "harness overhead self-test: %s %s, interleaved pairs, medians (p5–p95)\n", r.Backend, r.Version)
	for _, c := range r.Comparisons {
		fmt.Fprintf(g.stdout, "\n%s mode (n=%d):\n", c.Mode, c.Bare.N)
		fmt.Fprintf(g.stdout, "  bare CLI:  %-62s %s (%s – %s)\n", c.BareCommand, ms(c.Bare.Median), ms(c.Bare.P5), ms(c.Bare.P95))
		fmt.Fprintf(g.stdout, "  isobench:  %-62s %s (%s – %s)\n", fmt.Sprintf("launch → teardown %v", c.Phases), ms(c.Isobench.Median), ms(c.Isobench.P5), ms(c.Isobench.P95))
		fmt.Fprintf(g.stdout, "             %-62s %s\n", "of which launch → agent ready (cold start)", ms(c.IsobenchCold.Median))
		verdict := "not significant"
		if c.P < c.Alpha {
			verdict = "significant"
		}
		fmt.Fprintf(g.stdout, "  ratio isobench / bare = %.3f (Mann–Whitney p=%.2g, %s at α=%.2g)\n", c.Ratio, c.P, verdict, c.Alpha)
	}
	return nil
}
