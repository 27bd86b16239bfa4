package main

import (
	"context"
	"strings"

	"github.com/spf13/cobra"

	"github.com/isobench/isobench/internal/evaluate"
	"github.com/isobench/isobench/internal/result"
)

func newEvaluateCommand(_ context.Context, g *globals) *cobra.Command {
	profile := "faas"
	cmd := &cobra.Command{
		Use:   "evaluate RESULTS.json...",
		Short: "Rank the measured backends for a profile of priorities (DESMET feature analysis)",
		Long: `Score every backend measured in the results against a profile: each
criterion — a measured metric of a workload, or a documented property
(isolation_boundary, syscall_surface, maturity, snapshot) — has an
importance weight; a backend scores 0 to 10 on each (measured: 10 × best /
value, or value / best where higher is better) and its total is the
weighted mean. Built-in profiles: ` + strings.Join(evaluate.BuiltinNames(), ", ") + `; or a YAML file
(docs/evaluation.md).`,
		Example: `  isobench evaluate results/today/results.json --profile grader
  isobench evaluate a.json b.json --profile my-profile.yaml`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			p, err := evaluate.LoadProfile(profile)
			if err != nil {
				return usagef("--profile: %v", err)
			}
			var runs []*result.Run
			for _, path := range args {
				run, err := readResults(path)
				if err != nil {
					return usageError{err}
				}
				runs = append(runs, run)
			}
			scores, err := evaluate.Evaluate(runs, p)
			if err != nil {
				return err
			}
			return evaluate.WriteText(g.stdout, p, scores)
		},
	}
	cmd.Flags().StringVar(&profile, "profile", profile, "built-in profile ("+strings.Join(evaluate.BuiltinNames(), ", ")+") or a YAML file")
	return cmd
}
