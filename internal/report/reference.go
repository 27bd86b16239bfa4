package report

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/isobench/isobench/internal/backend"
	"github.com/isobench/isobench/internal/metric"
)

// referenceJSON holds the published evaluation this project follows
// (medians per platform and test), shown beside our ratios to native.
//
//go:embed assets/reference.json
var referenceJSON []byte

type reference struct {
	Source    string            `json:"source"`
	Hardware  string            `json:"hardware"`
	Platforms map[string]string `json:"platforms"` // their platform → "our backend|its kind"
	Tests     []referenceTest   `json:"tests"`
}

type referenceTest struct {
	Test     string             `json:"test"`
	Workload string             `json:"workload"`
	Metric   metric.Name        `json:"metric"`
	Unit     string             `json:"unit"`
	Medians  map[string]float64 `json:"medians"`
	// Absolute: compare values, not ratios (the study's bare-metal "boot"
	// is a server's power-on, no baseline for a sandbox's start).
	Absolute bool `json:"absolute,omitempty"`
}

var loadReference = sync.OnceValues(func() (reference, error) {
	var r reference
	err := json.Unmarshal(referenceJSON, &r)
	return r, err
})

// referenceRow is one platform of one published test beside ours.
type referenceRow struct {
	Test, Platform string
	Ours           string // our backend of that kind
	// Theirs and Mine are ratios to bare metal and to the native process
	// ("×0.92"), or values for an absolute test ("0.68 s").
	Theirs, Mine string
}

// referenceRows pairs each published test and platform with the matching
// backend of this run: the platform's backend by name, else the first
// measured backend of the same kind; the ratios are to bare metal (theirs) and
// to the native process (ours).
func referenceRows(rows []Row) ([]referenceRow, reference, error) {
	ref, err := loadReference()
	if err != nil {
		return nil, ref, fmt.Errorf("published reference: %w", err)
	}
	var out []referenceRow
	for _, t := range ref.Tests {
		var base *Row
		for i := range rows {
			if rows[i].Workload == t.Workload && rows[i].Kind == backend.KindProcess {
				base = &rows[i]
			}
		}
		for _, p := range []string{"kvm", "firecracker", "docker", "gvisor"} {
			// "docker|container": the backend of that name, else the
			// first measured backend of that kind.
			name, kind, _ := strings.Cut(ref.Platforms[p], "|")
			i := slices.IndexFunc(rows, func(r Row) bool { return r.Workload == t.Workload && string(r.Backend) == name })
			if i < 0 {
				i = slices.IndexFunc(rows, func(r Row) bool { return r.Workload == t.Workload && string(r.Kind) == kind })
			}
			if i < 0 {
				continue
			}
			s, ok := rows[i].Metrics[t.Metric]
			if !ok {
				continue
			}
			r := referenceRow{Test: t.Test, Platform: p, Ours: label(rows[i])}
			if t.Absolute {
				info, _ := metric.Describe(t.Metric)
				r.Theirs, r.Mine = fmt.Sprintf("%.3g %s", t.Medians[p], t.Unit), metric.Format(s.Median, info.Unit)
				out = append(out, r)
				continue
			}
			if base == nil {
				continue
			}
			if b, ok := base.Metrics[t.Metric]; ok && b.Median > 0 {
				r.Theirs, r.Mine = fmt.Sprintf("×%.2f", t.Medians[p]/t.Medians["metal"]), fmt.Sprintf("×%.2f", s.Median/b.Median)
				out = append(out, r)
			}
		}
	}
	return out, ref, nil
}
