// Package workload holds what the agent runs inside a sandbox. Each workload
// is a function of its parameters that returns measured values; the agent
// binary is identical in every backend, so differences between backends come
// from the isolation layer alone.
package workload

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/isobench/isobench/internal/metric"
)

// ID names an in-sandbox workload.
type ID string

const (
	// Noop does nothing: cold start is measured around it by the host.
	Noop ID = "noop"
	// Sleep idles for "duration" (default forever, until cancelled): an idle
	// instance for density runs, and a hung sandbox for timeout tests.
	Sleep ID = "sleep"
)

// Func runs one workload and returns its values.
type Func func(ctx context.Context, params map[string]string) ([]metric.Value, error)

func registry() map[ID]Func {
	return map[ID]Func{
		Noop:  func(context.Context, map[string]string) ([]metric.Value, error) { return nil, nil },
		Sleep: sleep,
	}
}

// Lookup returns the workload with the given ID.
func Lookup(id ID) (Func, error) {
	reg := registry()
	if f, ok := reg[id]; ok {
		return f, nil
	}
	return nil, fmt.Errorf("unknown workload %q (valid: %s)", id, strings.Join(IDs(), ", "))
}

// IDs lists the in-sandbox workloads in a stable order.
func IDs() []string {
	var ids []string
	for id := range registry() {
		ids = append(ids, string(id))
	}
	slices.Sort(ids)
	return ids
}

func sleep(ctx context.Context, params map[string]string) ([]metric.Value, error) {
	d := time.Duration(1<<63 - 1)
	if s, ok := params["duration"]; ok {
		var err error
		if d, err = time.ParseDuration(s); err != nil || d < 0 {
			return nil, fmt.Errorf("sleep: parameter duration=%q: want a non-negative Go duration such as 500ms", s)
		}
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}
