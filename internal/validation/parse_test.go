package validation

import (
	"math"
	"os"
	"testing"
)

func TestParseSysbenchCPU(t *testing.T) {
	out, err := os.ReadFile("testdata/sysbench-cpu.txt")
	if err != nil {
		t.Fatal(err)
	}
	got, err := parseSysbenchCPU(string(out))
	if err != nil || got != 3932.76 {
		t.Fatalf("got %v, %v; want 3932.76", got, err)
	}
	if _, err := parseSysbenchCPU("FATAL: no such test"); err == nil {
		t.Fatal("garbage parsed without error")
	}
}

func TestParseFio(t *testing.T) {
	tests := []struct {
		file  string
		write bool
		bw    float64
		iops  float64
	}{
		{"testdata/fio-write.json", true, 699050666, 666.666667},
		{"testdata/fio-randread.json", false, 54127760, 13214.785215},
	}
	for _, tc := range tests {
		out, err := os.ReadFile(tc.file)
		if err != nil {
			t.Fatal(err)
		}
		r, err := parseFio(out, tc.write)
		if err != nil || r.BWBytes != tc.bw || r.IOPS != tc.iops || r.JobRuntimeMS <= 0 || r.IOBytes <= 0 {
			t.Errorf("%s: %+v, %v", tc.file, r, err)
		}
		// job_runtime is in whole milliseconds: these short captures differ
		// from fio's own rates by rounding, never by much.
		if bw, iops := r.withFsync(); math.Abs(bw/r.BWBytes-1) > 0.2 || math.Abs(iops/r.IOPS-1) > 0.2 {
			t.Errorf("%s: rates over the whole job (%v, %v) far from fio's (%v, %v)", tc.file, bw, iops, r.BWBytes, r.IOPS)
		}
		if _, err := parseFio(out, !tc.write); err == nil {
			t.Errorf("%s: the other direction parsed without error", tc.file)
		}
	}
	if _, err := parseFio([]byte("fio: failed"), false); err == nil {
		t.Error("garbage parsed without error")
	}
}

func TestParseIperf3(t *testing.T) {
	out, err := os.ReadFile("testdata/iperf3-tcp.json")
	if err != nil {
		t.Fatal(err)
	}
	got, err := parseIperf3(out)
	if err != nil || math.Abs(got-14210150259.693922/8) > 1 {
		t.Fatalf("got %v, %v", got, err)
	}
	if _, err := parseIperf3([]byte(`{"error":"unable to connect to server"}`)); err == nil {
		t.Fatal("iperf3 error parsed as a result")
	}
}
