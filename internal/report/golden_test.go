package report

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/isobench/isobench/internal/metric"
	"github.com/isobench/isobench/internal/result"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// goldenRun is testRun plus a workload with a skipped metric and a density
// curve, so every part of every format is exercised.
func goldenRun() *result.Run {
	run := testRun()
	run.Command = []string{"isobench", "run", "--quick"}
	run.Config.Workloads = append(run.Config.Workloads, "cpu", "density")
	for i := range 6 {
		run.Samples = append(run.Samples, result.Sample{Backend: "process", Accel: "native", Workload: "cpu", Rep: i,
			Metrics: []metric.Value{{Name: metric.CPUEventsPerSec, Unit: metric.OpsPerSec, Value: 1000 + float64(i)}},
			Skipped: map[metric.Name]string{metric.CPUEventsPerSecAll: "--cpus is 1"}})
		run.Samples = append(run.Samples, result.Sample{Backend: "qemu", Accel: "tcg", Workload: "cpu", Rep: i,
			Metrics: []metric.Value{{Name: metric.CPUEventsPerSec, Unit: metric.OpsPerSec, Value: 400 + float64(i)}}})
	}
	run.Samples = append(run.Samples, result.Sample{Backend: "process", Accel: "native", Workload: "density",
		Metrics: []metric.Value{{Name: metric.DensityInstances, Unit: metric.Count, Value: 8}},
		Curve: []result.DensityPoint{{Instances: 4, MemUsed: 4 << 20, PSS: 8 << 20, LaunchP50: 0.01, LaunchMax: 0.02},
			{Instances: 8, MemUsed: 9 << 20, PSS: 16 << 20, LaunchP50: 0.012, LaunchMax: 0.03}},
		Stop: "count limit of 8 sandboxes reached (--density-max)"})
	return run
}

// Every format is deterministic for the same input and matches its golden
// file (go test ./internal/report -update rewrites them after a deliberate
// change).
func TestFormatsMatchGoldenFiles(t *testing.T) {
	for _, format := range Formats {
		t.Run(format, func(t *testing.T) {
			var first, second bytes.Buffer
			if err := Write(&first, goldenRun(), format); err != nil {
				t.Fatal(err)
			}
			if err := Write(&second, goldenRun(), format); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(first.Bytes(), second.Bytes()) {
				t.Fatal("two writes of the same run differ")
			}
			// The embedded chart library is not ours to pin in a golden file.
			out := bytes.Replace(first.Bytes(), []byte(chartJS), []byte("/* Chart.js */"), 1)
			first.Reset()
			first.Write(out)
			golden := filepath.Join("testdata", "golden."+format)
			if *update {
				if err := os.MkdirAll("testdata", 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, first.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if !bytes.Equal(first.Bytes(), want) {
				t.Errorf("%s output differs from %s:\n%s", format, golden, first.String())
			}
		})
	}
}

func TestUnknownFormat(t *testing.T) {
	if err := Write(&bytes.Buffer{}, goldenRun(), "pdf"); err == nil {
		t.Error("format pdf accepted")
	}
}
