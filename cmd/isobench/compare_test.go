package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/isobench/isobench/internal/metric"
	"github.com/isobench/isobench/internal/result"
)

func writeRun(t *testing.T, dir, name string, coldStarts ...float64) string {
	t.Helper()
	r := &result.Run{Schema: result.SchemaVersion, ID: name, Status: result.StatusComplete, Config: result.Config{Workloads: []string{"coldstart"}}}
	for i, v := range coldStarts {
		r.Samples = append(r.Samples, result.Sample{Seq: i, Backend: "runc", Workload: "coldstart",
			Metrics: []metric.Value{{Name: metric.ColdStart, Unit: metric.Seconds, Value: v}}})
	}
	path := filepath.Join(dir, name+".json")
	if err := result.Save(path, r); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestCompareCommand(t *testing.T) {
	dir := t.TempDir()
	old := writeRun(t, dir, "old", 0.100, 0.101, 0.099, 0.102, 0.098, 0.100)
	slower := writeRun(t, dir, "slower", 0.150, 0.151, 0.149, 0.152, 0.148, 0.150)
	same := writeRun(t, dir, "same", 0.101, 0.100, 0.099, 0.100, 0.102, 0.098)
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantOut  string
	}{
		{"regression reported", []string{"compare", old, slower}, exitOK, "WORSE"},
		{"regression fails the check", []string{"compare", old, slower, "--fail-on-regression"}, exitFailure, "WORSE"},
		{"no change passes", []string{"compare", old, same, "--fail-on-regression"}, exitOK, "0 better, 0 worse"},
		{"pooled sides", []string{"compare", old + "," + same, slower + "," + slower}, exitOK, "12+12"},
		{"bad alpha", []string{"compare", old, same, "--alpha", "2"}, exitUsage, ""},
		{"missing file", []string{"compare", old, filepath.Join(dir, "nope.json")}, exitUsage, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cmd := newRootCommand(context.Background(), &hooks{})
			var out bytes.Buffer
			cmd.SetOut(&out)
			cmd.SetErr(&out)
			cmd.SetArgs(tc.args)
			err := cmd.Execute()
			if code := exitCodeQuiet(err); code != tc.wantCode {
				t.Fatalf("exit code %d (err %v), want %d\n%s", code, err, tc.wantCode, out.String())
			}
			if !strings.Contains(out.String(), tc.wantOut) {
				t.Errorf("output lacks %q:\n%s", tc.wantOut, out.String())
			}
		})
	}
}
