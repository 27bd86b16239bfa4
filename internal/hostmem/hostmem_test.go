package hostmem

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"testing"

	"golang.org/x/sys/unix"
)

const helperEnv = "HOSTMEM_TEST_HELPER_MIB"

// TestMain turns the test binary into a helper with a known memory use
// when helperEnv is set: it maps and touches that many MiB, says "ready"
// and waits for its stdin to close.
func TestMain(m *testing.M) {
	if v := os.Getenv(helperEnv); v != "" {
		var mib int
		fmt.Sscan(v, &mib)
		buf, err := unix.Mmap(-1, 0, mib<<20, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
		if err != nil {
			panic(err)
		}
		for i := 0; i < len(buf); i += 4096 {
			buf[i] = 1 // private, dirty: resident and counted in full
		}
		fmt.Println("ready")
		bufio.NewReader(os.Stdin).ReadString('\n')
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func startHelper(t *testing.T, mib int) int {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%d", helperEnv, mib))
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stdin.Close(); cmd.Wait() })
	if line, err := bufio.NewReader(stdout).ReadString('\n'); err != nil || line != "ready\n" {
		t.Fatalf("helper said %q, %v", line, err)
	}
	return cmd.Process.Pid
}

// A process that touched 64 MiB of private memory has a PSS of at least
// that and not much more (its Go runtime), and that mapping is what
// LargeMappingsPSS attributes to "guest RAM".
func TestPSSOfAKnownProcess(t *testing.T) {
	const mib = 64
	pid := startHelper(t, mib)
	pss, err := PSS(pid)
	if err != nil {
		t.Fatal(err)
	}
	if pss < mib<<20 || pss > (mib+24)<<20 {
		t.Errorf("PSS %d MiB, want %d MiB plus a Go runtime's few MiB", pss>>20, mib)
	}
	large, err := LargeMappingsPSS(pid, mib<<20)
	if err != nil {
		t.Fatal(err)
	}
	if large < (mib-1)<<20 || large > (mib+8)<<20 { // a Go heap arena is 64 MiB too
		t.Errorf("PSS of mappings ≥ %d MiB: %d MiB, want the helper's %d MiB mapping", mib, large>>20, mib)
	}
	sum, err := SumPSS([]int{pid, 1 << 30}) // a pid that does not exist counts 0
	if err != nil || sum != pss && (sum-pss > 1<<20 || pss-sum > 1<<20) {
		t.Errorf("SumPSS = %d, %v; want the helper's %d", sum, err, pss)
	}
	if !slices.Contains(WithDescendants(os.Getpid()), pid) {
		t.Errorf("WithDescendants(self) lacks the helper %d", pid)
	}
	if ppid, err := PPID(pid); err != nil || ppid != os.Getpid() {
		t.Errorf("PPID(helper) = %d, %v; want %d", ppid, err, os.Getpid())
	}
}

// MemAvailable moves with everything else on the host, so only its sanity
// is checked here; the scale workload reports it beside PSS for that reason.
func TestMemAvailable(t *testing.T) {
	avail, err := MemAvailable()
	var si unix.Sysinfo_t
	if serr := unix.Sysinfo(&si); serr != nil {
		t.Fatal(serr)
	}
	if total := int64(si.Totalram) * int64(si.Unit); err != nil || avail <= 0 || avail > total {
		t.Fatalf("MemAvailable = %d, %v; want in (0, %d]", avail, err, total)
	}
}
