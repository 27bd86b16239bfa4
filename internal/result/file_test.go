package result

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/isobench/isobench/internal/backend"
	"github.com/isobench/isobench/internal/metric"
)

func sampleRun() *Run {
	start := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	return &Run{
		Schema: SchemaVersion, ID: "0123abcd", Isobench: Build{Version: "dev", GoVersion: "go1.26"},
		Command: []string{"isobench", "run", "--quick"},
		Config: Config{Backends: []string{"runc"}, Workloads: []string{"coldstart"}, Reps: 2, Warmup: 1,
			Limits: backend.Limits{CPUs: 1, MemoryBytes: 512 << 20}, TimeoutSec: 60, Interleaved: true},
		Backends: []BackendRecord{
			{Info: backend.Info{Name: "runc", Kind: backend.KindContainer, Accel: backend.AccelNative, Version: "1.1.5"}, Available: true},
			{Info: backend.Info{Name: "crun", Kind: backend.KindContainer}, Reason: "crun not found in PATH", Fix: "apt-get install crun"},
		},
		StartedAt: start, Status: StatusComplete,
		Samples: []Sample{{Seq: 0, Backend: "runc", Accel: backend.AccelNative, Workload: "coldstart", Start: start,
			Metrics: []metric.Value{{Name: metric.ColdStart, Unit: metric.Seconds, Value: 0.035}}}},
	}
}

func TestSaveReadRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "results.json")
	want := sampleRun()
	if err := Save(path, want); err != nil {
		t.Fatal(err)
	}
	got, err := ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("round trip changed the run:\n got %+v\nwant %+v", got, want)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Fatalf("Save left temp files: %v", entries)
	}
}

func TestReadErrors(t *testing.T) {
	var good bytes.Buffer
	path := filepath.Join(t.TempDir(), "r.json")
	if err := Save(path, sampleRun()); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	good.Write(b)
	tests := []struct {
		name, in, want string
		schema         bool
	}{
		{"truncated", good.String()[:good.Len()/2], "line ", false},
		{"garbage", "{\n  \"schema\": \"isobench/v1\",\n  oops\n}", "line 3", false},
		{"other schema", `{"schema":"isobench/v9"}`, `"isobench/v9"`, true},
		{"no schema", `{"samples":[]}`, "no \"schema\"", true},
		{"wrong type", strings.Replace(good.String(), `"reps": 2`, `"reps": "two"`, 1), "line ", false},
		{"empty", "", "unexpected end", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Read(strings.NewReader(tc.in), "x.json")
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "x.json: ") {
				t.Fatalf("error %q does not name the file and contain %q", err, tc.want)
			}
			if errors.Is(err, ErrSchema) != tc.schema {
				t.Fatalf("errors.Is(ErrSchema) = %v, want %v", !tc.schema, tc.schema)
			}
		})
	}
}

func FuzzRead(f *testing.F) {
	path := filepath.Join(f.TempDir(), "r.json")
	if err := Save(path, sampleRun()); err != nil {
		f.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	f.Add(b)
	f.Add([]byte(`{"schema":"isobench/v1","samples":[{"metrics":null}]}`))
	f.Add([]byte(`{"schema":"isobench/v1"`))
	f.Add([]byte(`{"schema":"isobench/v1","samples":[{"instances":[{"cold_start_s":0.1},{"error":"x"}],"curve":[{"instances":4,"mem_used_bytes":-1}],"stop":"budget"}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		run, err := Read(bytes.NewReader(data), "fuzz")
		if err == nil && run == nil {
			t.Fatal("nil run without error")
		}
		if err != nil && !strings.HasPrefix(err.Error(), "fuzz: ") {
			t.Fatalf("error does not name the input: %v", err)
		}
	})
}
