package history

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/isobench/isobench/internal/backend"
	"github.com/isobench/isobench/internal/metric"
	"github.com/isobench/isobench/internal/result"
)

func runAt(id string, at time.Time, cold float64) *result.Run {
	r := &result.Run{Schema: result.SchemaVersion, ID: id, StartedAt: at, Status: result.StatusComplete,
		Config:   result.Config{Workloads: []string{"coldstart"}},
		Backends: []result.BackendRecord{{Info: backend.Info{Name: "runc", Kind: backend.KindContainer}, Available: true}}}
	for i := range 6 {
		r.Samples = append(r.Samples, result.Sample{Backend: "runc", Workload: "coldstart", Rep: i,
			Metrics: []metric.Value{{Name: metric.ColdStart, Unit: metric.Seconds, Value: cold}}})
	}
	return r
}

func TestAddListShowTrendPrune(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	// Added out of order; listed oldest first.
	for i, id := range []string{"cccc0003", "aaaa0001", "bbbb0002"} {
		at := map[string]time.Time{"aaaa0001": t0, "bbbb0002": t0.Add(time.Hour), "cccc0003": t0.Add(2 * time.Hour)}[id]
		if _, err := s.Add(runAt(id, at, 0.1*float64(i+1))); err != nil {
			t.Fatal(err)
		}
	}
	// Adding a run again replaces it.
	if _, err := s.Add(runAt("aaaa0001", t0, 0.5)); err != nil {
		t.Fatal(err)
	}
	entries, err := s.List()
	if err != nil || len(entries) != 3 || entries[0].ID != "aaaa0001" || entries[2].ID != "cccc0003" {
		t.Fatalf("List = %+v, %v", entries, err)
	}
	run, err := s.Get("bbbb")
	if err != nil || run.ID != "bbbb0002" || len(run.Samples) != 6 {
		t.Fatalf("Get(bbbb) = %v, %v", run, err)
	}
	if _, err := s.Get("zzzz"); err == nil || !strings.Contains(err.Error(), "no run") {
		t.Errorf("Get of an unknown id: %v", err)
	}
	points, err := s.Trend("coldstart", "runc", "coldstart")
	if err != nil || len(points) != 3 || points[0].Median != 0.5 || points[2].Median != 0.1 {
		t.Fatalf("Trend = %+v, %v", points, err)
	}
	if keys := Keys(entries); !strings.Contains(strings.Join(keys, " "), "coldstart/runc/coldstart") {
		t.Errorf("Keys = %v", keys)
	}
	removed, err := s.Prune(1, time.Time{})
	if err != nil || len(removed) != 2 {
		t.Fatalf("Prune(keep 1) removed %v, %v", removed, err)
	}
	if _, err := os.Stat(filepath.Join(s.dir, removed[0].File)); !os.IsNotExist(err) {
		t.Errorf("pruned results file still there: %v", err)
	}
	removed, err = s.Prune(-1, t0.Add(3*time.Hour))
	if err != nil || len(removed) != 1 {
		t.Fatalf("Prune(older than) removed %v, %v", removed, err)
	}
	if entries, _ := s.List(); len(entries) != 0 {
		t.Errorf("after pruning all: %v", entries)
	}
}

// Concurrent runs adding at once lose no entry.
func TestConcurrentAdds(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Go(func() {
			if _, err := s.Add(runAt("run"+string(rune('a'+i)), time.Unix(int64(i), 0), 0.1)); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if entries, err := s.List(); err != nil || len(entries) != 16 {
		t.Fatalf("%d entries after 16 concurrent adds, %v", len(entries), err)
	}
}

func TestDamagedIndexNamesTheLine(t *testing.T) {
	dir := t.TempDir()
	s, _ := Open(dir)
	if _, err := s.Add(runAt("aaaa0001", time.Unix(0, 0), 0.1)); err != nil {
		t.Fatal(err)
	}
	f, _ := os.OpenFile(filepath.Join(dir, indexFile), os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString("{not json\n")
	f.Close()
	if _, err := s.List(); err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("damaged index: %v", err)
	}
}
