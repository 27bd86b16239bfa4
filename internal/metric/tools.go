package metric

import (
	"fmt"
	"strings"
)

// Standard-tool metrics: figures the tools of the reference evaluation
// report (sysbench, fio, iperf3, ab), run from the guest image. Servers run
// in the sandbox; their load generators run natively on the host.
const (
	SysbenchCPUEvents   Name = "sysbench.cpu.events_per_s"
	SysbenchCPULatP95   Name = "sysbench.cpu.latency_p95"
	SysbenchFileSeqRead Name = "sysbench.fileio.seqrd"
	SysbenchFileSeqWr   Name = "sysbench.fileio.seqwr"

	FioSeqRead     Name = "fio.seqread"
	FioSeqWrite    Name = "fio.seqwrite"
	FioRandReadOps Name = "fio.randread_iops"
	FioRandReadP99 Name = "fio.randread_p99"

	Iperf3TCP          Name = "iperf3.tcp"
	Iperf3TCPServerCPU Name = "iperf3.tcp_server_cpu"
	Iperf3UDPJitter    Name = "iperf3.udp_jitter"
	Iperf3UDPLoss      Name = "iperf3.udp_loss"

	// OLTP and HTTP figures are per level (threads, concurrency): their
	// names are built by OLTPTPS and HTTPRPS.
	OLTPPrefix = "oltp."
	HTTPPrefix = "http."

	CIJobCompile  Name = "cijob.compile"
	CIJobTest     Name = "cijob.test_valgrind"
	CIJobCoverage Name = "cijob.lcov"
	CIJobAnalysis Name = "cijob.cppcheck"
	CIJobTotal    Name = "cijob.total"
)

var toolMetrics = map[Name]Info{
	SysbenchCPUEvents:   {SysbenchCPUEvents, OpsPerSec, HigherIsBetter, "sysbench cpu: prime-number events per second"},
	SysbenchCPULatP95:   {SysbenchCPULatP95, Seconds, LowerIsBetter, "sysbench cpu: 95th percentile time per event"},
	SysbenchFileSeqRead: {SysbenchFileSeqRead, BytesPerSec, HigherIsBetter, "sysbench fileio seqrd: sequential read throughput on the scratch volume"},
	SysbenchFileSeqWr:   {SysbenchFileSeqWr, BytesPerSec, HigherIsBetter, "sysbench fileio seqwr: sequential write throughput on the scratch volume (fsync every 100 writes, sysbench's default)"},

	FioSeqRead:     {FioSeqRead, BytesPerSec, HigherIsBetter, "fio: 1 MiB sequential reads, O_DIRECT, on the scratch volume"},
	FioSeqWrite:    {FioSeqWrite, BytesPerSec, HigherIsBetter, "fio: 1 MiB sequential writes, O_DIRECT, on the scratch volume"},
	FioRandReadOps: {FioRandReadOps, OpsPerSec, HigherIsBetter, "fio: 4 KiB random reads, O_DIRECT, queue depth 1"},
	FioRandReadP99: {FioRandReadP99, Seconds, LowerIsBetter, "fio: 99th percentile completion latency of the 4 KiB random reads"},

	Iperf3TCP:          {Iperf3TCP, BytesPerSec, HigherIsBetter, "iperf3: TCP throughput native client on the host → server in the sandbox"},
	Iperf3TCPServerCPU: {Iperf3TCPServerCPU, Dimensionless, LowerIsBetter, "iperf3: the server's CPU use during the TCP test, in CPUs (1 = one core busy)"},
	Iperf3UDPJitter:    {Iperf3UDPJitter, Seconds, LowerIsBetter, "iperf3: UDP jitter at the test's rate, measured by the server in the sandbox"},
	Iperf3UDPLoss:      {Iperf3UDPLoss, Dimensionless, LowerIsBetter, "iperf3: fraction of UDP datagrams lost at the test's rate"},

	CIJobCompile:  {CIJobCompile, Seconds, LowerIsBetter, "CI job: compile the C++ library and its tests with coverage (g++ --coverage)"},
	CIJobTest:     {CIJobTest, Seconds, LowerIsBetter, "CI job: run the unit tests under valgrind memcheck"},
	CIJobCoverage: {CIJobCoverage, Seconds, LowerIsBetter, "CI job: lcov coverage report"},
	CIJobAnalysis: {CIJobAnalysis, Seconds, LowerIsBetter, "CI job: cppcheck static analysis"},
	CIJobTotal:    {CIJobTotal, Seconds, LowerIsBetter, "CI job: wall time of all its steps"},
}

// OLTPTPS names the transactions per second of a sysbench OLTP mode
// (read_only, write_only, read_write) at a thread count.
func OLTPTPS(mode string, threads int) Name {
	return Name(fmt.Sprintf("%s%s.t%d.tps", OLTPPrefix, mode, threads))
}

// OLTPLatP95 names the 95th percentile transaction latency of an OLTP level.
func OLTPLatP95(mode string, threads int) Name {
	return Name(fmt.Sprintf("%s%s.t%d.latency_p95", OLTPPrefix, mode, threads))
}

// HTTPRPS names ab's requests per second at a concurrency.
func HTTPRPS(concurrency int) Name { return Name(fmt.Sprintf("%sc%d.rps", HTTPPrefix, concurrency)) }

// HTTPMeanTime names ab's mean time per request at a concurrency.
func HTTPMeanTime(concurrency int) Name {
	return Name(fmt.Sprintf("%sc%d.time_per_request", HTTPPrefix, concurrency))
}

// describeLevel describes the per-level OLTP and HTTP metrics.
func describeLevel(n Name) (Info, bool) {
	var mode, what string
	var level int
	s := string(n)
	if rest, ok := strings.CutPrefix(s, OLTPPrefix); ok {
		parts := strings.Split(rest, ".")
		if len(parts) != 3 {
			return Info{}, false
		}
		if _, err := fmt.Sscanf(parts[1], "t%d", &level); err != nil {
			return Info{}, false
		}
		mode, what = parts[0], parts[2]
		switch what {
		case "tps":
			return Info{n, OpsPerSec, HigherIsBetter, fmt.Sprintf("sysbench oltp_%s against MariaDB in the sandbox, %d client threads on the host: transactions per second", mode, level)}, true
		case "latency_p95":
			return Info{n, Seconds, LowerIsBetter, fmt.Sprintf("sysbench oltp_%s, %d threads: 95th percentile transaction latency", mode, level)}, true
		}
		return Info{}, false
	}
	if rest, ok := strings.CutPrefix(s, HTTPPrefix); ok {
		lv, what, ok := strings.Cut(rest, ".")
		if !ok {
			return Info{}, false
		}
		if _, err := fmt.Sscanf(lv, "c%d", &level); err != nil {
			return Info{}, false
		}
		switch what {
		case "rps":
			return Info{n, OpsPerSec, HigherIsBetter, fmt.Sprintf("ab against nginx in the sandbox, concurrency %d: requests per second", level)}, true
		case "time_per_request":
			return Info{n, Seconds, LowerIsBetter, fmt.Sprintf("ab, concurrency %d: mean time per request", level)}, true
		}
	}
	return Info{}, false
}
