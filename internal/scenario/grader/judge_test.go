package grader

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/isobench/isobench/internal/agent"
	"github.com/isobench/isobench/internal/metric"
)

func TestJudge(t *testing.T) {
	res := func(exit, sig, timedOut, oom, out float64, log string) *agent.Result {
		return &agent.Result{Log: log, Metrics: []metric.Value{
			{Name: metric.ExecExitCode, Value: exit}, {Name: metric.ExecSignal, Value: sig}, {Name: metric.ExecTimedOut, Value: timedOut},
			{Name: metric.ExecOOMKills, Value: oom}, {Name: metric.ExecOutputBytes, Value: out}, {Name: metric.ExecWall, Value: 1.5}}}
	}
	cases := []struct {
		name    string
		res     *agent.Result
		verdict Verdict
		message string
	}{
		{"passed", res(0, 0, 0, 0, 3, "ok\n"), VerdictPassed, ""},
		{"tests failed", res(2, 0, 0, 0, 0, ""), VerdictFailed, "exited with status 2"},
		{"time limit", res(-1, 9, 1, 0, 0, ""), VerdictTimeLimit, "time limit (5s)"},
		{"oom", res(-1, 9, 0, 1, 0, ""), VerdictMemoryLimit, "out-of-memory"},
		{"other signal", res(-1, 11, 0, 0, 0, ""), VerdictKilled, "signal 11"},
		{"sigkill without oom", res(-1, 9, 0, 0, 0, ""), VerdictKilled, "signal 9"},
		{"truncated", res(0, 0, 0, 0, 5000, strings.Repeat("x", 1024)), VerdictPassed, "first 1024 of 5000 bytes"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var o Outcome
			judge(&o, tc.res, 5*time.Second, 1024)
			if o.Verdict != tc.verdict || !strings.Contains(o.Message, tc.message) || o.Phases.Tests != 1.5 {
				t.Errorf("got %s %q (tests %v), want %s with %q", o.Verdict, o.Message, o.Phases.Tests, tc.verdict, tc.message)
			}
		})
	}
}

func TestStoreRefusesNewerSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "g.db")
	s, err := OpenStore(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.db.Exec(`INSERT INTO schema_migrations (version, applied_at) VALUES (?, 0)`, SchemaVersion()+1); err != nil {
		t.Fatal(err)
	}
	s.Close()
	_, err = OpenStore(context.Background(), path)
	if err == nil || !strings.Contains(err.Error(), "newer than this isobench") {
		t.Fatalf("opening a newer schema: %v", err)
	}
	// Opening twice at the current version migrates nothing and works.
	other := filepath.Join(t.TempDir(), "h.db")
	for range 2 {
		s, err := OpenStore(context.Background(), other)
		if err != nil {
			t.Fatal(err)
		}
		s.Close()
	}
}

func TestStoreBadDSN(t *testing.T) {
	for _, dsn := range []string{"", "sqlite:", "postgres://%zz"} {
		if _, err := OpenStore(context.Background(), dsn); err == nil || !strings.Contains(err.Error(), "db") {
			t.Errorf("OpenStore(%q): %v, want an error naming the db", dsn, err)
		}
	}
}

func TestEventsRelease(t *testing.T) {
	e := newEvents()
	ch, release := e.wait("a")
	_, release2 := e.wait("a")
	release()
	if len(e.waiters) != 1 {
		t.Fatal("released one of two waits: the waiter must remain")
	}
	e.done("a")
	select {
	case <-ch:
	default:
		t.Fatal("done did not wake the waiter")
	}
	release2()
	_, release3 := e.wait("b")
	release3()
	if len(e.waiters) != 0 {
		t.Fatalf("abandoned waits pile up: %v", e.waiters)
	}
}
