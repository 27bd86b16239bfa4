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

func cpuSpec() Spec {
	return Spec{
		ID:          CPUID,
		Description: "sysbench-cpu prime search: events/s on one thread, then on one thread per allowed CPU",
		Params: []Param{
			{Name: "max_prime", Default: "10000", Help: "upper bound of each event's prime search (sysbench --cpu-max-prime)"},
			{Name: "threads", Default: "1", Help: "threads for the all-CPU figure; the host sets it to the CPU limit rounded up"},
			{Name: "duration", Default: "5s", Quick: "1s", Help: "time per measurement"},
		},
		Metrics: []metric.Name{metric.CPUEventsPerSec, metric.CPUEventsPerSecAll},
		Parse: func(p Params) (Runner, error) {
			w := CPU{MaxPrime: uint64(p.Int("max_prime", 3)), Threads: int(p.Int("threads", 1)), Duration: p.Duration("duration", 10*time.Millisecond)}
			return w, p.Err()
		},
	}
}

// CPU runs the prime search of `sysbench cpu`: one event checks every
// number below MaxPrime for primality by trial division up to its square
// root. The types (64-bit integers, a float64 bound) match sysbench's C, so
// events/s compare with `sysbench cpu --cpu-max-prime=N --threads=T`.
type CPU struct {
	MaxPrime uint64
	Threads  int
	Duration time.Duration
}

// countPrimes is one sysbench cpu event; it returns how many primes it
// found so the work cannot be optimised away. It does what sysbench's C
// loop does once gcc -O2 has compiled it (as Debian ships it): the first
// trial divisor, 2, is a test of the low bit instead of a division, and
// the remaining divisions are 64-bit. The divisor is also kept as a float64
// (exact below 2^53), sparing Go's costly uint64→float64 conversion.
func countPrimes(maxPrime uint64) uint64 {
	var n uint64
	for c := uint64(3); c < maxPrime; c++ {
		t := math.Sqrt(float64(c))
		if t >= 2 && c&1 == 0 {
			continue // divisible by 2: not prime
		}
		l, lf := uint64(3), 3.0
		if t < 2 {
			l, lf = 2, 2.0 // the loop is not entered at all
		}
		for ; lf <= t; l, lf = l+1, lf+1 {
			if c%l == 0 {
				break
			}
		}
		if lf > t {
			n++
		}
	}
	return n
}

// Run measures events/s on one thread, then on Threads threads.
func (w CPU) Run(ctx context.Context) (Output, error) {
	var out Output
	one, err := w.measure(ctx, 1)
	if err != nil {
		return out, err
	}
	out.add(metric.CPUEventsPerSec, metric.OpsPerSec, one)
	if w.Threads <= 1 {
		out.skip(metric.CPUEventsPerSecAll, "the CPU limit allows one thread: same as cpu.events_per_sec")
		return out, nil
	}
	all, err := w.measure(ctx, w.Threads)
	if err != nil {
		return out, err
	}
	out.add(metric.CPUEventsPerSecAll, metric.OpsPerSec, all)
	return out, nil
}

// measure runs events on threads goroutines, each locked to an OS thread,
// until Duration has passed, and returns events per second.
func (w CPU) measure(ctx context.Context, threads int) (float64, error) {
	tctx, cancel := context.WithTimeout(ctx, w.Duration)
	defer cancel()
	var events, sink atomic.Uint64
	var wg sync.WaitGroup
	start := time.Now()
	for range threads {
		wg.Go(func() {
			lockThread()
			var local uint64
			for tctx.Err() == nil {
				local += countPrimes(w.MaxPrime)
				events.Add(1)
			}
			sink.Add(local)
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if events.Load() == 0 {
		return 0, fmt.Errorf("cpu: no event finished within %s; raise duration or lower max_prime", w.Duration)
	}
	return float64(events.Load()) / elapsed.Seconds(), nil
}
