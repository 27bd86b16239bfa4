package workload

import (
	"context"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/isobench/isobench/internal/metric"
)

// CPU runs the prime search of `sysbench cpu`: one event checks every
// number below MaxPrime for primality by trial division up to its square
// root. The types (64-bit integers, a float64 bound) match sysbench's C, so
// events/s compare with `sysbench cpu --cpu-max-prime=N --threads=T`.
type CPU struct {
	MaxPrime uint64
	Threads  int
	Duration time.Duration
}

// Metrics of the cpu workload.
const (
	CPUEventsPerSec metric.Name = "cpu.events_per_sec"
)

// countPrimes is one sysbench cpu event; it returns how many primes it
// found so the work cannot be optimised away.
func countPrimes(maxPrime uint64) uint64 {
	var n uint64
	for c := uint64(3); c < maxPrime; c++ {
		t := math.Sqrt(float64(c))
		l := uint64(2)
		for ; float64(l) <= t; l++ {
			if c%l == 0 {
				break
			}
		}
		if float64(l) > t {
			n++
		}
	}
	return n
}

// Run executes events on Threads goroutines, each locked to an OS thread,
// until Duration has passed, and reports events per second.
func (w CPU) Run(ctx context.Context) ([]metric.Value, error) {
	ctx, cancel := context.WithTimeout(ctx, w.Duration)
	defer cancel()
	var events atomic.Uint64
	var sink atomic.Uint64
	var wg sync.WaitGroup
	start := time.Now()
	for range w.Threads {
		wg.Go(func() {
			lockThread()
			var local uint64
			for ctx.Err() == nil {
				local += countPrimes(w.MaxPrime)
				events.Add(1)
			}
			sink.Add(local)
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	if err := context.Cause(ctx); err != nil && err != context.DeadlineExceeded {
		return nil, err
	}
	if events.Load() == 0 {
		return nil, fmt.Errorf("cpu: no event finished within %s; raise duration or lower max_prime", w.Duration)
	}
	_ = sink.Load()
	return []metric.Value{{Name: CPUEventsPerSec, Unit: metric.OpsPerSec, Value: float64(events.Load()) / elapsed.Seconds()}}, nil
}
