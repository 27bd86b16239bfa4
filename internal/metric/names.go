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

// Scalability metrics: one sample launches N sandboxes at once (scale) or
// keeps launching until a budget (density); measured by the host.
const (
	ScaleInstanceP50       Name = "scale.instance_p50" // per-instance cold start, median of the N
	ScaleInstanceP95       Name = "scale.instance_p95" //
	ScaleInstanceP99       Name = "scale.instance_p99" //
	ScaleAllReady          Name = "scale.all_ready"    // first launch call → last ready frame
	ScaleLaunchRate        Name = "scale.launch_rate"  // N / all_ready
	ScaleFailed            Name = "scale.failed"       // instances that did not become ready
	ScalePSSPerInstance    Name = "scale.pss_per_instance"
	ScaleMemAvailPerInst   Name = "scale.memavail_per_instance"
	ScaleVMMOverhead       Name = "scale.vmm_overhead_per_instance"
	ScaleHarnessCPU        Name = "scale.harness_cpu" // isobench's own CPU use during the launch, in cores
	ScaleHarnessRSS        Name = "scale.harness_rss" // isobench's peak RSS during the launch
	DensityInstances       Name = "density.instances" // idle sandboxes running when the run stopped
	DensityPSSPerInstance  Name = "density.pss_per_instance"
	DensityMemPerInstance  Name = "density.memavail_per_instance"
	DensityLastBatchLaunch Name = "density.last_batch_p50" // median launch time in the last batch
)

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

	ScaleInstanceP50:       {ScaleInstanceP50, Seconds, LowerIsBetter, "median cold start of the N sandboxes launched at once"},
	ScaleInstanceP95:       {ScaleInstanceP95, Seconds, LowerIsBetter, "95th percentile cold start of the N sandboxes launched at once"},
	ScaleInstanceP99:       {ScaleInstanceP99, Seconds, LowerIsBetter, "99th percentile cold start of the N sandboxes launched at once"},
	ScaleAllReady:          {ScaleAllReady, Seconds, LowerIsBetter, "first launch call until the last ready frame of the sandboxes that became ready"},
	ScaleLaunchRate:        {ScaleLaunchRate, OpsPerSec, HigherIsBetter, "sandboxes launched to ready per second (ready ones / all_ready)"},
	ScaleFailed:            {ScaleFailed, Count, LowerIsBetter, "sandboxes of the N that did not become ready (errors are in the sample)"},
	ScalePSSPerInstance:    {ScalePSSPerInstance, Bytes, LowerIsBetter, "summed PSS of every host process of the sandboxes (agent, runtime, shim, gofer, sentry, VMM) / N, all idle"},
	ScaleMemAvailPerInst:   {ScaleMemAvailPerInst, Bytes, LowerIsBetter, "drop in the host's MemAvailable / N with the N sandboxes idle (includes kernel memory: page tables, cgroups, namespaces)"},
	ScaleVMMOverhead:       {ScaleVMMOverhead, Bytes, LowerIsBetter, "VMs: VMM PSS beyond the guest-RAM mapping, / N"},
	ScaleHarnessCPU:        {ScaleHarnessCPU, Dimensionless, LowerIsBetter, "isobench's own CPU time during the launch / wall time, in cores (runtime CLIs it runs not included)"},
	ScaleHarnessRSS:        {ScaleHarnessRSS, Bytes, LowerIsBetter, "isobench's peak resident memory during the launch"},
	DensityInstances:       {DensityInstances, Count, HigherIsBetter, "idle sandboxes running when density stopped (budget, limit or failure)"},
	DensityPSSPerInstance:  {DensityPSSPerInstance, Bytes, LowerIsBetter, "summed PSS of the sandboxes' host processes / instances, at the end"},
	DensityMemPerInstance:  {DensityMemPerInstance, Bytes, LowerIsBetter, "drop in MemAvailable / instances, at the end"},
	DensityLastBatchLaunch: {DensityLastBatchLaunch, Seconds, LowerIsBetter, "median cold start in the last batch launched"},

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
