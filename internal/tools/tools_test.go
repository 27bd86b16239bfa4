package tools

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The fixtures are the tools' real output, captured on Debian 12
// (sysbench 1.0.20, fio 3.33, iperf3 3.12, ab 2.3).
func fixture(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b)) }

func TestSysbench(t *testing.T) {
	tests := []struct {
		fixture string
		want    map[string]float64
	}{
		{"sysbench-cpu.txt", map[string]float64{
			"CPU speed/events per second":               1667.06,
			"General statistics/total time":             2.0002,
			"General statistics/total number of events": 3336,
			"Latency (ms)/95th percentile":              0.61,
			"Threads fairness/events (avg/stddev)":      3336,
		}},
		{"sysbench-fileio-seqwr.txt", map[string]float64{
			"Throughput/written, MiB/s":    645.09,
			"Throughput/read, MiB/s":       0,
			"File operations/writes/s":     41286.03,
			"Latency (ms)/95th percentile": 0.01,
		}},
		{"sysbench-fileio-seqrd.txt", map[string]float64{"Throughput/written, MiB/s": 0}},
		{"sysbench-oltp-read-write.txt", map[string]float64{
			"SQL statistics/transactions":          3268,
			"SQL statistics/transactions per sec.": 1087.56,
			"SQL statistics/ignored errors":        0,
			"Latency (ms)/95th percentile":         5.09,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.fixture, func(t *testing.T) {
			r, err := ParseSysbench(fixture(t, tt.fixture))
			if err != nil {
				t.Fatal(err)
			}
			for k, want := range tt.want {
				got, err := r.Get(k)
				if err != nil || !near(got, want) {
					t.Errorf("%s = %v, %v; want %v", k, got, err, want)
				}
			}
		})
	}
	if _, err := ParseSysbench("FATAL: unknown test 'cpux'\n"); err == nil || !strings.Contains(err.Error(), "unknown test") {
		t.Errorf("a failed run parsed: %v", err)
	}
	r, _ := ParseSysbench(fixture(t, "sysbench-cpu.txt"))
	if _, err := r.Get("Throughput/read, MiB/s"); err == nil || !strings.Contains(err.Error(), "read, MiB/s") {
		t.Errorf("missing figure: %v", err)
	}
}

func TestSysbenchReadRate(t *testing.T) {
	r, err := ParseSysbench(fixture(t, "sysbench-fileio-seqrd.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := r.Get("Throughput/read, MiB/s"); !(v > 0) {
		t.Errorf("seqrd read rate %v", v)
	}
}

func TestFio(t *testing.T) {
	jobs, err := ParseFio("fio: some warning\n" + fixture(t, "fio-read.json"))
	if err != nil {
		t.Fatal(err)
	}
	j := jobs[0]
	if j.Name != "seqread" || !near(j.Read.BWBytes, 2565107206) || !near(j.Read.IOPS, 2446.276862) {
		t.Errorf("job %+v", j)
	}
	if p, ok := j.Read.ClatP("99.000000"); !ok || !near(p, 6324224e-9) {
		t.Errorf("clat p99 %v %v", p, ok)
	}
	if _, err := ParseFio("fio: engine libaio not loadable\n"); err == nil {
		t.Error("no report parsed")
	}
	if _, err := ParseFio(`{"jobs":[{"jobname":"x","error":5}]}`); err == nil || !strings.Contains(err.Error(), "error 5") {
		t.Errorf("failed job: %v", err)
	}
}

func TestIperf3(t *testing.T) {
	tcp, err := ParseIperf3([]byte(fixture(t, "iperf3-tcp.json")))
	if err != nil {
		t.Fatal(err)
	}
	if tcp.UDP || !near(tcp.BitsPerSecond, 45141835212.8083) || !near(tcp.RemoteCPU, 62.203394236816656) {
		t.Errorf("tcp %+v", tcp)
	}
	udp, err := ParseIperf3([]byte(fixture(t, "iperf3-udp.json")))
	if err != nil {
		t.Fatal(err)
	}
	if !udp.UDP || !near(udp.BitsPerSecond, 1048491.5964264878) || !near(udp.JitterSeconds, 0.0029162560962140557e-3) || udp.LostPercent != 0 {
		t.Errorf("udp %+v", udp)
	}
	if _, err := ParseIperf3([]byte(`{"start":{},"end":{},"error":"unable to connect to server: Connection refused"}`)); err == nil || !strings.Contains(err.Error(), "Connection refused") {
		t.Errorf("error report: %v", err)
	}
}

func TestAB(t *testing.T) {
	r, err := ParseAB(fixture(t, "ab.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if r.Complete != 2000 || r.Failed != 0 || !near(r.RequestsPerSecond, 22856.62) || !near(r.MeanTimePerRequest, 0.438e-3) {
		t.Errorf("ab %+v", r)
	}
	if _, err := ParseAB("apr_socket_recv: Connection refused (111)\n"); err == nil {
		t.Error("a failed run parsed")
	}
}
