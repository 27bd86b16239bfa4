package workload

import "testing"

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
