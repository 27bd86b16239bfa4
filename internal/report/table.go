package report

import (
	"bytes"
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/isobench/isobench/internal/backend"
	"github.com/isobench/isobench/internal/metric"
	"github.com/isobench/isobench/internal/result"
	"github.com/isobench/isobench/internal/stats"
	"github.com/isobench/isobench/internal/suite"
)

// WriteText writes the terminal summary of a run: per workload a table of
// medians with their spread, the cold-start phases, and every backend that
// was not measured with its reason.
func WriteText(w io.Writer, run *result.Run) error {
	rows := Summarize(run, stats.DefaultConfig)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "isobench %s · run %s · %s · limits %.4g CPU, %s per sandbox · %d reps + %d warm-up, interleaved · OCI launch %s\n",
		run.Isobench.Version, run.ID, run.Status, run.Config.Limits.CPUs, formatBytes(run.Config.Limits.MemoryBytes), run.Config.Reps, run.Config.Warmup, run.Config.LaunchMode)
	if run.Config.Quick {
		fmt.Fprintf(tw, "--quick: smaller sizes and shorter durations than the full suite (and the reference evaluation); for a first look, not for comparison with published figures\n")
	}
	fmt.Fprintf(tw, "host: %s\n", hostLine(run))
	if gi := guestImageLine(run); gi != "" {
		fmt.Fprintf(tw, "guest image: %s\n", gi)
	}
	fmt.Fprintln(tw)

	for _, wl := range run.Config.Workloads {
		wrows := byWorkload(rows, wl)
		if len(wrows) == 0 {
			continue
		}
		switch wl {
		case string(suite.ColdStart):
			writeColdStart(tw, wl+": launch → agent ready", wrows)
			writePhases(tw, wrows)
		case string(suite.Restore):
			writeColdStart(tw, wl+": restore from a snapshot → agent answers", wrows)
			writePhases(tw, wrows)
			writeWorkload(tw, wl, wrows, run.Config.Quick)
		case string(suite.Density):
			writeWorkload(tw, wl, wrows, run.Config.Quick)
			writeDensityCurves(tw, run)
		default:
			writeWorkload(tw, wl, wrows, run.Config.Quick)
		}
	}
	writeUnavailable(tw, run)
	for _, warn := range run.Warnings {
		fmt.Fprintf(tw, "warning: %s\n", warn)
	}
	return tw.Flush()
}

func writeColdStart(tw *tabwriter.Writer, title string, rows []Row) {
	fmt.Fprintf(tw, "%s (median, 95%% CI of the median, p5–p95)\n", title)
	cs := column(rows, metric.ColdStart)
	td := column(rows, metric.LaunchToTeardown)
	fmt.Fprintf(tw, "BACKEND\tKIND\tACCEL\tN\tCOLD START\t95%% CI\tP5–P95\tLAUNCH→TEARDOWN\tFAILED\n")
	for _, r := range rows {
		s, ok := r.Metrics[metric.ColdStart]
		t := r.Metrics[metric.LaunchToTeardown]
		if !ok && r.Failed == 0 && r.Skipped[metric.ColdStart] != "" {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\tn/a\t\t\t\t%s\n", r.Backend, r.Kind, accelLabel(r.Accel), 0, r.Skipped[metric.ColdStart])
			continue
		}
		if !ok {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t—\t\t\t\t%d: %s\n", r.Backend, r.Kind, accelLabel(r.Accel), 0, r.Failed, firstError(r))
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\n", r.Backend, r.Kind, accelLabel(r.Accel), s.N,
			cs.format(s.Median), cs.interval(s.CILo, s.CIHi), cs.interval(s.P5, s.P95), td.format(t.Median), failedCell(r))
	}
	fmt.Fprintln(tw)
}

func writePhases(tw *tabwriter.Writer, rows []Row) {
	var phases []metric.Name
	seen := map[metric.Name]bool{}
	for _, r := range rows {
		for _, n := range r.Order {
			if strings.HasPrefix(string(n), metric.PhasePrefix) && !seen[n] {
				seen[n] = true
				phases = append(phases, n)
			}
		}
	}
	if len(phases) == 0 {
		return
	}
	extra := []metric.Name{metric.GuestKernelBoot, metric.AgentStartToReady, metric.LaunchToAgentMain}
	fmt.Fprintf(tw, "phases (median; each from the previous mark; — = not a phase of that backend)\n")
	fmt.Fprintf(tw, "BACKEND")
	for _, p := range phases {
		fmt.Fprintf(tw, "\t%s", strings.ToUpper(strings.TrimPrefix(string(p), metric.PhasePrefix)))
	}
	fmt.Fprintf(tw, "\tGUEST KERNEL BOOT\tAGENT START→READY\tLAUNCH→AGENT MAIN\n")
	cols := map[metric.Name]scale{}
	for _, n := range append(phases, extra...) {
		cols[n] = column(rows, n)
	}
	for _, r := range rows {
		fmt.Fprintf(tw, "%s", r.Backend)
		for _, n := range append(phases, extra...) {
			if s, ok := r.Metrics[n]; ok {
				fmt.Fprintf(tw, "\t%s", cols[n].format(s.Median))
			} else {
				fmt.Fprintf(tw, "\t—")
			}
		}
		fmt.Fprintln(tw)
	}
	fmt.Fprintln(tw)
}

func writeUnavailable(tw *tabwriter.Writer, run *result.Run) {
	first := true
	for _, b := range run.Backends {
		if b.Available {
			continue
		}
		if first {
			fmt.Fprintln(tw, "not measured:")
			first = false
		}
		fix := ""
		if b.Fix != "" {
			fix = " — fix: " + b.Fix
		}
		fmt.Fprintf(tw, "  %s: %s%s\n", b.Name, b.Reason, fix)
	}
	if !first {
		fmt.Fprintln(tw)
	}
}

// accelLabel marks emulated rows in every table.
func accelLabel(a backend.Accel) string {
	if a == backend.AccelTCG {
		return "tcg (EMULATED)"
	}
	return string(a)
}

func failedCell(r Row) string {
	if r.Failed == 0 {
		return "0"
	}
	return fmt.Sprintf("%d: %s", r.Failed, firstError(r))
}

func firstError(r Row) string {
	if len(r.Errors) == 0 {
		return ""
	}
	e := r.Errors[0]
	if len(e) > 100 {
		e = e[:100] + "…"
	}
	return e
}

// scale is one column's display unit: one prefix per column, chosen from
// its values, so that rows compare at a glance.
type scale struct {
	div  float64
	unit string
}

func column(rows []Row, n metric.Name) scale {
	maxv := 0.0
	for _, r := range rows {
		if s, ok := r.Metrics[n]; ok && !math.IsNaN(s.Median) {
			maxv = math.Max(maxv, math.Abs(s.Median))
		}
	}
	switch {
	case maxv >= 10:
		return scale{1, "s"}
	case maxv >= 10e-3:
		return scale{1e-3, "ms"}
	default:
		return scale{1e-6, "µs"}
	}
}

func (c scale) format(v float64) string {
	if math.IsNaN(v) {
		return "—"
	}
	x := v / c.div
	switch {
	case math.Abs(x) >= 100:
		return fmt.Sprintf("%.0f %s", x, c.unit)
	case math.Abs(x) >= 10:
		return fmt.Sprintf("%.1f %s", x, c.unit)
	default:
		return fmt.Sprintf("%.2f %s", x, c.unit)
	}
}

func (c scale) interval(lo, hi float64) string {
	if math.IsInf(lo, 0) || math.IsInf(hi, 0) || math.IsNaN(lo) || math.IsNaN(hi) {
		return "n too small"
	}
	return fmt.Sprintf("%s – %s", strings.TrimSuffix(c.format(lo), " "+c.unit), c.format(hi))
}

func formatBytes(b int64) string {
	switch {
	case b >= 1<<30 && b%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", b>>30)
	case b >= 1<<20:
		return fmt.Sprintf("%.4g MiB", float64(b)/(1<<20))
	default:
		return fmt.Sprintf("%d B", b)
	}
}

// hostLine summarises the host: CPU, CPU count, kernel, cgroup layout.
func hostLine(run *result.Run) string {
	return fmt.Sprintf("%s · %d CPUs · kernel %s · cgroups %s", run.Host.CPUModel, run.Host.CPUs, firstField(run.Host.Kernel), run.Host.CgroupLayout)
}

func firstField(s string) string {
	if f := strings.Fields(s); len(f) > 0 {
		return f[0]
	}
	return s
}

// WriteFile writes run in format to path atomically (a temp file renamed),
// so a reader never sees half a report.
func WriteFile(path string, run *result.Run, format string) error {
	var b bytes.Buffer
	if err := Write(&b, run, format); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b.Bytes(), 0o644); err != nil {
		return fmt.Errorf("write %s report: %w", format, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s report: %w", format, err)
	}
	return nil
}

// writeWorkload prints one row per metric and one column per backend:
// median ± half the 95% CI in percent, and the ratio to the native
// baseline where there is one.
func writeWorkload(tw *tabwriter.Writer, workload string, rows []Row, quick bool) {
	// The workload's own order first, then anything else it reported.
	var names, declared []metric.Name
	s := suite.Defaults()
	s.Quick = quick // the sizes, and with them the levels, the run measured
	if w, err := s.Workload(workload); err == nil {
		declared = w.Metrics
	}
	seen := map[metric.Name]bool{}
	for _, r := range append([]Row{{Order: declared}}, rows...) {
		for _, n := range append(slices.Clone(r.Order), slices.Sorted(maps.Keys(r.Skipped))...) {
			if !seen[n] && !isColdStartMetric(n) {
				seen[n] = true
				names = append(names, n)
			}
		}
	}
	var base *Row
	for i := range rows {
		if rows[i].Kind == backend.KindProcess {
			base = &rows[i]
		}
	}
	fmt.Fprintf(tw, "%s: median ±95%% CI of the median, (×native)\n", workload)
	fmt.Fprintf(tw, "METRIC\tBETTER")
	for _, r := range rows {
		fmt.Fprintf(tw, "\t%s", r.Backend)
		if r.Accel == backend.AccelTCG {
			fmt.Fprintf(tw, " (EMULATED)")
		}
	}
	fmt.Fprintln(tw)
	// Identical reasons on one backend share one note.
	var notes []string
	noteOf := map[string]int{}
	for _, n := range names {
		info, _ := metric.Describe(n)
		fmt.Fprintf(tw, "%s\t%s", n, info.Direction)
		sc := unitScale(rows, n, info.Unit)
		for _, r := range rows {
			s, ok := r.Metrics[n]
			switch {
			case ok:
				cell := sc.format(s.Median) + " " + pctRange(s)
				if base != nil && r.Backend != base.Backend {
					// A ratio to a baseline that is zero or noise around it
					// (MemAvailable drops of a native process) means nothing.
					if b, ok := base.Metrics[n]; ok && b.Median > 0 && s.Median > 0 && !metric.NoisyBaseline(n) {
						cell += fmt.Sprintf(" (×%.2f)", s.Median/b.Median)
					}
				}
				fmt.Fprintf(tw, "\t%s", cell)
			case r.Skipped[n] != "":
				key := string(r.Backend) + "\x00" + r.Skipped[n]
				if _, ok := noteOf[key]; !ok {
					notes = append(notes, fmt.Sprintf("[%d] %s: %s", len(notes)+1, r.Backend, r.Skipped[n]))
					noteOf[key] = len(notes)
				}
				fmt.Fprintf(tw, "\tn/a [%d]", noteOf[key])
			default:
				fmt.Fprintf(tw, "\t—")
			}
		}
		fmt.Fprintln(tw)
	}
	for _, r := range rows {
		if r.Failed > 0 {
			notes = append(notes, fmt.Sprintf("FAILED %s: %d of %d samples: %s", r.Backend, r.Failed, r.Samples, firstError(r)))
		}
	}
	for _, n := range notes {
		fmt.Fprintln(tw, n)
	}
	fmt.Fprintln(tw)
}

func isColdStartMetric(n metric.Name) bool {
	switch n {
	case metric.ColdStart, metric.LaunchToTeardown, metric.AgentStartToReady, metric.LaunchToAgentMain, metric.GuestKernelBoot:
		return true
	}
	return strings.HasPrefix(string(n), metric.PhasePrefix)
}

// pctRange is half the width of the median's 95% CI, as a percentage.
func pctRange(s stats.Summary) string {
	if math.IsInf(s.CILo, 0) || math.IsInf(s.CIHi, 0) || s.Median == 0 {
		return "±?"
	}
	return fmt.Sprintf("±%.0f%%", 100*(s.CIHi-s.CILo)/2/math.Abs(s.Median))
}

// unitScale picks one display prefix for a metric's row.
func unitScale(rows []Row, n metric.Name, u metric.Unit) scale {
	if u == metric.Seconds {
		maxv := 0.0
		for _, r := range rows {
			if s, ok := r.Metrics[n]; ok && !math.IsNaN(s.Median) {
				maxv = math.Max(maxv, s.Median)
			}
		}
		switch {
		case maxv >= 1:
			return scale{1, "s"}
		case maxv >= 1e-3:
			return scale{1e-3, "ms"}
		case maxv >= 1e-6:
			return scale{1e-6, "µs"}
		default:
			return scale{1e-9, "ns"}
		}
	}
	maxv := 0.0
	for _, r := range rows {
		if s, ok := r.Metrics[n]; ok && !math.IsNaN(s.Median) {
			maxv = math.Max(maxv, s.Median)
		}
	}
	unit := map[metric.Unit]string{metric.BytesPerSec: "B/s", metric.OpsPerSec: "/s", metric.Bytes: "B"}[u]
	switch {
	case maxv >= 1e9:
		return scale{1e9, "G" + unit}
	case maxv >= 1e6:
		return scale{1e6, "M" + unit}
	case maxv >= 1e3:
		return scale{1e3, "k" + unit}
	default:
		return scale{1, unit}
	}
}

// writeDensityCurves prints each backend's density curve: instances
// against the memory they take and the launch time of each batch.
func writeDensityCurves(tw *tabwriter.Writer, run *result.Run) {
	for _, smp := range run.Samples {
		if smp.Workload != string(suite.Density) || len(smp.Curve) == 0 {
			continue
		}
		label := string(smp.Backend)
		if smp.Accel == backend.AccelTCG {
			label += " (EMULATED)"
		}
		fmt.Fprintf(tw, "density curve, %s: stopped: %s\n", label, smp.Stop)
		fmt.Fprintln(tw, "INSTANCES\tMEMAVAILABLE DROP\tSUMMED PSS\tBATCH LAUNCH P50\tBATCH LAUNCH MAX\tFAILED")
		for _, p := range smp.Curve {
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%d\n", p.Instances, formatMiB(p.MemUsed), formatMiB(p.PSS),
				formatSeconds(p.LaunchP50), formatSeconds(p.LaunchMax), p.Failed)
		}
		fmt.Fprintln(tw)
	}
}

// formatMiB keeps the sign: a MemAvailable "drop" may be negative noise.
func formatMiB(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

func formatSeconds(s float64) string {
	if s == 0 {
		return "—"
	}
	return time.Duration(s * float64(time.Second)).Round(100 * time.Microsecond).String()
}

// guestImageLine describes the image the tool workloads ran from, with the
// versions of the tools that set the figures.
func guestImageLine(run *result.Run) string {
	gi := run.Config.GuestImage
	if gi == nil {
		return ""
	}
	var tools []string
	for _, p := range []string{"sysbench", "fio", "iperf3", "mariadb-server", "nginx-light", "g++", "valgrind"} {
		if v := gi.Packages[p]; v != "" {
			tools = append(tools, p+" "+v)
		}
	}
	short := gi.Digest
	if len(short) > 12 {
		short = short[:12]
	}
	return fmt.Sprintf("%s@%s (Debian %s; %s)", gi.Preset, short, gi.Release, strings.Join(tools, ", "))
}
