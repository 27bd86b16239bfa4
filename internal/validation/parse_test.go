package validation

import (
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
		if err != nil || r.BWBytes != tc.bw || r.IOPS != tc.iops {
			t.Errorf("%s: %+v, %v", tc.file, r, err)
		}
		if _, err := parseFio(out, !tc.write); err == nil {
			t.Errorf("%s: the other direction parsed without error", tc.file)
		}
	}
	if _, err := parseFio([]byte("fio: failed"), false); err == nil {
		t.Error("garbage parsed without error")
	}
}
