// Package report turns results into tables and documents. Reporters only
// write; the figures are computed once, from the raw samples.
package report

import (
	"slices"

	"github.com/isobench/isobench/internal/backend"
	"github.com/isobench/isobench/internal/metric"
	"github.com/isobench/isobench/internal/result"
	"github.com/isobench/isobench/internal/stats"
)

// Row is one backend's figures for one workload.
type Row struct {
	Backend  backend.Name
	Kind     backend.Kind
	Accel    backend.Accel
	Workload string
	Samples  int // measured samples, warm-ups excluded
	Failed   int
	Errors   []string // distinct sample errors
	Metrics  map[metric.Name]stats.Summary
	Order    []metric.Name // metric names in first-seen order
	// Skipped: metrics that could not be measured on this backend, with
	// the first reason seen.
	Skipped map[metric.Name]string
}

// Summarize groups measured samples by workload and backend, in the order
// backends were listed in the run.
func Summarize(run *result.Run, cfg stats.Config) []Row {
	kinds := map[backend.Name]backend.Kind{}
	var order []backend.Name
	for _, b := range run.Backends {
		kinds[b.Name] = b.Kind
		order = append(order, b.Name)
	}
	type key struct {
		w string
		b backend.Name
	}
	rows := map[key]*Row{}
	values := map[key]map[metric.Name][]float64{}
	var keys []key
	for _, s := range run.Samples {
		if s.Warmup {
			continue
		}
		k := key{s.Workload, s.Backend}
		r, ok := rows[k]
		if !ok {
			r = &Row{Backend: s.Backend, Kind: kinds[s.Backend], Accel: s.Accel, Workload: s.Workload,
				Metrics: map[metric.Name]stats.Summary{}, Skipped: map[metric.Name]string{}}
			rows[k] = r
			values[k] = map[metric.Name][]float64{}
			keys = append(keys, k)
		}
		r.Samples++
		if s.Error != "" {
			r.Failed++
			if !slices.Contains(r.Errors, s.Error) {
				r.Errors = append(r.Errors, s.Error)
			}
			continue // a failed sample's partial timings are not comparable
		}
		for n, why := range s.Skipped {
			if _, ok := r.Skipped[n]; !ok {
				r.Skipped[n] = why
			}
		}
		for _, m := range s.Metrics {
			if _, seen := values[k][m.Name]; !seen {
				r.Order = append(r.Order, m.Name)
			}
			values[k][m.Name] = append(values[k][m.Name], m.Value)
		}
	}
	slices.SortStableFunc(keys, func(a, b key) int {
		if a.w != b.w {
			return slices.Index(run.Config.Workloads, a.w) - slices.Index(run.Config.Workloads, b.w)
		}
		return slices.Index(order, a.b) - slices.Index(order, b.b)
	})
	out := make([]Row, 0, len(keys))
	for _, k := range keys {
		r := rows[k]
		for n, xs := range values[k] {
			r.Metrics[n] = stats.Summarize(xs, cfg)
		}
		out = append(out, *r)
	}
	return out
}

// DefaultStats are the statistics settings reports use.
func DefaultStats() stats.Config { return stats.DefaultConfig }

// byWorkload returns the rows of one workload, in their order.
func byWorkload(rows []Row, workload string) []Row {
	var out []Row
	for _, r := range rows {
		if r.Workload == workload {
			out = append(out, r)
		}
	}
	return out
}
