package main

import (
	"context"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/isobench/isobench/internal/report"
	"github.com/isobench/isobench/internal/result"
)

func newReportCommand(_ context.Context, g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "report RESULTS.json...",
		Short: "Print the summary tables of saved results (\"-\" reads standard input)",
		Long: `Print the summary tables of one or more results files, as isobench run
prints them: files from interrupted or older runs work too.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			for i, path := range args {
				run, err := readResults(path)
				if err != nil {
					return err
				}
				if i > 0 {
					fmt.Fprintln(g.stdout)
				}
				if err := report.WriteText(g.stdout, run); err != nil {
					return err
				}
			}
			return nil
		},
	}
}

func readResults(path string) (*result.Run, error) {
	if path == "-" {
		return result.Read(os.Stdin, "stdin")
	}
	return result.ReadFile(path)
}
