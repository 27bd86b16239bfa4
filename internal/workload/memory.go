package workload

import (
	"context"
	"math/rand/v2"
	"runtime"
	"runtime/debug"
	"time"

	"github.com/isobench/isobench/internal/metric"
)

func memorySpec() Spec {
	return Spec{
		ID:          Memory,
		Description: "sequential read/write bandwidth over a buffer larger than the LLC; random-access latency by pointer chasing",
		Params: []Param{
			{Name: "size", Default: "256MiB", Quick: "64MiB", Help: "bandwidth buffer; keep it well above the last-level cache and below the memory limit"},
			{Name: "latency_size", Default: "128MiB", Quick: "64MiB", Help: "pointer-chasing buffer"},
			{Name: "duration", Default: "2s", Quick: "500ms", Help: "time per measurement"},
		},
		Metrics: []metric.Name{metric.MemoryReadBW, metric.MemoryWriteBW, metric.MemoryLatency},
		Parse: func(p Params) (Runner, error) {
			w := MemoryBench{Size: p.Bytes("size", 1<<20), LatencySize: p.Bytes("latency_size", 1<<20), Duration: p.Duration("duration", 10*time.Millisecond)}
			return w, p.Err()
		},
	}
}

// MemoryBench measures memory from one thread.
type MemoryBench struct {
	Size        int64
	LatencySize int64
	Duration    time.Duration
}

// cacheLine is the pointer-chasing stride: one access per line.
const cacheLine = 64

func (w MemoryBench) Run(ctx context.Context) (Output, error) {
	lockThread()
	var out Output
	buf := make([]uint64, w.Size/8)
	// Touch every page first: page faults are not memory bandwidth.
	for i := range buf {
		buf[i] = uint64(i)
	}
	runtime.GC() // not during the timed loops
	passes, elapsed := repeat(ctx, w.Duration, func() { fill(buf, uint64(elapsed0())) })
	if err := ctx.Err(); err != nil {
		return out, err
	}
	out.add(metric.MemoryWriteBW, metric.BytesPerSec, float64(passes)*float64(len(buf)*8)/elapsed.Seconds())
	var sink uint64
	passes, elapsed = repeat(ctx, w.Duration, func() { sink += sum(buf) })
	if err := ctx.Err(); err != nil {
		return out, err
	}
	out.add(metric.MemoryReadBW, metric.BytesPerSec, float64(passes)*float64(len(buf)*8)/elapsed.Seconds())
	buf = nil
	runtime.KeepAlive(sink)
	// Return the bandwidth buffer before the chase allocates its own, so
	// the peak stays near max(size, latency_size) under the memory limit,
	// and no collection is due during the timed walk.
	debug.FreeOSMemory()
	perAccess, err := chase(ctx, w.LatencySize, w.Duration)
	if err != nil {
		return out, err
	}
	out.add(metric.MemoryLatency, metric.Seconds, perAccess)
	return out, nil
}

// elapsed0 returns a value the compiler cannot fold into the fill loop.
func elapsed0() int64 { return time.Now().UnixNano() & 1 }

// repeat runs f whole passes until d has passed; at least one.
func repeat(ctx context.Context, d time.Duration, f func()) (int, time.Duration) {
	start := time.Now()
	n := 0
	for {
		f()
		n++
		if el := time.Since(start); el >= d || ctx.Err() != nil {
			return n, el
		}
	}
}

func fill(buf []uint64, v uint64) {
	for i := range buf {
		buf[i] = v
	}
}

// sum reads with four independent accumulators so the adds do not serialise.
func sum(buf []uint64) uint64 {
	var a, b, c, d uint64
	i := 0
	for ; i+4 <= len(buf); i += 4 {
		a += buf[i]
		b += buf[i+1]
		c += buf[i+2]
		d += buf[i+3]
	}
	for ; i < len(buf); i++ {
		a += buf[i]
	}
	return a + b + c + d
}

// chase links every cache line of a buffer into one cycle in a random order
// and follows it: each load depends on the previous one and defeats the
// prefetcher, so the time per step is the access latency (in seconds).
func chase(ctx context.Context, size int64, d time.Duration) (float64, error) {
	const slot = cacheLine / 8
	n := int(size / cacheLine)
	next := make([]uint64, n*slot)
	order := make([]uint32, n)
	for i := range order {
		order[i] = uint32(i)
	}
	r := rand.New(rand.NewPCG(1, 2)) // fixed seed: the same walk in every sandbox
	r.Shuffle(n, func(i, j int) { order[i], order[j] = order[j], order[i] })
	for i := range n {
		next[int(order[i])*slot] = uint64(order[(i+1)%n]) * slot
	}
	order = nil
	runtime.GC()
	const batch = 1 << 16
	p := uint64(0)
	steps := 0
	start := time.Now()
	for time.Since(start) < d {
		for range batch {
			p = next[p]
		}
		steps += batch
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
	}
	el := time.Since(start)
	runtime.KeepAlive(p)
	return el.Seconds() / float64(steps), nil
}
