package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/isobench/isobench/internal/compare"
	"github.com/isobench/isobench/internal/result"
)

// errRegression makes `compare --fail-on-regression` exit 1.
var errRegression = errors.New("regression")

func newCompareCommand(_ context.Context, g *globals) *cobra.Command {
	o := compare.Defaults
	var failOnRegression bool
	cmd := &cobra.Command{
		Use:   "compare OLD NEW",
		Short: "Compare two sets of results, metric by metric, with a significance test",
		Long: `Compare the measured samples of OLD and NEW (each a results file, or
several joined with commas, e.g. the A and B halves of interleaved runs):
per workload, backend and metric the medians, the change, and a
Mann–Whitney U test. A change counts only when the test rejects "same
distribution" (p < --alpha) and the medians differ by at least
--threshold; it is better or WORSE by the metric's direction.`,
		Example: `  isobench compare results/monday/results.json results/today/results.json
  isobench compare a1.json,a2.json b1.json,b2.json --fail-on-regression`,
		Args: cobra.ExactArgs(2),
		RunE: func(_ *cobra.Command, args []string) error {
			if !(o.Alpha > 0 && o.Alpha < 1) {
				return usagef("--alpha: %g is not between 0 and 1 (e.g. 0.05)", o.Alpha)
			}
			if !(o.Threshold >= 0 && o.Threshold < 10) {
				return usagef("--threshold: %g is not a fraction such as 0.05 (5%%)", o.Threshold)
			}
			old, err := readSide(args[0])
			if err != nil {
				return err
			}
			new, err := readSide(args[1])
			if err != nil {
				return err
			}
			cs := compare.Runs(old, new, o)
			if len(cs) == 0 {
				return fmt.Errorf("compare: no measured samples in %s or %s", args[0], args[1])
			}
			if err := compare.WriteText(g.stdout, cs, compare.HostDifferences(old, new), o); err != nil {
				return err
			}
			if regs := compare.Regressions(cs); failOnRegression && len(regs) > 0 {
				var names []string
				for _, r := range regs {
					names = append(names, fmt.Sprintf("%s %s %s %+.1f%%", r.Backend, r.Workload, r.Metric, 100*r.Delta))
				}
				return fmt.Errorf("%w: %s", errRegression, strings.Join(names, "; "))
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.Float64Var(&o.Alpha, "alpha", o.Alpha, "significance level of the Mann–Whitney U test")
	f.Float64Var(&o.Threshold, "threshold", o.Threshold, "smallest relative change of the median that counts (0.05 = 5%)")
	f.BoolVar(&failOnRegression, "fail-on-regression", false, "exit 1 when any metric got significantly worse (for CI)")
	return cmd
}

// readSide reads one side of a comparison: files joined with commas.
func readSide(arg string) ([]*result.Run, error) {
	var runs []*result.Run
	for _, path := range strings.Split(arg, ",") {
		if path == "" {
			continue
		}
		run, err := readResults(path)
		if err != nil {
			return nil, usageError{err}
		}
		runs = append(runs, run)
	}
	if len(runs) == 0 {
		return nil, usagef("compare: %q names no results file", arg)
	}
	return runs, nil
}
