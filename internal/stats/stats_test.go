package stats

import (
	"math"
	"testing"
)

func TestSummarize(t *testing.T) {
	tests := []struct {
		name                string
		in                  []float64
		median, p5, p95     float64
		mean                float64
		finiteCI, warnFewer bool
	}{
		{name: "one to ten", in: []float64{10, 1, 9, 2, 8, 3, 7, 4, 6, 5},
			median: 5.5, p5: 1.45, p95: 9.55, mean: 5.5, finiteCI: true},
		{name: "constant", in: []float64{3, 3, 3, 3, 3, 3}, median: 3, p5: 3, p95: 3, mean: 3, finiteCI: true},
		{name: "too few for a CI", in: []float64{1, 2, 3}, median: 2, p5: 1.1, p95: 2.9, mean: 2, warnFewer: true},
		{name: "single", in: []float64{7}, median: 7, p5: 7, p95: 7, mean: 7, warnFewer: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := append([]float64(nil), tc.in...)
			s := Summarize(in, DefaultConfig)
			if s.N != len(tc.in) {
				t.Errorf("N = %d, want %d", s.N, len(tc.in))
			}
			for _, c := range []struct {
				name      string
				got, want float64
			}{{"median", s.Median, tc.median}, {"p5", s.P5, tc.p5}, {"p95", s.P95, tc.p95}, {"mean", s.Mean, tc.mean}} {
				if math.Abs(c.got-c.want) > 1e-9 {
					t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
				}
			}
			if finite := !math.IsInf(s.CILo, 0) && !math.IsInf(s.CIHi, 0); finite != tc.finiteCI {
				t.Errorf("CI [%v, %v]: finite = %v, want %v", s.CILo, s.CIHi, finite, tc.finiteCI)
			}
			if tc.finiteCI && (s.CILo > s.Median || s.CIHi < s.Median || s.Confidence < 0.95) {
				t.Errorf("CI [%v, %v] at %v does not hold median %v at ≥95%%", s.CILo, s.CIHi, s.Confidence, s.Median)
			}
			if got := len(s.Warnings) > 0; got != tc.warnFewer {
				t.Errorf("warnings %v, want some = %v", s.Warnings, tc.warnFewer)
			}
			for i := range in {
				if in[i] != tc.in[i] {
					t.Fatalf("input was modified")
				}
			}
		})
	}
}

func TestSummarizeEmptyIsNaNNotZero(t *testing.T) {
	s := Summarize(nil, DefaultConfig)
	if s.N != 0 || !math.IsNaN(s.Median) || len(s.Warnings) == 0 {
		t.Fatalf("empty summary = %+v, want N=0, NaN median and a warning", s)
	}
}

func TestStddev(t *testing.T) {
	s := Summarize([]float64{2, 4, 4, 4, 5, 5, 7, 9}, DefaultConfig)
	// Sample (n-1) standard deviation of this classic set is sqrt(32/7).
	if want := math.Sqrt(32.0 / 7); math.Abs(s.Stddev-want) > 1e-9 {
		t.Fatalf("stddev = %v, want %v", s.Stddev, want)
	}
}
