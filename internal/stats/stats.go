// Package stats summarises and compares samples. It does no IO.
package stats

import (
	"fmt"
	"math"
	"slices"

	"golang.org/x/perf/benchmath"
	"gonum.org/v1/gonum/stat"
)

// Config holds every threshold in one place.
type Config struct {
	// Confidence of the median's interval, e.g. 0.95.
	Confidence float64
	// MinSamples below which a warning is attached.
	MinSamples int
}

// DefaultConfig is what reports use unless told otherwise.
var DefaultConfig = Config{Confidence: 0.95, MinSamples: 5}

// Summary describes one sample set.
type Summary struct {
	N      int     `json:"n"`
	Median float64 `json:"median"`
	P5     float64 `json:"p5"`
	P95    float64 `json:"p95"`
	Mean   float64 `json:"mean"`
	Stddev float64 `json:"stddev"`
	Min    float64 `json:"min"`
	Max    float64 `json:"max"`
	// CILo and CIHi bound the median at Confidence (distribution-free,
	// from order statistics); infinite when N is too small for it.
	CILo       float64  `json:"ci_lo"`
	CIHi       float64  `json:"ci_hi"`
	Confidence float64  `json:"confidence"`
	Warnings   []string `json:"warnings,omitempty"`
}

// Summarize computes a Summary; values is not modified. An empty input
// gives N=0 and NaNs, never a fabricated zero.
func Summarize(values []float64, cfg Config) Summary {
	nan := math.NaN()
	s := Summary{N: len(values), Median: nan, P5: nan, P95: nan, Mean: nan, Stddev: nan, Min: nan, Max: nan,
		CILo: math.Inf(-1), CIHi: math.Inf(1), Confidence: cfg.Confidence}
	if len(values) == 0 {
		s.Warnings = []string{"no samples"}
		return s
	}
	xs := slices.Clone(values)
	slices.Sort(xs)
	bs := benchmath.NewSample(xs, &benchmath.DefaultThresholds)
	sum := benchmath.AssumeNothing.Summary(bs, cfg.Confidence)
	s.Median, s.CILo, s.CIHi, s.Confidence = sum.Center, sum.Lo, sum.Hi, sum.Confidence
	for _, w := range sum.Warnings {
		s.Warnings = append(s.Warnings, w.Error())
	}
	s.P5, s.P95 = quantile(xs, 0.05), quantile(xs, 0.95)
	s.Min, s.Max = xs[0], xs[len(xs)-1]
	if len(xs) > 1 {
		s.Mean, s.Stddev = stat.MeanStdDev(xs, nil)
	} else {
		s.Mean, s.Stddev = xs[0], 0
	}
	if len(xs) < cfg.MinSamples {
		s.Warnings = append(s.Warnings, fmt.Sprintf("fewer than %d samples", cfg.MinSamples))
	}
	return s
}

// Quantile is the p-quantile (0 ≤ p ≤ 1) of values, interpolated as
// Summarize's are; NaN for no values. values is not modified.
func Quantile(values []float64, p float64) float64 {
	if len(values) == 0 {
		return math.NaN()
	}
	xs := slices.Clone(values)
	slices.Sort(xs)
	return quantile(xs, p)
}

// quantile interpolates between order statistics (Hyndman & Fan type 7,
// the default of R and NumPy). gonum's LinInterp is not symmetric for small
// samples (p5 of 1..10 is 1 but p95 is 9.5), which would bias a spread.
func quantile(sorted []float64, p float64) float64 {
	h := float64(len(sorted)-1) * p
	lo := math.Floor(h)
	i := int(lo)
	if i+1 >= len(sorted) {
		return sorted[len(sorted)-1]
	}
	return sorted[i] + (h-lo)*(sorted[i+1]-sorted[i])
}
