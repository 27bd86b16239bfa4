package backend

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"
)

// Constructor builds a backend for this host, or returns an error wrapping
// ErrUnavailable that says why it cannot and how to fix that.
type Constructor func(ctx context.Context, env Env) (Backend, error)

// Registration is one backend known to isobench.
type Registration struct {
	Name Name
	Kind Kind
	New  Constructor
}

// registry is written only from init functions, before main runs.
var registry = map[Name]Registration{}

var kindOrder = map[Kind]int{KindProcess: 0, KindContainer: 1, KindGVisor: 2, KindMicroVM: 3, KindVM: 4}

// Register adds a backend. An empty or duplicate name is a programming error.
func Register(r Registration) {
	if r.Name == "" || r.New == nil {
		panic("backend: Register needs a name and a constructor")
	}
	if _, dup := registry[r.Name]; dup {
		panic(fmt.Sprintf("backend: %q registered twice", r.Name))
	}
	registry[r.Name] = r
}

// Registrations lists every known backend: baseline first, then by
// isolation strength, then by name.
func Registrations() []Registration {
	out := make([]Registration, 0, len(registry))
	for _, r := range registry {
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b Registration) int {
		return cmp.Or(cmp.Compare(kindOrder[a.Kind], kindOrder[b.Kind]), cmp.Compare(a.Name, b.Name))
	})
	return out
}

// Names lists every registered backend name in Registrations order.
func Names() []string {
	var out []string
	for _, r := range Registrations() {
		out = append(out, string(r.Name))
	}
	return out
}

// Detection is the outcome of constructing one backend on this host.
type Detection struct {
	Registration
	Backend Backend // nil when Err is set
	Err     error
}

// Available reports whether the backend can be used.
func (d Detection) Available() bool { return d.Err == nil }

// Detect constructs the named backends (all when names is empty) in
// parallel, since some probes wait for a sandbox to start or time out.
func Detect(ctx context.Context, env Env, names []Name) ([]Detection, error) {
	regs := Registrations()
	if len(names) > 0 {
		var picked []Registration
		for _, n := range names {
			r, ok := registry[n]
			if !ok {
				return nil, fmt.Errorf("unknown backend %q (valid: %v)", n, Names())
			}
			picked = append(picked, r)
		}
		regs = picked
	}
	out := make([]Detection, len(regs))
	var wg sync.WaitGroup
	for i, r := range regs {
		wg.Go(func() {
			b, err := r.New(ctx, env)
			out[i] = Detection{Registration: r, Backend: b, Err: err}
		})
	}
	wg.Wait()
	return out, ctx.Err()
}
