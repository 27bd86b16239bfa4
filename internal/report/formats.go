package report

import (
	"encoding/csv"
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/perf/benchfmt"

	"github.com/isobench/isobench/internal/backend"
	"github.com/isobench/isobench/internal/metric"
	"github.com/isobench/isobench/internal/result"
	"github.com/isobench/isobench/internal/stats"
)

// Formats are the documents `isobench report --format` writes.
var Formats = []string{"text", "markdown", "csv", "benchfmt", "html"}

// Write writes run in format (one of Formats).
func Write(w io.Writer, run *result.Run, format string) error {
	switch format {
	case "text", "":
		return WriteText(w, run)
	case "markdown":
		return WriteMarkdown(w, run)
	case "csv":
		return WriteCSV(w, run)
	case "benchfmt":
		return WriteBenchfmt(w, run)
	case "html":
		return WriteHTML(w, run)
	}
	return fmt.Errorf("format %q is not one of %s", format, strings.Join(Formats, ", "))
}

// WriteCSV writes one line per workload, backend and metric with the
// summary statistics, in SI base units (seconds, bytes), for spreadsheets.
func WriteCSV(w io.Writer, run *result.Run) error {
	cw := csv.NewWriter(w)
	_ = cw.Write([]string{"run", "workload", "backend", "kind", "accel", "metric", "unit", "better", "n", "failed",
		"median", "ci_lo", "ci_hi", "confidence", "p5", "p95", "mean", "stddev", "min", "max", "skipped"})
	num := func(v float64) string {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return ""
		}
		return strconv.FormatFloat(v, 'g', 6, 64)
	}
	for _, r := range Summarize(run, stats.DefaultConfig) {
		for _, n := range rowMetrics(r) {
			info, _ := metric.Describe(n)
			line := []string{run.ID, r.Workload, string(r.Backend), string(r.Kind), string(r.Accel), string(n), string(info.Unit), string(info.Direction)}
			if s, ok := r.Metrics[n]; ok {
				line = append(line, strconv.Itoa(s.N), strconv.Itoa(r.Failed), num(s.Median), num(s.CILo), num(s.CIHi), num(s.Confidence),
					num(s.P5), num(s.P95), num(s.Mean), num(s.Stddev), num(s.Min), num(s.Max), "")
			} else {
				line = append(line, "0", strconv.Itoa(r.Failed), "", "", "", "", "", "", "", "", "", "", r.Skipped[n])
			}
			_ = cw.Write(line)
		}
	}
	cw.Flush()
	return cw.Error()
}

// rowMetrics is a row's metrics, measured then skipped, in a stable order.
func rowMetrics(r Row) []metric.Name {
	out := append([]metric.Name{}, r.Order...)
	for _, n := range sortedKeys(r.Skipped) {
		if _, ok := r.Metrics[n]; !ok {
			out = append(out, n)
		}
	}
	return out
}

// WriteMarkdown writes the run's environment and per workload a table of
// medians with the spread and the ratio to the native baseline; emulated
// rows are marked.
func WriteMarkdown(w io.Writer, run *result.Run) error {
	rows := Summarize(run, stats.DefaultConfig)
	fmt.Fprintf(w, "# isobench run %s (%s)\n\n", run.ID, run.Status)
	fmt.Fprintf(w, "- host: %s, %d CPUs, kernel %s, cgroups %s\n", run.Host.CPUModel, run.Host.CPUs, firstField(run.Host.Kernel), run.Host.CgroupLayout)
	fmt.Fprintf(w, "- limits: %.4g CPU, %s per sandbox; %d reps + %d warm-up, interleaved\n", run.Config.Limits.CPUs, formatBytes(run.Config.Limits.MemoryBytes), run.Config.Reps, run.Config.Warmup)
	if len(run.Command) > 0 {
		fmt.Fprintf(w, "- reproduce: `%s`\n", strings.Join(run.Command, " "))
	}
	for _, b := range run.Backends {
		if b.Available {
			fmt.Fprintf(w, "- %s: %s %s%s\n", b.Name, b.Kind, b.Version, emulatedNote(b.Accel))
		} else {
			fmt.Fprintf(w, "- %s: not measured: %s (fix: %s)\n", b.Name, b.Reason, b.Fix)
		}
	}
	for _, wl := range run.Config.Workloads {
		wrows := byWorkload(rows, wl)
		if len(wrows) == 0 {
			continue
		}
		fmt.Fprintf(w, "\n## %s\n\nmedian (±half-width of its 95%% CI) ×ratio to native\n\n", wl)
		for i, line := range tableCells(wrows) {
			for j := range line {
				line[j] = strings.ReplaceAll(line[j], "|", `\|`)
			}
			if i > 0 {
				line[0] = "`" + line[0] + "`"
			}
			fmt.Fprintf(w, "| %s |\n", strings.Join(line, " | "))
			if i == 0 {
				fmt.Fprintf(w, "|%s\n", strings.Repeat(" --- |", len(line)))
			}
		}
		for _, r := range wrows {
			if r.Failed > 0 {
				fmt.Fprintf(w, "\nFAILED %s: %d of %d samples: %s\n", r.Backend, r.Failed, r.Samples, firstError(r))
			}
		}
	}
	return writeMarkdownReference(w, rows)
}

// writeMarkdownReference shows the published evaluation's ratios to bare
// metal beside this run's ratios to the native process, for the tests
// both ran.
func writeMarkdownReference(w io.Writer, rows []Row) error {
	shown, ref, err := referenceRows(rows)
	if err != nil {
		return err
	}
	if len(shown) == 0 {
		return nil
	}
	fmt.Fprintf(w, "\n## Published reference (other hardware)\n\n%s. %s. Ratios are to their bare metal and to our native process; boot compares times.\n\n| test | platform | theirs | our backend | ours |\n| --- | --- | --- | --- | --- |\n", ref.Source, ref.Hardware)
	for _, r := range shown {
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s |\n", r.Test, r.Platform, r.Theirs, r.Ours, r.Mine)
	}
	return nil
}

func emulatedNote(a backend.Accel) string {
	if a == backend.AccelTCG {
		return " (EMULATED)"
	}
	return ""
}

// WriteBenchfmt writes every measured sample in the Go benchmark format
// (golang.org/x/perf/benchfmt), one result per sample named after the
// workload with the backend as a sub-name key, so that benchstat compares
// isobench runs: `benchstat old.txt new.txt`. Each metric is a value
// whose unit is the metric's name and unit; its direction is declared as
// unit metadata.
func WriteBenchfmt(w io.Writer, run *result.Run) error {
	bw := benchfmt.NewWriter(w)
	cfg := []benchfmt.Config{
		{Key: "isobench-run", Value: []byte(run.ID), File: true},
		{Key: "cpu", Value: []byte(run.Host.CPUModel), File: true},
		{Key: "kernel", Value: []byte(firstField(run.Host.Kernel)), File: true},
	}
	declared := map[string]bool{}
	for _, s := range run.Samples {
		if s.Warmup || s.Error != "" || len(s.Metrics) == 0 {
			continue
		}
		res := &benchfmt.Result{Config: slices.Clone(cfg), Name: benchfmt.Name(benchName(s)), Iters: 1}
		for _, m := range s.Metrics {
			info, _ := metric.Describe(m.Name)
			unit := benchUnit(m.Name, info.Unit)
			if !declared[unit] {
				declared[unit] = true
				better := "lower"
				if info.Direction == metric.HigherIsBetter {
					better = "higher"
				}
				if err := bw.Write(&benchfmt.UnitMetadata{UnitMetadataKey: benchfmt.UnitMetadataKey{Unit: unit, Key: "better"}, OrigUnit: unit, Value: better}); err != nil {
					return err
				}
			}
			res.Values = append(res.Values, benchfmt.Value{Value: m.Value, Unit: unit})
		}
		if err := bw.Write(res); err != nil {
			return err
		}
	}
	return nil
}

// benchName is "Coldstart/backend=runc" (benchmark names start upper-case;
// "/" separates sub-name keys, so accel joins the backend's key).
func benchName(s result.Sample) string {
	w := strings.NewReplacer("-", "_", ".", "_").Replace(s.Workload)
	name := strings.ToUpper(w[:1]) + w[1:] + "/backend=" + string(s.Backend)
	if s.Accel == backend.AccelTCG {
		name += "/accel=tcg"
	}
	return name
}

// benchUnit names a metric's value for benchstat: the metric, then its
// unit ("coldstart-sec", "network.tcp_up-B/s"); spaces are not allowed.
func benchUnit(n metric.Name, u metric.Unit) string {
	return strings.ReplaceAll(string(n)+"-"+string(u), " ", "_")
}

func sortedKeys(m map[metric.Name]string) []metric.Name {
	return slices.Sorted(maps.Keys(m))
}
