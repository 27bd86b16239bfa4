package report

import (
	"strings"
	"testing"
	"time"

	"github.com/isobench/isobench/internal/backend"
	"github.com/isobench/isobench/internal/metric"
	"github.com/isobench/isobench/internal/result"
)

func testRun() *result.Run {
	run := &result.Run{
		Schema: result.SchemaVersion, ID: "abcd1234", Status: result.StatusComplete,
		Config: result.Config{Workloads: []string{"coldstart"}, Reps: 6, Limits: backend.Limits{CPUs: 1, MemoryBytes: 512 << 20}, LaunchMode: "phased"},
		Backends: []result.BackendRecord{
			{Info: backend.Info{Name: "process", Kind: backend.KindProcess, Accel: backend.AccelNative}, Available: true},
			{Info: backend.Info{Name: "qemu", Kind: backend.KindVM, Accel: backend.AccelTCG}, Available: true},
			{Info: backend.Info{Name: "crun", Kind: backend.KindContainer}, Reason: "crun not found in PATH", Fix: "apt-get install crun"},
		},
	}
	for i := range 6 {
		for _, b := range []struct {
			name  backend.Name
			accel backend.Accel
			base  float64
		}{{"process", backend.AccelNative, 0.001}, {"qemu", backend.AccelTCG, 2.5}} {
			v := b.base * (1 + float64(i)/100)
			run.Samples = append(run.Samples, result.Sample{Backend: b.name, Accel: b.accel, Workload: "coldstart", Rep: i, Start: time.Unix(0, 0),
				Metrics: []metric.Value{
					{Name: metric.ColdStart, Unit: metric.Seconds, Value: v},
					{Name: metric.LaunchToTeardown, Unit: metric.Seconds, Value: 2 * v},
					{Name: metric.Phase("spawn"), Unit: metric.Seconds, Value: v / 2},
				}})
		}
	}
	run.Samples = append(run.Samples, result.Sample{Backend: "process", Workload: "coldstart", Warmup: true,
		Metrics: []metric.Value{{Name: metric.ColdStart, Unit: metric.Seconds, Value: 99}}})
	run.Samples = append(run.Samples, result.Sample{Backend: "process", Workload: "coldstart", Error: "launch: boom"})
	return run
}

func TestWriteText(t *testing.T) {
	var b strings.Builder
	if err := WriteText(&b, testRun()); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"tcg (EMULATED)", // emulated rows are marked
		"crun: crun not found in PATH — fix: apt-get install crun", // unavailable backends are listed with the fix
		"1: launch: boom", // failures are shown, not dropped
		"1.03 ms",         // process median
		"2562 ms",         // one unit prefix per column
		"SPAWN",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "99") {
		t.Errorf("warm-up sample leaked into the summary:\n%s", out)
	}
}

func TestSummarizeExcludesWarmupsAndFailures(t *testing.T) {
	rows := Summarize(testRun(), DefaultStats())
	if len(rows) != 2 {
		t.Fatalf("%d rows, want 2", len(rows))
	}
	p := rows[0]
	if p.Backend != "process" || p.Samples != 7 || p.Failed != 1 || p.Metrics[metric.ColdStart].N != 6 {
		t.Fatalf("process row %+v", p)
	}
}
