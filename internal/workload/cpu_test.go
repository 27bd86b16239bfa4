package workload

import (
	"math"
	"testing"
)

func TestCountPrimes(t *testing.T) {
	// The loop starts at 3 and stops below the limit, as sysbench's does,
	// so 2 and the limit itself are never counted: π(n−1) − 1.
	tests := []struct {
		max  uint64
		want uint64
	}{
		{3, 0}, {4, 1}, {10, 3}, {100, 24}, {10000, 1228}, {20000, 2261},
	}
	for _, tc := range tests {
		if got := countPrimes(tc.max); got != tc.want {
			t.Errorf("countPrimes(%d) = %d, want %d", tc.max, got, tc.want)
		}
	}
}

// naivePrimes is sysbench's loop as written in C, without the peeled first
// divisor: the reference that countPrimes must match for every limit.
func naivePrimes(maxPrime uint64) uint64 {
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

func TestCountPrimesMatchesSysbenchLoop(t *testing.T) {
	for max := uint64(0); max < 3000; max += 7 {
		if got, want := countPrimes(max), naivePrimes(max); got != want {
			t.Fatalf("countPrimes(%d) = %d, sysbench loop gives %d", max, got, want)
		}
	}
}

// BenchmarkCountPrimes is one event at sysbench's default limit; compare
// with `sysbench cpu --cpu-max-prime=10000 --threads=1 run` (1/events-per-second).
func BenchmarkCountPrimes(b *testing.B) {
	for b.Loop() {
		countPrimes(10000)
	}
}
