package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/isobench/isobench/internal/history"
	"github.com/isobench/isobench/internal/metric"
	"github.com/isobench/isobench/internal/report"
	"github.com/isobench/isobench/internal/suite"
)

func newHistoryCommand(_ context.Context, g *globals) *cobra.Command {
	var dir string
	open := func() (*history.Store, error) {
		if dir == "" {
			d, err := history.DefaultDir()
			if err != nil {
				return nil, err
			}
			dir = d
		}
		return history.Open(dir)
	}
	cmd := &cobra.Command{
		Use:   "history",
		Short: "Every run so far: list, show, a metric's trend over runs, prune",
		Long: `isobench run stores every run in the history (default
$XDG_DATA_HOME/isobench/history or ~/.local/share/isobench/history; --history DIR):
a copy of its results and a summary line with its medians.`,
	}
	cmd.PersistentFlags().StringVar(&dir, "history", "", "history directory (default $XDG_DATA_HOME/isobench/history)")

	list := &cobra.Command{
		Use: "list", Short: "List the stored runs, oldest first", Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			s, err := open()
			if err != nil {
				return err
			}
			entries, err := s.List()
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(g.stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "RUN\tSTARTED\tSTATUS\tBACKENDS\tWORKLOADS\tHOST")
			for _, e := range entries {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s %s\n", e.ID, e.StartedAt.UTC().Format(time.DateTime), e.Status,
					strings.Join(e.Backends, ","), strings.Join(e.Workloads, ","), e.Host, e.Kernel)
			}
			return tw.Flush()
		},
	}
	var format string
	show := &cobra.Command{
		Use: "show RUN", Short: "Print a stored run's report (--format as for isobench report)", Args: cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			s, err := open()
			if err != nil {
				return err
			}
			run, err := s.Get(args[0])
			if err != nil {
				return usageError{err}
			}
			return report.Write(g.stdout, run, format)
		},
	}
	show.Flags().StringVar(&format, "format", "text", "output format: "+strings.Join(report.Formats, ", "))
	var workload, backendName, metricName string
	trend := &cobra.Command{
		Use: "trend --backend B --metric M [--workload W]", Short: "A metric's median over the stored runs, oldest first", Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			if backendName == "" || metricName == "" {
				return usagef("trend: --backend and --metric are required (e.g. --backend runc --metric coldstart)")
			}
			if workload == "" {
				// cpu.events_per_sec → cpu; cold-start metrics → coldstart.
				workload = string(suite.ColdStart)
				if prefix, _, ok := strings.Cut(metricName, "."); ok && slices.Contains(suite.WorkloadNames(), prefix) {
					workload = prefix
				}
			}
			s, err := open()
			if err != nil {
				return err
			}
			points, err := s.Trend(workload, backendName, metricName)
			if err != nil {
				return err
			}
			if len(points) == 0 {
				entries, _ := s.List()
				return usagef("trend: no stored run measured %s (stored: %s)", history.Key(workload, backendName, metricName), strings.Join(history.Keys(entries), ", "))
			}
			info, _ := metric.Describe(metric.Name(metricName))
			tw := tabwriter.NewWriter(g.stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintf(tw, "%s on %s (%s is better), median per run\n", history.Key(workload, backendName, metricName), backendName, info.Direction)
			fmt.Fprintln(tw, "RUN\tSTARTED\tMEDIAN\tVS FIRST")
			for _, p := range points {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%+.1f%%\n", p.Entry.ID, p.Entry.StartedAt.UTC().Format(time.DateTime),
					metric.Format(p.Median, info.Unit), 100*(p.Median/points[0].Median-1))
			}
			return tw.Flush()
		},
	}
	trend.Flags().StringVar(&workload, "workload", "", "workload (default: the metric's own, or coldstart for cold-start metrics)")
	trend.Flags().StringVar(&backendName, "backend", "", "backend")
	trend.Flags().StringVar(&metricName, "metric", "", "metric, e.g. coldstart or cpu.events_per_sec")
	var keep int
	var olderThan time.Duration
	prune := &cobra.Command{
		Use: "prune (--keep N | --older-than DURATION)", Short: "Remove old runs from the history", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !cmd.Flags().Changed("keep") && !cmd.Flags().Changed("older-than") {
				return usagef("prune: give --keep N (newest runs to keep) or --older-than DURATION (e.g. 720h)")
			}
			if cmd.Flags().Changed("keep") && keep < 0 {
				return usagef("prune: --keep %d is negative", keep)
			}
			if !cmd.Flags().Changed("keep") {
				keep = -1
			}
			var before time.Time
			if cmd.Flags().Changed("older-than") {
				if olderThan <= 0 {
					return usagef("prune: --older-than %s is not positive", olderThan)
				}
				before = time.Now().Add(-olderThan)
			}
			s, err := open()
			if err != nil {
				return err
			}
			removed, err := s.Prune(keep, before)
			for _, e := range removed {
				fmt.Fprintf(g.stdout, "removed %s (%s)\n", e.ID, e.StartedAt.UTC().Format(time.DateTime))
			}
			return err
		},
	}
	prune.Flags().IntVar(&keep, "keep", 0, "keep the newest N runs")
	prune.Flags().DurationVar(&olderThan, "older-than", 0, "remove runs started longer ago than this")
	add := &cobra.Command{
		Use: "add RESULTS.json...", Short: "Store results files (isobench run does this itself)", Args: cobra.MinimumNArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			s, err := open()
			if err != nil {
				return err
			}
			for _, path := range args {
				run, err := readResults(path)
				if err != nil {
					return usageError{err}
				}
				if _, err := s.Add(run); err != nil {
					return err
				}
				fmt.Fprintf(g.stdout, "stored %s\n", run.ID)
			}
			return nil
		},
	}
	cmd.AddCommand(list, show, trend, prune, add)
	return cmd
}
