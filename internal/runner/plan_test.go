package runner

import (
	"fmt"
	"testing"

	"github.com/isobench/isobench/internal/backend"
	"github.com/isobench/isobench/internal/suite"
)

func TestPlanInterleavesAndRotates(t *testing.T) {
	bs := []backend.Name{"a", "b", "c"}
	cells := Plan(bs, []suite.WorkloadName{"coldstart"}, 3, 1)
	var got []string
	for _, c := range cells {
		got = append(got, fmt.Sprintf("%s%d%v", c.Backend, c.Rep, c.Warmup))
	}
	want := []string{
		"a0true", "b0true", "c0true", // warm-up round
		"b0false", "c0false", "a0false",
		"c1false", "a1false", "b1false",
		"a2false", "b2false", "c2false",
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("plan\n got %v\nwant %v", got, want)
	}
}

func TestPlanCountsAndPositions(t *testing.T) {
	tests := []struct{ backends, workloads, reps, warmup int }{
		{1, 1, 10, 2}, {4, 1, 10, 2}, {5, 2, 7, 0}, {2, 3, 1, 1},
	}
	for _, tc := range tests {
		var bs []backend.Name
		for i := range tc.backends {
			bs = append(bs, backend.Name(fmt.Sprint("b", i)))
		}
		var ws []suite.WorkloadName
		for i := range tc.workloads {
			ws = append(ws, suite.WorkloadName(fmt.Sprint("w", i)))
		}
		cells := Plan(bs, ws, tc.reps, tc.warmup)
		if want := tc.backends * tc.workloads * (tc.reps + tc.warmup); len(cells) != want {
			t.Fatalf("%+v: %d cells, want %d", tc, len(cells), want)
		}
		measured := map[string]int{}
		firstInRound := map[backend.Name]int{}
		for i, c := range cells {
			if !c.Warmup {
				measured[fmt.Sprint(c.Backend, c.Workload)]++
			}
			if i%tc.backends == 0 {
				firstInRound[c.Backend]++
			}
		}
		for k, n := range measured {
			if n != tc.reps {
				t.Fatalf("%+v: %s measured %d times, want %d", tc, k, n, tc.reps)
			}
		}
		// Over enough rounds every backend leads a round.
		if rounds := tc.workloads * (tc.reps + tc.warmup); rounds >= tc.backends && len(firstInRound) != tc.backends {
			t.Fatalf("%+v: only %v ever went first", tc, firstInRound)
		}
	}
}
