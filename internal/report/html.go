package report

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/isobench/isobench/internal/backend"
	"github.com/isobench/isobench/internal/metric"
	"github.com/isobench/isobench/internal/result"
	"github.com/isobench/isobench/internal/stats"
	"github.com/isobench/isobench/internal/suite"
)

// chartJS is Chart.js 4.6.1 (MIT, assets/chart.js-LICENSE.md), embedded so
// that a report needs no network to be viewed.
//
//go:embed assets/chart.umd.min.js
var chartJS string

//go:embed assets/report.js
var reportJS string

//go:embed assets/report.html.tmpl
var reportTemplate string

// htmlTemplate is parsed on first use, not at package initialisation: the
// agent in every sandbox is this binary, and each initialiser adds to
// every cold start.
var htmlTemplate = sync.OnceValue(func() *template.Template {
	return template.Must(template.New("report").Parse(reportTemplate))
})

// chartSpec is one chart for assets/report.js to draw.
type chartSpec struct {
	ID     string `json:"id"`
	Kind   string `json:"kind"` // range (median and p5–p95 per backend), stacked, line, xy
	Title  string `json:"title"`
	Unit   string `json:"unit"`
	Log    bool   `json:"log,omitempty"`
	Better string `json:"better,omitempty"`
	// Labels are the x categories (backends, or concurrency levels).
	Labels   []string       `json:"labels,omitempty"`
	Datasets []chartDataset `json:"datasets"`
}

type chartDataset struct {
	Label string `json:"label"`
	// Data: numbers (one per label), [lo, hi] pairs (range bars), or
	// {x, y} points (xy charts); null where there is no value.
	Data     []any `json:"data"`
	Emulated bool  `json:"emulated,omitempty"`
}

type htmlBackend struct {
	Name, Kind, Accel, Version, Reason, Fix string
	Available, Emulated                     bool
	Notes                                   []string
}

type htmlSection struct {
	Name   string
	Table  [][]string // header row first
	Charts []chartSpec
	Notes  []string
}

type htmlPage struct {
	Run    *result.Run
	Host   string
	Limits string
	// GuestImage describes the tool workloads' image ("" without one).
	GuestImage string
	Command    string
	Backends   []htmlBackend
	Sections   []htmlSection
	Charts     template.JS // every chart spec, JSON
	// Reference: the published evaluation's ratios beside ours.
	Reference       []referenceRow
	ReferenceSource string
	ChartJS         template.JS
	ReportJS        template.JS
}

// WriteHTML writes a self-contained HTML report: the environment, the
// command that reproduces the run, and per workload a table and charts —
// median with p5–p95 per backend (log scale where values span decades),
// cold-start phases as stacked bars, concurrency and density curves.
// Emulated (TCG) backends are marked everywhere. The same run always gives
// the same bytes.
func WriteHTML(w io.Writer, run *result.Run) error {
	rows := Summarize(run, stats.DefaultConfig)
	p := htmlPage{Run: run, ChartJS: template.JS(chartJS), ReportJS: template.JS(reportJS),
		Host:    hostLine(run),
		Limits:  fmt.Sprintf("%.4g CPU, %s per sandbox · %d reps + %d warm-up, interleaved", run.Config.Limits.CPUs, formatBytes(run.Config.Limits.MemoryBytes), run.Config.Reps, run.Config.Warmup),
		Command: strings.Join(run.Command, " "), GuestImage: guestImageLine(run)}
	for _, b := range run.Backends {
		p.Backends = append(p.Backends, htmlBackend{Name: string(b.Name), Kind: string(b.Kind), Accel: string(b.Accel), Version: b.Version,
			Available: b.Available, Reason: b.Reason, Fix: b.Fix, Emulated: b.Accel == backend.AccelTCG, Notes: b.Notes})
	}
	var all []chartSpec
	var scaleRows []Row
	for _, wl := range run.Config.Workloads {
		wrows := byWorkload(rows, wl)
		if len(wrows) == 0 {
			continue
		}
		if strings.HasPrefix(wl, string(suite.Scale)+"-x") {
			scaleRows = append(scaleRows, wrows...)
		}
		sec := htmlSection{Name: wl, Table: tableCells(wrows)}
		for i, n := range sectionMetrics(wrows) {
			sec.Charts = append(sec.Charts, rangeChart(fmt.Sprintf("c-%s-%d", wl, i), wrows, n))
		}
		if wl == string(suite.ColdStart) || wl == string(suite.Restore) {
			if c, ok := phaseChart("c-"+wl+"-phases", wrows); ok {
				sec.Charts = append([]chartSpec{c}, sec.Charts...)
			}
		}
		if wl == string(suite.Density) {
			sec.Charts = append(sec.Charts, densityCharts(run)...)
		}
		if wl == string(suite.Grader) {
			if c, ok := stackedChart("c-grader-phases", "a submission's phases (medians): queue, sandbox, run, teardown", wrows, graderPhases, "grader."); ok {
				sec.Charts = append([]chartSpec{c}, sec.Charts...)
			}
		}
		for _, r := range wrows {
			if r.Failed > 0 {
				sec.Notes = append(sec.Notes, fmt.Sprintf("FAILED %s: %d of %d samples: %s", r.Backend, r.Failed, r.Samples, firstError(r)))
			}
		}
		all = append(all, sec.Charts...)
		p.Sections = append(p.Sections, sec)
	}
	if len(scaleRows) > 0 {
		sec := htmlSection{Name: "scale: growth with concurrency", Charts: scaleCharts(scaleRows)}
		all = append(all, sec.Charts...)
		p.Sections = append(p.Sections, sec)
	}
	refRows, ref, err := referenceRows(rows)
	if err != nil {
		return err
	}
	p.Reference = refRows
	p.ReferenceSource = ref.Source + ". " + ref.Hardware + "."
	js, err := json.Marshal(all)
	if err != nil {
		return fmt.Errorf("html report: %w", err)
	}
	p.Charts = template.JS(js)
	return htmlTemplate().Execute(w, p)
}

// sectionMetrics are the metrics charted per workload: the cold start for
// every workload, and the workload's own metrics.
func sectionMetrics(rows []Row) []metric.Name {
	var out []metric.Name
	seen := map[metric.Name]bool{}
	for _, r := range rows {
		for _, n := range r.Order {
			if seen[n] || strings.HasPrefix(string(n), metric.PhasePrefix) || n == metric.LaunchToAgentMain || n == metric.AgentStartToReady {
				continue
			}
			seen[n] = true
			out = append(out, n)
		}
	}
	return out
}

func label(r Row) string {
	if r.Accel == backend.AccelTCG {
		return string(r.Backend) + " (EMULATED)"
	}
	return string(r.Backend)
}

// display converts a metric's SI values to the unit its chart shows.
func display(u metric.Unit) (string, float64) {
	switch u {
	case metric.Seconds:
		return "ms", 1e3
	case metric.Bytes:
		return "MiB", 1.0 / (1 << 20)
	case metric.BytesPerSec:
		return "MiB/s", 1.0 / (1 << 20)
	case metric.OpsPerSec:
		return "/s", 1
	}
	return string(u), 1
}

// rangeChart is a metric's median and p5–p95 per backend.
func rangeChart(id string, rows []Row, n metric.Name) chartSpec {
	info, _ := metric.Describe(n)
	unit, f := display(info.Unit)
	c := chartSpec{ID: id, Kind: "range", Title: string(n), Unit: unit, Better: string(info.Direction)}
	spread := chartDataset{Label: "p5–p95"}
	median := chartDataset{Label: "median"}
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, r := range rows {
		c.Labels = append(c.Labels, label(r))
		s, ok := r.Metrics[n]
		if !ok {
			spread.Data = append(spread.Data, nil)
			median.Data = append(median.Data, nil)
			continue
		}
		spread.Data = append(spread.Data, []float64{round(s.P5 * f), round(s.P95 * f)})
		median.Data = append(median.Data, round(s.Median*f))
		lo, hi = math.Min(lo, s.P5*f), math.Max(hi, s.P95*f)
	}
	c.Log = lo > 0 && hi/lo >= 100
	c.Datasets = []chartDataset{spread, median}
	return c
}

// phaseChart stacks each backend's median phase durations.
func phaseChart(id string, rows []Row) (chartSpec, bool) {
	var phases []metric.Name
	for _, r := range rows {
		for _, n := range r.Order {
			if strings.HasPrefix(string(n), metric.PhasePrefix) && !slices.Contains(phases, n) {
				phases = append(phases, n)
			}
		}
	}
	return stackedChart(id, "cold-start phases (median)", rows, phases, metric.PhasePrefix)
}

// graderPhases split a grader submission's latency.
var graderPhases = []metric.Name{metric.GraderQueue, metric.GraderSandboxUp, metric.GraderTestRun, metric.GraderTeardown}

// stackedChart stacks each backend's medians of the given metrics, in ms,
// labelled without prefix.
func stackedChart(id, title string, rows []Row, phases []metric.Name, prefix string) (chartSpec, bool) {
	if len(phases) == 0 {
		return chartSpec{}, false
	}
	c := chartSpec{ID: id, Kind: "stacked", Title: title, Unit: "ms"}
	for _, r := range rows {
		c.Labels = append(c.Labels, label(r))
	}
	for _, ph := range phases {
		d := chartDataset{Label: strings.TrimPrefix(string(ph), prefix)}
		for _, r := range rows {
			if s, ok := r.Metrics[ph]; ok {
				d.Data = append(d.Data, round(s.Median*1e3))
			} else {
				d.Data = append(d.Data, nil)
			}
		}
		c.Datasets = append(c.Datasets, d)
	}
	return c, true
}

// scaleCharts are per backend curves over the concurrency levels: the
// per-instance median cold start, the time until all are ready, the launch
// rate and the PSS per instance.
func scaleCharts(rows []Row) []chartSpec {
	var levels []int
	var backends []Row
	for _, r := range rows {
		n, _ := strconv.Atoi(strings.TrimPrefix(r.Workload, string(suite.Scale)+"-x"))
		if !slices.Contains(levels, n) {
			levels = append(levels, n)
		}
		if !slices.ContainsFunc(backends, func(b Row) bool { return b.Backend == r.Backend }) {
			backends = append(backends, r)
		}
	}
	slices.Sort(levels)
	var labels []string
	for _, l := range levels {
		labels = append(labels, strconv.Itoa(l))
	}
	var out []chartSpec
	for i, n := range []metric.Name{metric.ScaleInstanceP50, metric.ScaleAllReady, metric.ScaleLaunchRate, metric.ScalePSSPerInstance} {
		info, _ := metric.Describe(n)
		unit, f := display(info.Unit)
		c := chartSpec{ID: fmt.Sprintf("c-scale-%d", i), Kind: "line", Title: string(n) + " by sandboxes launched at once", Unit: unit, Labels: labels, Better: string(info.Direction)}
		lo, hi := math.Inf(1), math.Inf(-1)
		for _, b := range backends {
			d := chartDataset{Label: label(b), Emulated: b.Accel == backend.AccelTCG}
			for _, l := range levels {
				var v any
				for _, r := range rows {
					if s, ok := r.Metrics[n]; ok && r.Backend == b.Backend && r.Workload == string(suite.ScaleLevel(l)) {
						v = round(s.Median * f)
						lo, hi = math.Min(lo, s.Median*f), math.Max(hi, s.Median*f)
					}
				}
				d.Data = append(d.Data, v)
			}
			c.Datasets = append(c.Datasets, d)
		}
		c.Log = lo > 0 && hi/lo >= 100
		out = append(out, c)
	}
	return out
}

// densityCharts plot each backend's density curve: memory (MemAvailable
// drop and summed PSS) and batch launch time against the instance count.
func densityCharts(run *result.Run) []chartSpec {
	mem := chartSpec{ID: "c-density-mem", Kind: "xy", Title: "memory against idle sandboxes (solid: summed PSS, dashed: MemAvailable drop)", Unit: "MiB"}
	lat := chartSpec{ID: "c-density-launch", Kind: "xy", Title: "batch launch time (median) against idle sandboxes", Unit: "ms"}
	for _, s := range run.Samples {
		if s.Workload != string(suite.Density) || len(s.Curve) == 0 {
			continue
		}
		name := string(s.Backend)
		if s.Accel == backend.AccelTCG {
			name += " (EMULATED)"
		}
		pss := chartDataset{Label: name + " PSS", Emulated: s.Accel == backend.AccelTCG}
		avail := chartDataset{Label: name + " MemAvailable drop", Emulated: s.Accel == backend.AccelTCG}
		launch := chartDataset{Label: name, Emulated: s.Accel == backend.AccelTCG}
		for _, p := range s.Curve {
			pss.Data = append(pss.Data, map[string]float64{"x": float64(p.Instances), "y": round(float64(p.PSS) / (1 << 20))})
			avail.Data = append(avail.Data, map[string]float64{"x": float64(p.Instances), "y": round(float64(p.MemUsed) / (1 << 20))})
			launch.Data = append(launch.Data, map[string]float64{"x": float64(p.Instances), "y": round(p.LaunchP50 * 1e3)})
		}
		mem.Datasets = append(mem.Datasets, pss, avail)
		lat.Datasets = append(lat.Datasets, launch)
	}
	if len(mem.Datasets) == 0 {
		return nil
	}
	return []chartSpec{mem, lat}
}

// tableCells is a workload's table for documents (Markdown, HTML): a
// header, then per metric its direction and per backend the median with
// the CI half-width and the ratio to the native baseline, or n/a with the
// reason.
func tableCells(rows []Row) [][]string {
	head := []string{"metric", "better"}
	for _, r := range rows {
		head = append(head, label(r))
	}
	out := [][]string{head}
	var base *Row
	for i := range rows {
		if rows[i].Kind == backend.KindProcess {
			base = &rows[i]
		}
	}
	seen := map[metric.Name]bool{}
	for _, r := range rows {
		for _, n := range rowMetrics(r) {
			if seen[n] {
				continue
			}
			seen[n] = true
			info, _ := metric.Describe(n)
			line := []string{string(n), string(info.Direction)}
			for _, r := range rows {
				s, ok := r.Metrics[n]
				switch {
				case ok:
					cell := metric.Format(s.Median, info.Unit) + " " + pctRange(s)
					if base != nil && r.Backend != base.Backend {
						if b, ok := base.Metrics[n]; ok && b.Median > 0 && s.Median > 0 && !metric.NoisyBaseline(n) {
							cell += fmt.Sprintf(" ×%.2f", s.Median/b.Median)
						}
					}
					line = append(line, cell)
				case r.Skipped[n] != "":
					line = append(line, "n/a: "+r.Skipped[n])
				default:
					line = append(line, "—")
				}
			}
			out = append(out, line)
		}
	}
	return out
}

// round keeps six significant digits, so that the embedded data (and the
// file) does not depend on the last bits of a float.
func round(v float64) float64 {
	if v == 0 || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0
	}
	r, _ := strconv.ParseFloat(strconv.FormatFloat(v, 'g', 6, 64), 64)
	return r
}
