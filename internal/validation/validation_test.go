//go:build validation

package validation

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/isobench/isobench/internal/agent"
	"github.com/isobench/isobench/internal/metric"
	"github.com/isobench/isobench/internal/netpeer"
	"github.com/isobench/isobench/internal/stats"
	"github.com/isobench/isobench/internal/testutil"
)

// Run: go test -tags validation -count=1 -v ./internal/validation
// (needs sysbench and fio; about 3 minutes). Each repetition runs isobench's
// agent and the standard tool back to back, alternating which goes first.

const reps = 5

func agentRun(t *testing.T, bin, wl string, params map[string]string) (map[metric.Name]float64, error) {
	t.Helper()
	req, _ := agent.EncodeRequest(agent.Request{Op: agent.OpRun, Workload: wl, Params: params})
	cmd := exec.Command(bin, "agent")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	// Closing stdin (after the result) lets the agent exit; closing it
	// earlier would cancel the workload.
	defer cmd.Wait()
	defer stdin.Close()
	if _, err := stdin.Write(req); err != nil {
		return nil, err
	}
	fr := agent.NewFrameReader(stdout)
	for {
		f, err := fr.Next()
		if err != nil {
			return nil, fmt.Errorf("no result frame: %w (%s)", err, fr.Noise())
		}
		switch f.Type {
		case agent.FrameError:
			return nil, fmt.Errorf("agent: %s", f.Error)
		case agent.FrameResult:
			m := map[metric.Name]float64{}
			for _, v := range f.Result.Metrics {
				m[v.Name] = v.Value
			}
			return m, nil
		}
	}
}

type pair struct{ Ours, Theirs []float64 }

func (p *pair) report(t *testing.T, name string, target float64) string {
	o := stats.Summarize(p.Ours, stats.DefaultConfig)
	s := stats.Summarize(p.Theirs, stats.DefaultConfig)
	ratio := o.Median / s.Median
	verdict := "ok"
	if ratio < 1-target || ratio > 1+target {
		verdict = fmt.Sprintf("OUTSIDE ±%.0f%%", target*100)
		t.Errorf("%s: isobench/tool = %.3f, outside ±%.0f%%", name, ratio, target*100)
	}
	return fmt.Sprintf("| %s | %.4g | %.4g | %.3f | %s |", name, o.Median, s.Median, ratio, verdict)
}

func build(t *testing.T) string {
	testutil.RequireRoot(t)
	bin, err := testutil.BuildIsobench(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

func TestCPUAgainstSysbench(t *testing.T) {
	bin := build(t)
	if _, err := exec.LookPath("sysbench"); err != nil {
		t.Skip("sysbench not installed (apt-get install sysbench)")
	}
	var p pair
	for i := range reps {
		steps := []func(){
			func() {
				m, err := agentRun(t, bin, "cpu", map[string]string{"max_prime": "10000", "threads": "1", "duration": "5s"})
				if err != nil {
					t.Fatal(err)
				}
				p.Ours = append(p.Ours, m[metric.CPUEventsPerSec])
			},
			func() {
				out, err := exec.Command("sysbench", "cpu", "--cpu-max-prime=10000", "--threads=1", "--time=5", "run").Output()
				if err != nil {
					t.Fatal(err)
				}
				v, err := parseSysbenchCPU(string(out))
				if err != nil {
					t.Fatal(err)
				}
				p.Theirs = append(p.Theirs, v)
			},
		}
		if i%2 == 1 {
			slices.Reverse(steps)
		}
		for _, s := range steps {
			s()
		}
	}
	t.Log("\n| metric | isobench | sysbench | ratio | within target |\n| --- | --- | --- | --- | --- |\n" +
		p.report(t, "cpu events/s, max_prime 10000, 1 thread, 5 s", 0.05))
}

func TestFileIOAgainstFio(t *testing.T) {
	bin := build(t)
	if _, err := exec.LookPath("fio"); err != nil {
		t.Skip("fio not installed (apt-get install fio)")
	}
	dir := filepath.Join("/var/tmp", fmt.Sprintf("isobench-validation-%d", os.Getpid()))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	const size, runtime = "256MiB", "2"
	type job struct {
		name   string
		ours   metric.Name
		fioArg []string
		write  bool
		iops   bool
	}
	var jobs []job
	for _, direct := range []string{"0", "1"} {
		suffix := map[string]string{"0": "", "1": ".direct"}[direct]
		// Like for like: isobench times whole loops, not each I/O
		// (gtod_reduce=1: per-I/O clock reads cost fio up to 20% of O_DIRECT
		// write speed on this VM host), and gives the kernel no access-pattern
		// hints (fadvise_hint=0).
		common := []string{"--ioengine=psync", "--direct=" + direct, "--size=" + strings.TrimSuffix(size, "iB"),
			"--gtod_reduce=1", "--fadvise_hint=0", "--output-format=json"}
		jobs = append(jobs,
			job{"seq write 1 MiB, direct=" + direct, metric.Name("fileio.seq_write" + suffix), append([]string{"--rw=write", "--bs=1M", "--end_fsync=1"}, common...), true, false},
			job{"seq read 1 MiB, direct=" + direct, metric.Name("fileio.seq_read" + suffix), append([]string{"--rw=read", "--bs=1M", "--invalidate=1"}, common...), false, false},
			job{"rand write 4 KiB, direct=" + direct, metric.Name("fileio.rand_write" + suffix), append([]string{"--rw=randwrite", "--bs=4k", "--end_fsync=1", "--time_based", "--runtime=" + runtime,
				// fio's random map costs it more per write than the page cache
				// does (fio: 97k writes/s with it, 303k without; isobench's
				// shuffled order: ~350k); for writes, repeats change nothing.
				"--norandommap"}, common...), true, true},
			job{"rand read 4 KiB, direct=" + direct, metric.Name("fileio.rand_read" + suffix), append([]string{"--rw=randread", "--bs=4k", "--invalidate=1", "--time_based", "--runtime=" + runtime}, common...), false, true},
		)
	}
	pairs := make([]pair, len(jobs))
	for i := range reps {
		steps := []func(){
			func() {
				m, err := agentRun(t, bin, "fileio", map[string]string{"dir": dir, "size": size, "duration": runtime + "s"})
				if err != nil {
					t.Fatal(err)
				}
				for j, jb := range jobs {
					pairs[j].Ours = append(pairs[j].Ours, m[jb.ours])
				}
			},
			func() {
				for j, jb := range jobs {
					file := filepath.Join(dir, "fio-test")
					args := append([]string{"--name=v", "--filename=" + file}, jb.fioArg...)
					out, err := exec.Command("fio", args...).Output()
					if err != nil {
						t.Fatalf("fio %v: %v", args, err)
					}
					r, err := parseFio(out, jb.write)
					if err != nil {
						t.Fatal(err)
					}
					bw, iops := r.BWBytes, r.IOPS
					if jb.write {
						bw, iops = r.withFsync() // isobench counts the final fsync
					}
					v := bw
					if jb.iops {
						v = iops
					}
					pairs[j].Theirs = append(pairs[j].Theirs, v)
				}
			},
		}
		if i%2 == 1 {
			slices.Reverse(steps)
		}
		for _, s := range steps {
			s()
		}
	}
	var b strings.Builder
	b.WriteString("\n| job | isobench | fio | ratio | within target |\n| --- | --- | --- | --- | --- |\n")
	for j, jb := range jobs {
		b.WriteString(pairs[j].report(t, jb.name, 0.15) + "\n")
	}
	t.Log(b.String())
	raw, _ := json.Marshal(pairs)
	t.Logf("raw (isobench, fio per job): %s", raw)
}

func TestNetworkAgainstIperf3(t *testing.T) {
	bin := build(t)
	if _, err := exec.LookPath("iperf3"); err != nil {
		t.Skip("iperf3 not installed (apt-get install iperf3)")
	}
	// Native on both ends, over the host's loopback, as the process
	// backend's network path is.
	srv, err := netpeer.Serve("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	var up, down pair
	iperf := func(reverse bool) float64 {
		port := freePort(t)
		server := exec.Command("iperf3", "-s", "-1", "-p", port)
		if err := server.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() {
			_ = server.Process.Kill() // -1 makes it exit after one test; this is for failures
			_ = server.Wait()
		}()
		args := []string{"-c", "127.0.0.1", "-p", port, "-t", "3", "-J"}
		if reverse {
			args = append(args, "-R")
		}
		var perr error
		for range 50 { // until the server listens
			out, _ := exec.Command("iperf3", args...).Output()
			v, err := parseIperf3(out)
			if err == nil {
				return v
			}
			perr = err
			time.Sleep(20 * time.Millisecond)
		}
		t.Fatalf("iperf3 %v: %v", args, perr)
		return 0
	}
	for i := range reps {
		steps := []func(){
			func() {
				m, err := agentRun(t, bin, "network", map[string]string{"peer": srv.Addr(), "duration": "3s", "round_trips": "100", "udp_packets": "10"})
				if err != nil {
					t.Fatal(err)
				}
				up.Ours = append(up.Ours, m[metric.NetTCPUp])
				down.Ours = append(down.Ours, m[metric.NetTCPDown])
			},
			func() {
				up.Theirs = append(up.Theirs, iperf(false))
				down.Theirs = append(down.Theirs, iperf(true))
			},
		}
		if i%2 == 1 {
			slices.Reverse(steps)
		}
		for _, s := range steps {
			s()
		}
	}
	t.Log("\n| metric | isobench | iperf3 | ratio | within target |\n| --- | --- | --- | --- | --- |\n" +
		up.report(t, "TCP sandbox → host (loopback), 3 s", 0.15) + "\n" +
		down.report(t, "TCP host → sandbox (loopback, iperf3 -R), 3 s", 0.15))
}

// freePort returns a TCP port that was free a moment ago.
func freePort(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return fmt.Sprint(l.Addr().(*net.TCPAddr).Port)
}
