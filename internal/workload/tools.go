package workload

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/isobench/isobench/internal/procgroup"

	"golang.org/x/sys/unix"

	"github.com/isobench/isobench/internal/metric"
	"github.com/isobench/isobench/internal/tools"
)

// Standard-tool workloads: the reference evaluation's tools, run from the
// guest image (see internal/image) with its parameters.
const (
	SysbenchCPU    ID = "sysbench-cpu"
	SysbenchFileIO ID = "sysbench-fileio"
	Fio            ID = "fio"
)

// maxToolOutput caps what a tool may print: reports are a few KiB.
const maxToolOutput = 4 << 20

// runTool runs a tool of the guest image and returns its output (stdout
// and stderr). A failed run's error ends with the output's last lines.
func runTool(ctx context.Context, name string, args ...string) (string, error) {
	cmd, err := toolCommand(name, args...)
	if err != nil {
		return "", err
	}
	out := &cappedBuffer{max: maxToolOutput}
	cmd.Stdout, cmd.Stderr = out, out
	// A tool must not outlive the agent, nor leave anything running.
	err = procgroup.Run(ctx, cmd)
	if ctx.Err() != nil {
		return "", ctx.Err()
	}
	if err != nil {
		return out.String(), fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, lastLines(out.String(), 8))
	}
	return out.String(), nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}

// shell runs a script with the image's /bin/sh.
func shell(ctx context.Context, script string) (string, error) {
	return runTool(ctx, "sh", "-c", script)
}

// needScratch fails early, naming the sizes, when the scratch volume
// cannot hold what a tool is about to write.
func needScratch(bytes int64) error {
	dir := os.Getenv(ScratchEnv)
	if dir == "" {
		return fmt.Errorf("no scratch volume (%s is not set)", ScratchEnv)
	}
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return fmt.Errorf("scratch volume %s: %w", dir, err)
	}
	if free := int64(st.Bavail) * st.Bsize; free < bytes+bytes/20 {
		return fmt.Errorf("the scratch volume has %d MiB free and the test writes %d MiB: run with --scratch on a larger disk, or --quick", free>>20, bytes>>20)
	}
	return nil
}

func seconds(d time.Duration) string { return strconv.Itoa(int(d.Round(time.Second) / time.Second)) }

func sysbenchCPUSpec() Spec {
	return Spec{
		ID:          SysbenchCPU,
		Description: "sysbench cpu (prime numbers up to cpu-max-prime), as the reference evaluation ran it",
		Params: []Param{
			{Name: "prime", Default: "10000", Help: "--cpu-max-prime"},
			{Name: "threads", Default: "1", Help: "--threads"},
			{Name: "duration", Default: "10s", Quick: "3s", Help: "--time"},
		},
		Metrics: []metric.Name{metric.SysbenchCPUEvents, metric.SysbenchCPULatP95},
		Parse: func(p Params) (Runner, error) {
			prime, threads, d := p.Int("prime", 3), p.Int("threads", 1), p.Duration("duration", time.Second)
			if err := p.Err(); err != nil {
				return nil, err
			}
			return runnerFunc(func(ctx context.Context) (Output, error) {
				var out Output
				text, err := runTool(ctx, "sysbench", "cpu", "--cpu-max-prime="+strconv.FormatInt(prime, 10),
					"--threads="+strconv.FormatInt(threads, 10), "--time="+seconds(d), "run")
				if err != nil {
					return out, err
				}
				r, err := tools.ParseSysbench(text)
				if err != nil {
					return out, err
				}
				eps, err1 := r.Get("CPU speed/events per second")
				p95, err2 := r.Get("Latency (ms)/95th percentile")
				if err := firstErr(err1, err2); err != nil {
					return out, err
				}
				out.add(metric.SysbenchCPUEvents, metric.OpsPerSec, eps)
				out.add(metric.SysbenchCPULatP95, metric.Seconds, p95/1e3)
				return out, nil
			}), nil
		},
	}
}

func firstErr(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

// scratchInTool is the scratch volume as tools see it: containers mount it
// there, and the chroot helper binds it there.
const scratchInTool = "/scratch"

func sysbenchFileIOSpec() Spec {
	return Spec{
		ID:          SysbenchFileIO,
		Description: "sysbench fileio seqrd and seqwr on the scratch volume (files prepared first, then read, then written)",
		Params: []Param{
			{Name: "size", Default: "5GiB", Quick: "256MiB", Help: "--file-total-size"},
			{Name: "duration", Default: "30s", Quick: "5s", Help: "--time of each mode"},
		},
		Metrics: []metric.Name{metric.SysbenchFileSeqRead, metric.SysbenchFileSeqWr},
		Parse: func(p Params) (Runner, error) {
			size, d := p.Bytes("size", 1<<20), p.Duration("duration", time.Second)
			if err := p.Err(); err != nil {
				return nil, err
			}
			return runnerFunc(func(ctx context.Context) (Output, error) {
				var out Output
				if err := needScratch(size); err != nil {
					return out, fmt.Errorf("sysbench fileio: %w", err)
				}
				opts := fmt.Sprintf("--file-total-size=%d --time=%s", size, seconds(d))
				dir := scratchInTool + "/sysbench"
				// One script: the files stay between prepare and the runs.
				script := fmt.Sprintf(`set -e
mkdir -p %[1]s && cd %[1]s
sysbench fileio %[2]s prepare >/dev/null
echo @@seqrd
sysbench fileio %[2]s --file-test-mode=seqrd run
echo @@seqwr
sysbench fileio %[2]s --file-test-mode=seqwr run
sysbench fileio %[2]s cleanup >/dev/null
cd / && rm -rf %[1]s`, dir, opts)
				text, err := shell(ctx, script)
				if err != nil {
					return out, fmt.Errorf("sysbench fileio: %w", err)
				}
				_, rest, _ := strings.Cut(text, "@@seqrd\n")
				rd, wr, ok := strings.Cut(rest, "@@seqwr\n")
				if !ok {
					return out, fmt.Errorf("sysbench fileio: no seqrd/seqwr reports in its output")
				}
				for _, m := range []struct {
					text, key string
					name      metric.Name
				}{{rd, "Throughput/read, MiB/s", metric.SysbenchFileSeqRead}, {wr, "Throughput/written, MiB/s", metric.SysbenchFileSeqWr}} {
					r, err := tools.ParseSysbench(m.text)
					if err != nil {
						return out, err
					}
					v, err := r.Get(m.key)
					if err != nil {
						return out, err
					}
					out.add(m.name, metric.BytesPerSec, v*(1<<20))
				}
				return out, nil
			}), nil
		},
	}
}

func fioSpec() Spec {
	return Spec{
		ID:          Fio,
		Description: "fio on the scratch volume, O_DIRECT: 1 MiB sequential write and read, 4 KiB random read at queue depth 1",
		Params: []Param{
			{Name: "size", Default: "1GiB", Quick: "128MiB", Help: "file size"},
			{Name: "duration", Default: "10s", Quick: "2s", Help: "runtime of each job"},
		},
		Metrics: []metric.Name{metric.FioSeqWrite, metric.FioSeqRead, metric.FioRandReadOps, metric.FioRandReadP99},
		Parse: func(p Params) (Runner, error) {
			size, d := p.Bytes("size", 1<<20), p.Duration("duration", time.Second)
			if err := p.Err(); err != nil {
				return nil, err
			}
			return runnerFunc(func(ctx context.Context) (Output, error) {
				var out Output
				if err := needScratch(size); err != nil {
					return out, fmt.Errorf("fio: %w", err)
				}
				dir := scratchInTool + "/fio"
				script := fmt.Sprintf(`set -e
mkdir -p %[1]s
fio --output-format=json --directory=%[1]s --filename=fio.dat --size=%[2]d --runtime=%[3]s --time_based --direct=1 --ioengine=psync \
  --name=seqwrite --rw=write --bs=1M \
  --name=seqread --stonewall --rw=read --bs=1M \
  --name=randread --stonewall --rw=randread --bs=4k
rm -rf %[1]s`, dir, size, seconds(d))
				text, err := shell(ctx, script)
				if err != nil {
					return out, fmt.Errorf("fio: %w", err)
				}
				jobs, err := tools.ParseFio(text)
				if err != nil {
					return out, err
				}
				byName := map[string]tools.FioJob{}
				for _, j := range jobs {
					byName[j.Name] = j
				}
				for _, n := range []string{"seqwrite", "seqread", "randread"} {
					if _, ok := byName[n]; !ok {
						return out, fmt.Errorf("fio: the report has no job %s", n)
					}
				}
				out.add(metric.FioSeqWrite, metric.BytesPerSec, byName["seqwrite"].Write.BWBytes)
				out.add(metric.FioSeqRead, metric.BytesPerSec, byName["seqread"].Read.BWBytes)
				rr := byName["randread"].Read
				out.add(metric.FioRandReadOps, metric.OpsPerSec, rr.IOPS)
				if p99, ok := rr.ClatP("99.000000"); ok {
					out.add(metric.FioRandReadP99, metric.Seconds, p99)
				} else {
					out.skip(metric.FioRandReadP99, "fio reported no 99th percentile")
				}
				return out, nil
			}), nil
		},
	}
}
