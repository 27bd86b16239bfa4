package evaluate

import (
	"strings"
	"testing"

	"github.com/isobench/isobench/internal/backend"
	"github.com/isobench/isobench/internal/metric"
	"github.com/isobench/isobench/internal/result"
)

func evalRun() *result.Run {
	r := &result.Run{Schema: result.SchemaVersion, ID: "e1"}
	for _, b := range []struct {
		name  backend.Name
		kind  backend.Kind
		cold  float64
		snap  bool
		accel backend.Accel
	}{{"process", backend.KindProcess, 0.01, false, backend.AccelNative}, {"runc", backend.KindContainer, 0.1, false, backend.AccelNative},
		{"qemu", backend.KindVM, 2, true, backend.AccelTCG}} {
		r.Backends = append(r.Backends, result.BackendRecord{Info: backend.Info{Name: b.name, Kind: b.kind, Accel: b.accel,
			Capabilities: backend.Capabilities{Snapshot: b.snap}}, Available: true})
		for i := range 6 {
			r.Samples = append(r.Samples, result.Sample{Backend: b.name, Accel: b.accel, Workload: "coldstart", Rep: i,
				Metrics: []metric.Value{{Name: metric.ColdStart, Unit: metric.Seconds, Value: b.cold}}})
		}
	}
	r.Backends = append(r.Backends, result.BackendRecord{Info: backend.Info{Name: "crun", Kind: backend.KindContainer}, Reason: "missing"})
	return r
}

func TestEvaluateScoresAndRanks(t *testing.T) {
	p, err := ParseProfile([]byte(`
name: test
description: cold start and isolation
criteria:
  - {metric: coldstart, workload: coldstart, weight: 3}
  - {property: isolation_boundary, weight: 1}
  - {property: snapshot, weight: 1}
  - {metric: cpu.events_per_sec, workload: cpu, weight: 2}
`), "test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	scores, err := Evaluate([]*result.Run{evalRun()}, p)
	if err != nil {
		t.Fatal(err)
	}
	if len(scores) != 2 {
		t.Fatalf("%d backends scored, want 2 (crun was not measured, process is the baseline)", len(scores))
	}
	by := map[backend.Name]Score{}
	for _, s := range scores {
		by[s.Backend] = s
	}
	// runc: cold start 10 (the best candidate), isolation 3, snapshot 0 → (30+3+0)/5 = 6.6.
	// qemu: cold start 0.5 (20× slower), isolation 8, snapshot 10 → (1.5+8+10)/5 = 3.9.
	for name, want := range map[backend.Name]float64{"runc": 6.6, "qemu": 3.9} {
		if got := by[name].Total; got < want-0.01 || got > want+0.01 {
			t.Errorf("%s total %.3f, want %.2f (parts %+v)", name, got, want, by[name].Parts)
		}
	}
	if scores[0].Backend != "runc" || scores[1].Backend != "qemu" {
		t.Errorf("ranking %s, %s", scores[0].Backend, scores[1].Backend)
	}
	cpu := by["runc"].Parts[3]
	if cpu.Scored || !strings.Contains(cpu.Why, "run the cpu workload") {
		t.Errorf("cpu criterion without cpu results: %+v, want it left out with the reason", cpu)
	}
	var out strings.Builder
	if err := WriteText(&out, p, scores); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"qemu (EMULATED)", "20× worse than the best (runc", "run the cpu workload", "on 5 of 7 weight", "not ranked"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

func TestProfiles(t *testing.T) {
	for _, name := range BuiltinNames() {
		if _, err := LoadProfile(name); err != nil {
			t.Errorf("built-in %s: %v", name, err)
		}
	}
	for _, tc := range []struct{ yaml, want string }{
		{"name: x\ncriteria: []", "criteria: none"},
		{"name: x\ncriteria:\n  - {metric: coldstart, workload: coldstart, weight: 0}", "weight 0"},
		{"name: x\ncriteria:\n  - {metric: nope, workload: coldstart, weight: 1}", `unknown metric "nope"`},
		{"name: x\ncriteria:\n  - {metric: coldstart, weight: 1}", "needs the workload"},
		{"name: x\ncriteria:\n  - {property: beauty, weight: 1}", `unknown property "beauty"`},
		{"name: x\ncriteria:\n  - {weight: 1}", "give a metric"},
		{"name: x\ncolour: red\ncriteria: []", "colour"},
		{"name: [", "profile p.yaml"},
	} {
		if _, err := ParseProfile([]byte(tc.yaml), "p.yaml"); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want it to contain %q", tc.yaml, err, tc.want)
		}
	}
	if _, err := LoadProfile("/nonexistent.yaml"); err == nil || !strings.Contains(err.Error(), "faas, grader, throughput") {
		t.Errorf("unknown profile: %v", err)
	}
}

// Several results files are pooled: the median is of all their samples.
func TestEvaluatePoolsRuns(t *testing.T) {
	p, err := ParseProfile([]byte("name: t\ncriteria:\n  - {metric: coldstart, workload: coldstart, weight: 1}\n"), "t.yaml")
	if err != nil {
		t.Fatal(err)
	}
	a, b := evalRun(), evalRun()
	for i := range b.Samples {
		if b.Samples[i].Backend == "runc" {
			b.Samples[i].Metrics[0].Value = 0.3 // runc slower in the second run
		}
	}
	scores, err := Evaluate([]*result.Run{a, b}, p)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range scores {
		// Six samples at 100 ms and six at 300 ms: the pooled median is
		// 200 ms (one run's median alone would be 100 or 300).
		if s.Backend == "runc" && !strings.Contains(s.Parts[0].Why, "200 ms") {
			t.Errorf("runc pooled median: %s", s.Parts[0].Why)
		}
	}
}
