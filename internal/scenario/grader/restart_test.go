package grader

import (
	"context"
	"path/filepath"
	"testing"
	"time"
)

// TestStopRequeuesRunningJob: a submission running when the service stops
// is re-queued, and the next service on the same database grades it; no
// submission is lost.
func TestStopRequeuesRunningJob(t *testing.T) {
	b, prefix := testBackend(t, "process")
	db := filepath.Join(t.TempDir(), "grader.db")
	svc, c := startService(t, b, prefix+"-a", db, ModeCold)
	var slow Submission
	if err := c.do(context.Background(), "POST", "/v1/submissions", submitRequest{Command: "sleep 3; echo slow job done"}, &slow); err != nil {
		t.Fatal(err)
	}
	var quick []string
	for range 3 {
		var s Submission
		if err := c.do(context.Background(), "POST", "/v1/submissions", submitRequest{Command: "echo quick"}, &s); err != nil {
			t.Fatal(err)
		}
		quick = append(quick, s.ID)
	}
	waitStatus(t, c, slow.ID, StatusRunning)
	if err := svc.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	store, err := OpenStore(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	got, err := store.Get(context.Background(), slow.ID)
	store.Close()
	if err != nil || got.Status != StatusQueued {
		t.Fatalf("after the stop the running job is %+v (err %v), want queued again", got, err)
	}

	_, c2 := startService(t, b, prefix+"-b", db, ModeCold)
	done := waitDone(t, c2, slow.ID)
	if done.Verdict != VerdictPassed || done.Attempts != 2 {
		t.Errorf("re-queued job: verdict %s after %d attempts, want passed after 2", done.Verdict, done.Attempts)
	}
	for _, id := range quick {
		if s := waitDone(t, c2, id); s.Verdict != VerdictPassed {
			t.Errorf("quick job %s: %s", id, s.Verdict)
		}
	}
}

func waitStatus(t *testing.T, c *client, id string, want Status) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		var s Submission
		if err := c.do(context.Background(), "GET", "/v1/submissions/"+id, nil, &s); err != nil {
			t.Fatal(err)
		}
		if s.Status == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("submission %s still %s after a minute, want %s", id, s.Status, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
