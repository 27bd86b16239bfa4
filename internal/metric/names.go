package metric

import "fmt"

// Cold-start metrics. A phase metric is the time from the previous mark on
// the sandbox's timeline to this one; see docs/results.md for definitions.
const (
	ColdStart         Name = "coldstart"          // launch call → agent's ready frame received by the host
	RestoreFirstRun   Name = "restore.first_run"  // first request after a snapshot restore, host wall time
	LaunchToTeardown  Name = "launch_to_teardown" // launch call → sandbox fully removed
	AgentStartToReady Name = "agent.start_to_ready"
	LaunchToAgentMain Name = "launch_to_agent_main" // host clock → agent clock; only where both share a clock
	GuestKernelBoot   Name = "guest.kernel_boot"    // VMs: guest kernel start → agent start, guest clock
)

// PhasePrefix starts the name of every cold-start phase metric.
const PhasePrefix = "phase."

// Phase returns the metric name of a timeline phase.
func Phase(phase string) Name { return Name(PhasePrefix + phase) }

// Workload metrics, measured by the agent inside the sandbox.
const (
	CPUEventsPerSec     Name = "cpu.events_per_sec"     // one thread
	CPUEventsPerSecAll  Name = "cpu.events_per_sec_all" // one thread per allowed CPU
	MemoryReadBW        Name = "memory.read_bw"
	MemoryWriteBW       Name = "memory.write_bw"
	MemoryLatency       Name = "memory.latency"
	SyscallGetpid       Name = "syscall.getpid"
	SyscallOpenClose    Name = "syscall.open_close"
	SyscallPipeRTT      Name = "syscall.pipe_rtt"
	SpawnForkExecWait   Name = "spawn.fork_exec_wait"
	FileSeqWrite        Name = "fileio.seq_write"
	FileSeqRead         Name = "fileio.seq_read"
	FileRandWrite       Name = "fileio.rand_write"
	FileRandRead        Name = "fileio.rand_read"
	FileSeqWriteDirect  Name = "fileio.seq_write.direct"
	FileSeqReadDirect   Name = "fileio.seq_read.direct"
	FileRandWriteDirect Name = "fileio.rand_write.direct"
	FileRandReadDirect  Name = "fileio.rand_read.direct"
	NetTCPUp            Name = "network.tcp_up"
	NetTCPDown          Name = "network.tcp_down"
	NetTCPRTTP50        Name = "network.tcp_rtt_p50"
	NetTCPRTTP99        Name = "network.tcp_rtt_p99"
	NetUDPJitter        Name = "network.udp_jitter"
	NetLoopbackTCP      Name = "network.loopback_tcp"
	NetLoopbackRTTP50   Name = "network.loopback_rtt_p50"
)

var known = map[Name]Info{
	ColdStart:         {ColdStart, Seconds, LowerIsBetter, "launch call until the agent's ready frame reaches the host"},
	RestoreFirstRun:   {RestoreFirstRun, Seconds, LowerIsBetter, "host wall time of the first request after a snapshot restore (includes faulting in lazily restored memory)"},
	LaunchToTeardown:  {LaunchToTeardown, Seconds, LowerIsBetter, "launch call until the sandbox is fully removed"},
	AgentStartToReady: {AgentStartToReady, Seconds, LowerIsBetter, "agent's own clock: first Go code until ready frame written"},
	LaunchToAgentMain: {LaunchToAgentMain, Seconds, LowerIsBetter, "host launch call until the agent's first Go code (host and sandbox share a clock)"},
	GuestKernelBoot:   {GuestKernelBoot, Seconds, LowerIsBetter, "VMs: guest kernel start until the agent (init) starts, on the guest's clock"},

	CPUEventsPerSec:     {CPUEventsPerSec, OpsPerSec, HigherIsBetter, "sysbench-cpu prime events per second, one thread"},
	CPUEventsPerSecAll:  {CPUEventsPerSecAll, OpsPerSec, HigherIsBetter, "sysbench-cpu prime events per second, one thread per allowed CPU"},
	MemoryReadBW:        {MemoryReadBW, BytesPerSec, HigherIsBetter, "sequential read bandwidth over a buffer larger than the LLC"},
	MemoryWriteBW:       {MemoryWriteBW, BytesPerSec, HigherIsBetter, "sequential write bandwidth over a buffer larger than the LLC"},
	MemoryLatency:       {MemoryLatency, Seconds, LowerIsBetter, "random access latency by pointer chasing"},
	SyscallGetpid:       {SyscallGetpid, Seconds, LowerIsBetter, "one raw getpid system call"},
	SyscallOpenClose:    {SyscallOpenClose, Seconds, LowerIsBetter, "open and close of an existing file in the sandbox's /tmp"},
	SyscallPipeRTT:      {SyscallPipeRTT, Seconds, LowerIsBetter, "one-byte round trip over two pipes between two threads"},
	SpawnForkExecWait:   {SpawnForkExecWait, Seconds, LowerIsBetter, "fork+exec+wait of a tiny static program"},
	FileSeqWrite:        {FileSeqWrite, BytesPerSec, HigherIsBetter, "sequential write, buffered, fsync at the end included"},
	FileSeqRead:         {FileSeqRead, BytesPerSec, HigherIsBetter, "sequential read, buffered, after evicting the file from the page cache"},
	FileRandWrite:       {FileRandWrite, OpsPerSec, HigherIsBetter, "random 4 KiB writes, buffered, fsync at the end included"},
	FileRandRead:        {FileRandRead, OpsPerSec, HigherIsBetter, "random 4 KiB reads, buffered, after evicting the file from the page cache"},
	FileSeqWriteDirect:  {FileSeqWriteDirect, BytesPerSec, HigherIsBetter, "sequential write with O_DIRECT"},
	FileSeqReadDirect:   {FileSeqReadDirect, BytesPerSec, HigherIsBetter, "sequential read with O_DIRECT"},
	FileRandWriteDirect: {FileRandWriteDirect, OpsPerSec, HigherIsBetter, "random 4 KiB writes with O_DIRECT"},
	FileRandReadDirect:  {FileRandReadDirect, OpsPerSec, HigherIsBetter, "random 4 KiB reads with O_DIRECT"},
	NetTCPUp:            {NetTCPUp, BytesPerSec, HigherIsBetter, "TCP throughput sandbox → native host peer"},
	NetTCPDown:          {NetTCPDown, BytesPerSec, HigherIsBetter, "TCP throughput native host peer → sandbox"},
	NetTCPRTTP50:        {NetTCPRTTP50, Seconds, LowerIsBetter, "median one-byte TCP request/response time to the host peer"},
	NetTCPRTTP99:        {NetTCPRTTP99, Seconds, LowerIsBetter, "99th percentile one-byte TCP request/response time to the host peer"},
	NetUDPJitter:        {NetUDPJitter, Seconds, LowerIsBetter, "mean variation of consecutive UDP round trips to the host peer"},
	NetLoopbackTCP:      {NetLoopbackTCP, BytesPerSec, HigherIsBetter, "TCP throughput over the sandbox's own loopback"},
	NetLoopbackRTTP50:   {NetLoopbackRTTP50, Seconds, LowerIsBetter, "median one-byte TCP round trip over the sandbox's own loopback"},
}

// Describe returns what is known about a metric. Phase metrics are seconds,
// lower is better.
func Describe(n Name) (Info, error) {
	if i, ok := known[n]; ok {
		return i, nil
	}
	if len(n) > len(PhasePrefix) && string(n[:len(PhasePrefix)]) == PhasePrefix {
		return Info{n, Seconds, LowerIsBetter, "cold-start phase " + string(n[len(PhasePrefix):])}, nil
	}
	return Info{}, fmt.Errorf("unknown metric %q", n)
}
