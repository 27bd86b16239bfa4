// Package evaluate ranks backends for a user's priorities in the style of
// a DESMET feature analysis: a profile gives every criterion — a measured
// metric, or a documented qualitative property such as the isolation
// boundary — an importance weight; each backend scores 0 to 10 on each
// criterion, and its total is the weighted mean.
package evaluate

import (
	"cmp"
	"embed"
	"fmt"
	"math"
	"os"
	"slices"
	"strings"
	"sync"

	"go.yaml.in/yaml/v3"

	"github.com/isobench/isobench/internal/backend"
	"github.com/isobench/isobench/internal/metric"
	"github.com/isobench/isobench/internal/report"
	"github.com/isobench/isobench/internal/result"
	"github.com/isobench/isobench/internal/stats"
)

//go:embed profiles/*.yaml
var builtinProfiles embed.FS

//go:embed properties.yaml
var propertiesYAML []byte

// Profile is what a user cares about, and how much.
type Profile struct {
	Name        string      `yaml:"name"`
	Description string      `yaml:"description"`
	Criteria    []Criterion `yaml:"criteria"`
}

// Criterion is a measured metric of a workload, or a property.
type Criterion struct {
	Metric   metric.Name `yaml:"metric,omitempty"`
	Workload string      `yaml:"workload,omitempty"`
	Property string      `yaml:"property,omitempty"`
	Weight   float64     `yaml:"weight"`
}

func (c Criterion) String() string {
	if c.Property != "" {
		return c.Property
	}
	if string(c.Metric) == c.Workload {
		return string(c.Metric)
	}
	return c.Workload + ":" + string(c.Metric)
}

// Snapshot is the property of having snapshot/restore in isobench: 10 or
// 0, from the backend's recorded capabilities.
const Snapshot = "snapshot"

// BuiltinNames lists the built-in profiles.
func BuiltinNames() []string { return []string{"faas", "grader", "throughput"} }

// LoadProfile returns a built-in profile by name, or reads a YAML file.
func LoadProfile(nameOrPath string) (Profile, error) {
	var data []byte
	var err error
	if slices.Contains(BuiltinNames(), nameOrPath) {
		data, err = builtinProfiles.ReadFile("profiles/" + nameOrPath + ".yaml")
	} else {
		data, err = os.ReadFile(nameOrPath)
	}
	if err != nil {
		return Profile{}, fmt.Errorf("profile %q: not a built-in one (%s) and not a readable file: %w", nameOrPath, strings.Join(BuiltinNames(), ", "), err)
	}
	return ParseProfile(data, nameOrPath)
}

// ParseProfile decodes and validates a YAML profile; where names it in errors.
func ParseProfile(data []byte, where string) (Profile, error) {
	var p Profile
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	dec.KnownFields(true)
	if err := dec.Decode(&p); err != nil {
		return Profile{}, fmt.Errorf("profile %s: %w", where, err)
	}
	props, err := properties()
	if err != nil {
		return Profile{}, err
	}
	if len(p.Criteria) == 0 {
		return Profile{}, fmt.Errorf("profile %s: criteria: none given", where)
	}
	for i, c := range p.Criteria {
		at := fmt.Sprintf("profile %s: criteria[%d]", where, i)
		switch {
		case !(c.Weight > 0) || math.IsInf(c.Weight, 0):
			return Profile{}, fmt.Errorf("%s: weight %g: use a positive importance, e.g. 1 to 5", at, c.Weight)
		case c.Property != "" && c.Metric != "":
			return Profile{}, fmt.Errorf("%s: give either metric (with workload) or property, not both", at)
		case c.Property != "":
			if _, ok := props[c.Property]; !ok && c.Property != Snapshot {
				return Profile{}, fmt.Errorf("%s: unknown property %q (known: %s)", at, c.Property, strings.Join(propertyNames(props), ", "))
			}
		case c.Metric != "":
			if _, err := metric.Describe(c.Metric); err != nil {
				return Profile{}, fmt.Errorf("%s: unknown metric %q (see docs/results.md and docs/workloads.md)", at, c.Metric)
			}
			if c.Workload == "" {
				return Profile{}, fmt.Errorf("%s: metric %s needs the workload that measures it (e.g. workload: coldstart)", at, c.Metric)
			}
		default:
			return Profile{}, fmt.Errorf("%s: give a metric (with workload) or a property", at)
		}
	}
	return p, nil
}

// fact is a property's score for one backend kind or name.
type fact struct {
	Score float64 `yaml:"score"`
	Why   string  `yaml:"why"`
}

var properties = sync.OnceValues(func() (map[string]map[string]fact, error) {
	var props map[string]map[string]fact
	if err := yaml.Unmarshal(propertiesYAML, &props); err != nil {
		return nil, fmt.Errorf("built-in properties: %w", err)
	}
	return props, nil
})

func propertyNames(props map[string]map[string]fact) []string {
	names := []string{Snapshot}
	for n := range props {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Part is one backend's score on one criterion.
type Part struct {
	Criterion Criterion
	Score     float64 // 0 to 10
	Why       string
	Scored    bool // false: the criterion was not measured in these results at all
}

// Score is one backend's evaluation.
type Score struct {
	Backend  backend.Name
	Kind     backend.Kind
	Accel    backend.Accel
	Total    float64 // weighted mean of the scored parts, 0 to 10
	Weight   float64 // weight of the scored parts
	Parts    []Part
	Emulated bool
}

// Evaluate scores every backend measured in runs (the native process, the
// baseline, aside) against p and returns them best first. A measured criterion scores 10 × best/value (lower is
// better) or 10 × value/best (higher is better) against the best backend;
// a backend on which the metric was n/a or failed scores 0 with the
// reason; a criterion not measured for a backend (or for any) is left out
// of that backend's total, and said so.
func Evaluate(runs []*result.Run, p Profile) ([]Score, error) {
	props, err := properties()
	if err != nil {
		return nil, err
	}
	records := map[backend.Name]result.BackendRecord{}
	medians := map[string]map[backend.Name]float64{} // criterion → backend → median
	skipped := map[string]map[backend.Name]string{}
	var order []backend.Name
	// Several runs are pooled into one, so that medians are of all their
	// samples, not the last run's.
	pooled := &result.Run{}
	for _, run := range runs {
		for _, b := range run.Backends {
			// The native process is the baseline, not an isolation option:
			// neither ranked nor the best that others are scored against.
			if b.Available && b.Kind != backend.KindProcess && !slices.Contains(order, b.Name) {
				order = append(order, b.Name)
				records[b.Name] = b
				pooled.Backends = append(pooled.Backends, b)
			}
		}
		pooled.Samples = append(pooled.Samples, run.Samples...)
	}
	for _, row := range report.Summarize(pooled, stats.DefaultConfig) {
		if row.Kind == backend.KindProcess || records[row.Backend].Name == "" {
			continue
		}
		for _, c := range p.Criteria {
			if c.Metric == "" || row.Workload != c.Workload {
				continue
			}
			k := c.String()
			if medians[k] == nil {
				medians[k], skipped[k] = map[backend.Name]float64{}, map[backend.Name]string{}
			}
			if s, ok := row.Metrics[c.Metric]; ok && s.N > 0 {
				medians[k][row.Backend] = s.Median
			} else if why := row.Skipped[c.Metric]; why != "" {
				skipped[k][row.Backend] = "n/a: " + why
			} else if row.Failed > 0 {
				skipped[k][row.Backend] = fmt.Sprintf("failed (%d of %d samples)", row.Failed, row.Samples)
			}
		}
	}
	if len(order) == 0 {
		return nil, fmt.Errorf("evaluate: no measured backend in the results")
	}
	var out []Score
	for _, name := range order {
		rec := records[name]
		sc := Score{Backend: name, Kind: rec.Kind, Accel: rec.Accel, Emulated: rec.Accel == backend.AccelTCG}
		var sum float64
		for _, c := range p.Criteria {
			part := Part{Criterion: c, Scored: true}
			switch {
			case c.Property == Snapshot:
				part.Score, part.Why = 0, "no snapshot/restore in isobench"
				if rec.Capabilities.Snapshot {
					part.Score, part.Why = 10, "snapshot/restore supported"
				}
			case c.Property != "":
				f, ok := props[c.Property][string(name)]
				if !ok {
					f, ok = props[c.Property][string(rec.Kind)]
				}
				if !ok {
					part.Scored, part.Why = false, "no documented value"
				}
				part.Score, part.Why = f.Score, cmp.Or(part.Why, f.Why)
			default:
				part.Score, part.Why, part.Scored = measured(c, name, medians[c.String()], skipped[c.String()])
			}
			if part.Scored {
				sum += c.Weight * part.Score
				sc.Weight += c.Weight
			}
			sc.Parts = append(sc.Parts, part)
		}
		if sc.Weight > 0 {
			sc.Total = sum / sc.Weight
		}
		out = append(out, sc)
	}
	slices.SortStableFunc(out, func(a, b Score) int { return cmp.Compare(b.Total, a.Total) })
	return out, nil
}

// measured scores backend name on a metric criterion against the best.
func measured(c Criterion, name backend.Name, medians map[backend.Name]float64, skipped map[backend.Name]string) (float64, string, bool) {
	if len(medians) == 0 {
		return 0, "not measured in these results (run the " + c.Workload + " workload)", false
	}
	info, _ := metric.Describe(c.Metric)
	best, bestName := math.NaN(), backend.Name("")
	for n, v := range medians {
		if v <= 0 {
			continue
		}
		better := info.Direction == metric.HigherIsBetter && v > best || info.Direction != metric.HigherIsBetter && v < best
		if math.IsNaN(best) || better || v == best && n < bestName {
			best, bestName = v, n
		}
	}
	v, ok := medians[name]
	switch {
	case !ok && skipped[name] != "":
		return 0, skipped[name], true
	case !ok:
		// Not in the runs that measured it: no evidence either way.
		return 0, "not measured for this backend in these results", false
	case math.IsNaN(best) || v <= 0:
		return 0, fmt.Sprintf("%s (not positive: cannot be compared)", metric.Format(v, info.Unit)), true
	}
	ratio := best / v
	if info.Direction == metric.HigherIsBetter {
		ratio = v / best
	}
	if name == bestName {
		return 10, fmt.Sprintf("%s, the best", metric.Format(v, info.Unit)), true
	}
	return 10 * ratio, fmt.Sprintf("%s, %.3g× worse than the best (%s, %s)", metric.Format(v, info.Unit), 1/ratio, bestName, metric.Format(best, info.Unit)), true
}
