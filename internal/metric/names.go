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

// Job metrics: the exec workload runs one shell command (an autograder
// job) in the sandbox and reports how it went.
const (
	ExecWall         Name = "exec.wall"          // command start → exit (agent clock)
	ExecUnpack       Name = "exec.unpack"        // unpacking the job's files
	ExecUserCPU      Name = "exec.user_cpu"      // user CPU of the command and its waited-for children
	ExecSysCPU       Name = "exec.sys_cpu"       //
	ExecMaxRSS       Name = "exec.max_rss"       // largest resident set among them
	ExecExitCode     Name = "exec.exit_code"     // -1 when killed by a signal
	ExecSignal       Name = "exec.signal"        // the killing signal, 0 if none
	ExecTimedOut     Name = "exec.timed_out"     // 1 when the time limit killed it
	ExecOutputBytes  Name = "exec.output_bytes"  // all it wrote, captured or not
	ExecOOMKills     Name = "exec.oom_kills"     // VMs: OOM kills in the job's cgroup in the guest
	ExecForksRefused Name = "exec.forks_refused" // VMs: forks the guest's task limit refused
)

// Autograder metrics: one sample is a load test of the grader service on
// one backend; latencies are per submission.
const (
	GraderE2EP50      Name = "grader.e2e_p50" // submit request sent → result available
	GraderE2EP95      Name = "grader.e2e_p95"
	GraderE2EP99      Name = "grader.e2e_p99"
	GraderThroughput  Name = "grader.throughput"   // finished jobs per second
	GraderQueue       Name = "grader.queue_p50"    // submitted → picked by a worker
	GraderSandboxUp   Name = "grader.sandbox_p50"  // worker asks for a sandbox → agent ready
	GraderTestRun     Name = "grader.run_p50"      // job request → result, in the sandbox
	GraderTeardown    Name = "grader.teardown_p50" // sandbox close
	GraderHTTPP50     Name = "grader.http_p50"     // successful submits and status listings
	GraderHTTPP99     Name = "grader.http_p99"     //
	GraderFailed      Name = "grader.failed"       // jobs without the expected verdict
	GraderSubmissions Name = "grader.submissions"  // jobs submitted
)

var known = map[Name]Info{
	ExecWall:         {ExecWall, Seconds, LowerIsBetter, "job command start until exit, agent clock"},
	ExecUnpack:       {ExecUnpack, Seconds, LowerIsBetter, "unpacking the job's files in the sandbox"},
	ExecUserCPU:      {ExecUserCPU, Seconds, LowerIsBetter, "user CPU time of the job command and the children it waited for"},
	ExecSysCPU:       {ExecSysCPU, Seconds, LowerIsBetter, "system CPU time of the job command and the children it waited for"},
	ExecMaxRSS:       {ExecMaxRSS, Bytes, LowerIsBetter, "largest resident set of the job command or a waited-for child"},
	ExecExitCode:     {ExecExitCode, Count, LowerIsBetter, "job command's exit status (-1: killed by a signal)"},
	ExecSignal:       {ExecSignal, Count, LowerIsBetter, "signal that killed the job command (0: none)"},
	ExecTimedOut:     {ExecTimedOut, Count, LowerIsBetter, "1 when the job's time limit killed it"},
	ExecOutputBytes:  {ExecOutputBytes, Bytes, LowerIsBetter, "bytes the job wrote to stdout and stderr, captured or not"},
	ExecOOMKills:     {ExecOOMKills, Count, LowerIsBetter, "VMs: OOM kills in the job's cgroup in the guest (containers: the host counts in the sandbox's cgroup)"},
	ExecForksRefused: {ExecForksRefused, Count, LowerIsBetter, "VMs: forks refused by the task limit of the job's cgroup in the guest"},

	GraderE2EP50:      {GraderE2EP50, Seconds, LowerIsBetter, "median submission latency: submit request sent until its result is available"},
	GraderE2EP95:      {GraderE2EP95, Seconds, LowerIsBetter, "95th percentile submission latency"},
	GraderE2EP99:      {GraderE2EP99, Seconds, LowerIsBetter, "99th percentile submission latency"},
	GraderThroughput:  {GraderThroughput, OpsPerSec, HigherIsBetter, "finished submissions per second (first submit to last result)"},
	GraderQueue:       {GraderQueue, Seconds, LowerIsBetter, "median time a submission waited for a worker"},
	GraderSandboxUp:   {GraderSandboxUp, Seconds, LowerIsBetter, "median time a worker waited for its fresh sandbox (cold start, pool wait or restore)"},
	GraderTestRun:     {GraderTestRun, Seconds, LowerIsBetter, "median time to unpack and run a submission's tests in its sandbox"},
	GraderTeardown:    {GraderTeardown, Seconds, LowerIsBetter, "median time to destroy a submission's sandbox"},
	GraderHTTPP50:     {GraderHTTPP50, Seconds, LowerIsBetter, "median latency of the service's API requests under the load (successful submits, and listings of finished submissions)"},
	GraderHTTPP99:     {GraderHTTPP99, Seconds, LowerIsBetter, "99th percentile latency of the service's API requests under the load"},
	GraderFailed:      {GraderFailed, Count, LowerIsBetter, "submissions whose verdict was not the expected one (infrastructure errors, lost jobs)"},
	GraderSubmissions: {GraderSubmissions, Count, HigherIsBetter, "submissions sent in the load test"},

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
	if i, ok := toolMetrics[n]; ok {
		return i, nil
	}
	if i, ok := describeLevel(n); ok {
		return i, nil
	}
	if len(n) > len(PhasePrefix) && string(n[:len(PhasePrefix)]) == PhasePrefix {
		return Info{n, Seconds, LowerIsBetter, "cold-start phase " + string(n[len(PhasePrefix):])}, nil
	}
	return Info{}, fmt.Errorf("unknown metric %q", n)
}
