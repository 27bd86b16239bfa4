package main

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/isobench/isobench/internal/report"
	"github.com/isobench/isobench/internal/result"
)

func newReportCommand(_ context.Context, g *globals) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "report RESULTS.json...",
		Short: "Print the summary tables of saved results (\"-\" reads standard input)",
		Long: `Print the summary tables of one or more results files, as isobench run
prints them: files from interrupted or older runs work too.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			if !slices.Contains(report.Formats, format) {
				return usagef("--format: %q is not one of %s", format, strings.Join(report.Formats, ", "))
			}
			for i, path := range args {
				run, err := readResults(path)
				if err != nil {
					return err
				}
				if i > 0 && format != "csv" && format != "benchfmt" {
					fmt.Fprintln(g.stdout)
				}
				if err := report.Write(g.stdout, run, format); err != nil {
					return err
				}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&format, "format", "text", "output format: "+strings.Join(report.Formats, ", ")+" (benchfmt: the Go benchmark format, for benchstat)")
	return cmd
}

func readResults(path string) (*result.Run, error) {
	if path == "-" {
		return result.Read(os.Stdin, "stdin")
	}
	return result.ReadFile(path)
}
