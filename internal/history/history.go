// Package history keeps every run: a copy of its results and one summary
// line per run (its medians) in an index, so that runs can be listed,
// shown, followed over time and pruned.
//
// It is a directory of JSON files rather than an SQLite database because
// the agent in every sandbox is this same binary: modernc.org/sqlite's
// package initialisation (its libc, 2.0 ms) would be paid by every agent
// start in every backend — 15% of the native baseline's cold start here.
package history

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/isobench/isobench/internal/report"
	"github.com/isobench/isobench/internal/result"
	"github.com/isobench/isobench/internal/stats"
)

// indexFile lists the stored runs, one JSON Entry per line, oldest first.
const indexFile = "index.jsonl"

// Store is a history directory.
type Store struct{ dir string }

// DefaultDir is $XDG_DATA_HOME/isobench/history, or
// ~/.local/share/isobench/history.
func DefaultDir() (string, error) {
	if d := os.Getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "isobench", "history"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("history: no home directory (set XDG_DATA_HOME or --history): %w", err)
	}
	return filepath.Join(home, ".local", "share", "isobench", "history"), nil
}

// Open returns the store in dir, creating it.
func Open(dir string) (*Store, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("history: %w", err)
	}
	return &Store{dir: dir}, nil
}

// Entry is one stored run's summary.
type Entry struct {
	ID        string    `json:"id"`
	StartedAt time.Time `json:"started_at"`
	Status    string    `json:"status"`
	Host      string    `json:"host"`
	Kernel    string    `json:"kernel"`
	Backends  []string  `json:"backends"`
	Workloads []string  `json:"workloads"`
	Command   string    `json:"command"`
	File      string    `json:"file"` // the stored results, relative to the store
	// Medians maps "workload/backend/metric" to the median.
	Medians map[string]float64 `json:"medians"`
}

// Key names one median in Entry.Medians.
func Key(workload, backend, metric string) string { return workload + "/" + backend + "/" + metric }

// Add stores a run (a copy of its results and its summary line). A run
// stored already is replaced.
func (s *Store) Add(run *result.Run) (Entry, error) {
	e := entryOf(run)
	data, err := json.Marshal(run)
	if err != nil {
		return Entry{}, fmt.Errorf("history: %w", err)
	}
	if err := writeAtomic(filepath.Join(s.dir, e.File), data); err != nil {
		return Entry{}, err
	}
	err = s.update(func(entries []Entry) []Entry {
		entries = slices.DeleteFunc(entries, func(x Entry) bool { return x.ID == e.ID })
		entries = append(entries, e)
		slices.SortStableFunc(entries, func(a, b Entry) int { return a.StartedAt.Compare(b.StartedAt) })
		return entries
	})
	return e, err
}

func entryOf(run *result.Run) Entry {
	e := Entry{ID: run.ID, StartedAt: run.StartedAt, Status: string(run.Status), Host: run.Host.CPUModel, Kernel: firstField(run.Host.Kernel),
		Workloads: run.Config.Workloads, Command: strings.Join(run.Command, " "), Medians: map[string]float64{},
		File: run.StartedAt.UTC().Format("20060102T150405Z") + "-" + run.ID + ".json"}
	for _, b := range run.Backends {
		if b.Available {
			e.Backends = append(e.Backends, string(b.Name))
		}
	}
	for _, r := range report.Summarize(run, stats.DefaultConfig) {
		for n, sum := range r.Metrics {
			e.Medians[Key(r.Workload, string(r.Backend), string(n))] = sum.Median
		}
	}
	return e
}

// List returns the stored runs, oldest first.
func (s *Store) List() ([]Entry, error) {
	f, err := os.Open(filepath.Join(s.dir, indexFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("history: %w", err)
	}
	defer f.Close()
	return readIndex(f, filepath.Join(s.dir, indexFile))
}

func readIndex(f *os.File, name string) ([]Entry, error) {
	var out []Entry
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 64<<20)
	for line := 1; sc.Scan(); line++ {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		var e Entry
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			return nil, fmt.Errorf("history: %s: line %d: %w (remove the line or the file to start over)", name, line, err)
		}
		out = append(out, e)
	}
	return out, sc.Err()
}

// Get reads a stored run by id (or a unique prefix of it).
func (s *Store) Get(id string) (*result.Run, error) {
	entries, err := s.List()
	if err != nil {
		return nil, err
	}
	var found []Entry
	for _, e := range entries {
		if strings.HasPrefix(e.ID, id) {
			found = append(found, e)
		}
	}
	switch len(found) {
	case 0:
		return nil, fmt.Errorf("history: no run %q (isobench history list shows them)", id)
	case 1:
		return result.ReadFile(filepath.Join(s.dir, found[0].File))
	}
	return nil, fmt.Errorf("history: %q matches %d runs; give more of the id", id, len(found))
}

// Point is one run's median of a metric.
type Point struct {
	Entry  Entry
	Median float64
}

// Trend returns, oldest first, the runs that measured workload/backend/metric.
func (s *Store) Trend(workload, backend, metric string) ([]Point, error) {
	entries, err := s.List()
	if err != nil {
		return nil, err
	}
	var out []Point
	for _, e := range entries {
		if v, ok := e.Medians[Key(workload, backend, metric)]; ok {
			out = append(out, Point{e, v})
		}
	}
	return out, nil
}

// Prune removes runs beyond the newest keep (keep < 0: no limit) and runs
// started before olderThan (zero: no limit); it returns the removed ones.
func (s *Store) Prune(keep int, olderThan time.Time) ([]Entry, error) {
	var removed []Entry
	err := s.update(func(entries []Entry) []Entry {
		var kept []Entry
		for i, e := range entries {
			tooMany := keep >= 0 && len(entries)-i > keep
			tooOld := !olderThan.IsZero() && e.StartedAt.Before(olderThan)
			if tooMany || tooOld {
				removed = append(removed, e)
			} else {
				kept = append(kept, e)
			}
		}
		return kept
	})
	if err != nil {
		return nil, err
	}
	var errs []error
	for _, e := range removed {
		if err := os.Remove(filepath.Join(s.dir, e.File)); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return removed, errors.Join(errs...)
}

// update rewrites the index under an exclusive lock, so that concurrent
// isobench runs never lose each other's entries.
func (s *Store) update(f func([]Entry) []Entry) error {
	lock, err := os.OpenFile(filepath.Join(s.dir, ".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return fmt.Errorf("history: %w", err)
	}
	defer lock.Close()
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX); err != nil {
		return fmt.Errorf("history: lock: %w", err)
	}
	entries, err := s.List()
	if err != nil {
		return err
	}
	var b bytes.Buffer
	for _, e := range f(entries) {
		line, err := json.Marshal(e)
		if err != nil {
			return fmt.Errorf("history: %w", err)
		}
		b.Write(append(line, '\n'))
	}
	return writeAtomic(filepath.Join(s.dir, indexFile), b.Bytes())
}

func writeAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return fmt.Errorf("history: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("history: %w", err)
	}
	return nil
}

func firstField(s string) string {
	if f := strings.Fields(s); len(f) > 0 {
		return f[0]
	}
	return ""
}

// Keys lists every workload/backend/metric the entries hold a median of.
func Keys(entries []Entry) []string {
	seen := map[string]bool{}
	for _, e := range entries {
		for k := range e.Medians {
			seen[k] = true
		}
	}
	out := make([]string, 0, len(seen))
	for k := range seen {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
