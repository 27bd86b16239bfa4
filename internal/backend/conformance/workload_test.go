package conformance

import (
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/isobench/isobench/internal/agent"
	"github.com/isobench/isobench/internal/backend"
	"github.com/isobench/isobench/internal/netpeer"
	"github.com/isobench/isobench/internal/workload"
)

// Every workload, with tiny sizes, in every available backend: each
// declared metric is either a positive, finite value or skipped with a
// reason — never missing, never a silent zero.
func TestWorkloadsRunInEveryBackend(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend.Backend, env backend.Env) {
		tiny := map[workload.ID]map[string]string{
			workload.CPUID:   {"duration": "100ms", "threads": "2"},
			workload.Memory:  {"size": "8MiB", "latency_size": "8MiB", "duration": "50ms"},
			workload.Syscall: {"duration": "50ms"},
			workload.Spawn:   {"duration": "50ms"},
			workload.FileIO:  {"size": "4MiB", "duration": "50ms"},
			workload.Network: {"duration": "50ms", "round_trips": "20", "udp_packets": "5"},
		}
		// The scratch volume must be on disk: t.TempDir may be tmpfs.
		scratch, err := os.MkdirTemp("/var/tmp", "isobench-conformance-")
		if err != nil {
			t.Fatal(err)
		}
		defer os.RemoveAll(scratch)
		ctx := testContext(t)
		sb, err := b.Launch(ctx, backend.Spec{ID: backend.IDPrefix + env.RunID + "-wl", Limits: backend.Limits{CPUs: 2, MemoryBytes: 256 << 20},
			Scratch: scratch, Network: true})
		if err != nil {
			t.Fatalf("launch: %v", err)
		}
		closed := false
		defer func() {
			if !closed {
				sb.Close(ctx)
			}
		}()
		// The native peer for the network workload, on the host end of the
		// sandbox's link.
		linker, ok := sb.(backend.HostLinker)
		if !ok {
			tiny[workload.Network][workload.NoPeerParam] = "no link"
		} else if addr, reason := linker.HostAddr(); addr != "" {
			srv, err := netpeer.Serve(addr)
			if err != nil {
				t.Fatal(err)
			}
			defer srv.Close()
			tiny[workload.Network][workload.PeerParam] = srv.Addr()
		} else {
			t.Logf("no host link: %s", reason)
			tiny[workload.Network][workload.NoPeerParam] = reason
		}
		for id, params := range tiny {
			spec, err := workload.Lookup(id)
			if err != nil {
				t.Fatal(err)
			}
			res, err := sb.Run(ctx, agent.Request{Workload: string(id), Params: params})
			if err != nil {
				t.Errorf("%s: %v", id, err)
				continue
			}
			got := map[string]float64{}
			for _, v := range res.Metrics {
				got[string(v.Name)] = v.Value
			}
			for _, n := range spec.Metrics {
				v, ok := got[string(n)]
				reason := res.Skipped[n]
				switch {
				case ok && (v <= 0 || math.IsNaN(v) || math.IsInf(v, 0)):
					t.Errorf("%s: %s = %v", id, n, v)
				case !ok && reason == "":
					t.Errorf("%s: %s neither measured nor skipped with a reason", id, n)
				case !ok:
					t.Logf("%s: %s skipped: %s", id, n, reason)
				}
			}
		}
		// Closed first: a VM's scratch volume is a disk image in the
		// directory, which Close must remove too.
		closed = true
		if err := sb.Close(ctx); err != nil {
			t.Errorf("close: %v", err)
		}
		if entries, _ := os.ReadDir(scratch); len(entries) > 0 {
			t.Errorf("fileio (or the backend) left files in the scratch volume: %v", entries)
		}
	})
}

// A writable root: file I/O on the sandbox's own root filesystem (an
// overlay for containers), leaving the shared image untouched.
func TestWritableRoot(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend.Backend, env backend.Env) {
		scratch, err := os.MkdirTemp("/var/tmp", "isobench-conformance-")
		if err != nil {
			t.Fatal(err)
		}
		defer os.RemoveAll(scratch)
		ctx := testContext(t)
		sb, err := b.Launch(ctx, backend.Spec{ID: backend.IDPrefix + env.RunID + "-root", Limits: limits, Scratch: scratch, WritableRoot: true})
		if err != nil {
			t.Fatalf("launch: %v", err)
		}
		res, err := sb.Run(ctx, agent.Request{Workload: string(workload.FileIO),
			Params: map[string]string{"dir": "$" + workload.RootDirEnv, "size": "4MiB", "duration": "20ms"}})
		if err != nil {
			t.Fatalf("fileio on the root filesystem: %v", err)
		}
		if len(res.Metrics) < 4 && len(res.Skipped) != 8 {
			t.Fatalf("buffered figures missing and not skipped with a reason: %+v %v", res.Metrics, res.Skipped)
		}
		if err := sb.Close(ctx); err != nil {
			t.Fatal(err)
		}
		// The shared read-only image must not have been written through.
		if matches, _ := filepath.Glob(filepath.Join(env.WorkDir, "*", "rootfs", "var")); len(matches) > 0 {
			t.Fatalf("the shared image was modified: %v", matches)
		}
	})
}
