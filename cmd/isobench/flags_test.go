package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// execute runs the command tree with hooks, so no backend is touched.
func execute(t *testing.T, args ...string) (*runOptions, error) {
	t.Helper()
	var got *runOptions
	h := &hooks{
		run:      func(o *runOptions) error { got = o; return nil },
		backends: func(*backendsOptions) error { return nil },
	}
	cmd := newRootCommand(context.Background(), h)
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(args)
	err := cmd.Execute()
	return got, err
}

func TestRunFlags(t *testing.T) {
	tmp := t.TempDir()
	out := func(name string) string { return filepath.Join(tmp, name) }
	if err := os.MkdirAll(out("used"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(out("used"), "results.json"), []byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}
	readonly := out("readonly")
	if err := os.MkdirAll(readonly, 0o555); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantErr  string
		check    func(*testing.T, *runOptions)
	}{
		{name: "defaults", args: []string{"run", "--out", out("a")}, check: func(t *testing.T, o *runOptions) {
			if o.suite.Reps != 10 || o.suite.Warmup != 2 || o.suite.Limits.CPUs != 1 || o.suite.Limits.MemoryBytes != 512<<20 ||
				len(o.suite.Backends) != 0 || strings.Join(o.suite.Workloads, ",") != "coldstart" {
				t.Fatalf("defaults: %+v", o.suite)
			}
		}},
		{name: "quick", args: []string{"run", "--quick", "--out", out("b")}, check: func(t *testing.T, o *runOptions) {
			if o.suite.Reps != 6 || o.suite.Warmup != 1 || !o.suite.Quick {
				t.Fatalf("quick: %+v", o.suite)
			}
		}},
		{name: "quick keeps explicit reps", args: []string{"run", "--quick", "--reps", "3", "--out", out("c")}, check: func(t *testing.T, o *runOptions) {
			if o.suite.Reps != 3 {
				t.Fatalf("reps = %d", o.suite.Reps)
			}
		}},
		{name: "lists", args: []string{"run", "--backends", "runc, process", "--backends", "crun", "--memory", "1GiB", "--cpus", "2", "--out", out("d")},
			check: func(t *testing.T, o *runOptions) {
				if strings.Join(o.suite.Backends, ",") != "runc,process,crun" || o.suite.Limits.MemoryBytes != 1<<30 || o.suite.Limits.CPUs != 2 {
					t.Fatalf("%+v", o.suite)
				}
			}},
		{name: "zero reps", args: []string{"run", "--reps", "0", "--out", out("e")}, wantCode: exitUsage, wantErr: "--reps: 0"},
		{name: "negative cpus", args: []string{"run", "--cpus", "-1", "--out", out("f")}, wantCode: exitUsage, wantErr: "--cpus: -1"},
		{name: "bad memory", args: []string{"run", "--memory", "lots", "--out", out("g")}, wantCode: exitUsage, wantErr: "--memory"},
		{name: "negative memory", args: []string{"run", "--memory", "-5MiB", "--out", out("g2")}, wantCode: exitUsage, wantErr: "--memory"},
		{name: "negative warmup", args: []string{"run", "--warmup", "-1", "--out", out("h")}, wantCode: exitUsage, wantErr: "--warmup"},
		{name: "unknown backend", args: []string{"run", "--backends", "lxc", "--out", out("i")}, wantCode: exitUsage, wantErr: "valid: process, crun, docker, runc"},
		{name: "unknown workload", args: []string{"run", "--workloads", "nope", "--out", out("j")}, wantCode: exitUsage, wantErr: "valid: coldstart, cpu"},
		{name: "existing results", args: []string{"run", "--out", out("used")}, wantCode: exitUsage, wantErr: "already holds results.json"},
		{name: "unknown flag", args: []string{"run", "--repz", "3"}, wantCode: exitUsage, wantErr: "unknown flag"},
		{name: "non-numeric reps", args: []string{"run", "--reps", "many"}, wantCode: exitUsage, wantErr: "--reps"},
		{name: "stray argument", args: []string{"run", "runc"}, wantCode: exitUsage, wantErr: "unknown command"},
		{name: "bad log level", args: []string{"--log-level", "loud", "run", "--out", out("k")}, wantCode: exitUsage, wantErr: "--log-level"},
		{name: "unknown command", args: []string{"frobnicate"}, wantCode: exitUsage, wantErr: "unknown command"},
		{name: "backends rejects args", args: []string{"backends", "runc"}, wantCode: exitUsage, wantErr: "unknown command"},
	}
	if os.Geteuid() != 0 {
		t.Log("not root: unwritable-dir case skipped")
	} else {
		// root ignores mode bits; a path below a file is unwritable for anyone.
		tests = append(tests, struct {
			name     string
			args     []string
			wantCode int
			wantErr  string
			check    func(*testing.T, *runOptions)
		}{name: "unwritable out", args: []string{"run", "--out", filepath.Join(out("used"), "results.json", "sub")}, wantCode: exitUsage, wantErr: "--out: cannot create"})
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := execute(t, tc.args...)
			if code := exitCodeQuiet(err); code != tc.wantCode {
				t.Fatalf("exit code %d (err %v), want %d", code, err, tc.wantCode)
			}
			if tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("error %v, want it to contain %q", err, tc.wantErr)
			}
			if tc.check != nil {
				if got == nil {
					t.Fatal("run hook not called")
				}
				tc.check(t, got)
			}
			if tc.wantCode != 0 && got != nil {
				t.Fatal("run hook called despite bad input")
			}
		})
	}
}
