// Package runner executes a suite: it plans the cells, launches sandboxes,
// measures, saves every sample as soon as it exists, and cleans up.
package runner

import (
	"github.com/isobench/isobench/internal/backend"
	"github.com/isobench/isobench/internal/suite"
)

// Cell is one sample to take.
type Cell struct {
	Backend  backend.Name
	Workload suite.WorkloadName
	Rep      int // 0-based within warm-ups or within measured reps
	Warmup   bool
}

// Plan orders the cells: warm-ups first, then repetitions; within a
// repetition every workload visits every backend, with the backend order
// rotated from one repetition to the next. A drift in the machine's speed
// (thermal, a noisy neighbour) thus spreads over all backends alike, and no
// backend always runs right after the same other one.
func Plan(backends []backend.Name, workloads []suite.WorkloadName, reps, warmup int) []Cell {
	var cells []Cell
	round := 0
	add := func(rep int, warm bool) {
		for _, w := range workloads {
			n := len(backends)
			for i := range n {
				cells = append(cells, Cell{Backend: backends[(i+round)%n], Workload: w, Rep: rep, Warmup: warm})
			}
			round++
		}
	}
	for r := range warmup {
		add(r, true)
	}
	for r := range reps {
		add(r, false)
	}
	return cells
}
