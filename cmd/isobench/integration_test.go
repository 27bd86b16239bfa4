package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/isobench/isobench/internal/backend"
	"github.com/isobench/isobench/internal/result"
	"github.com/isobench/isobench/internal/runner"
	"github.com/isobench/isobench/internal/testutil"
)

// These tests run the real binary against the real runtimes found here.

func buildBinary(t *testing.T) string {
	t.Helper()
	testutil.RequireRoot(t)
	// Runs store themselves in the history: keep that in the test's dir.
	t.Setenv("XDG_DATA_HOME", t.TempDir())
	bin, err := testutil.BuildIsobench(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// availableBackends asks the binary which backends work here.
func availableBackends(t *testing.T, bin string, want ...string) []string {
	t.Helper()
	out, err := exec.Command(bin, "backends", "--json", "--probe-timeout", "30s").Output()
	if err != nil {
		t.Fatalf("isobench backends: %v", err)
	}
	var got []string
	for _, w := range want {
		if bytes.Contains(out, []byte(`"name": "`+w+`"`)) && availableIn(out, w) {
			got = append(got, w)
		} else {
			t.Logf("%s not available here; not part of this test", w)
		}
	}
	return got
}

func availableIn(js []byte, name string) bool {
	i := bytes.Index(js, []byte(`"name": "`+name+`"`))
	rest := js[i:]
	if j := bytes.Index(rest[1:], []byte(`"name": "`)); j > 0 {
		rest = rest[:j]
	}
	return bytes.Contains(rest, []byte(`"available": true`))
}

// checkClean asserts that the run with this id left nothing anywhere.
func checkClean(t *testing.T, runID string) {
	t.Helper()
	workDir := filepath.Join("/run/isobench", runID)
	if leaks := runner.Leaks(workDir, backend.IDPrefix+runID); len(leaks) > 0 {
		t.Errorf("run %s left: %v", runID, leaks)
	}
	if entries, err := os.ReadDir("/run/isobench"); err == nil && len(entries) > 0 {
		t.Errorf("/run/isobench not empty: %v", entries)
	}
}

func TestInterruptKeepsSamplesAndCleansUp(t *testing.T) {
	bin := buildBinary(t)
	backends := availableBackends(t, bin, "process", "runc", "crun", "runsc-ptrace")
	if len(backends) == 0 {
		t.Skip("no backend available")
	}
	// The signal lands during backend detection, during the first sample
	// (right after the plan is announced), and after some samples, so that
	// it hits different phases of a launch.
	tests := []struct {
		name     string
		trigger  string // stderr line prefix after which SIGINT is sent
		samples  int    // samples known to be saved before the signal
		workload string
	}{
		{"during detection", "", 0, "coldstart"},
		{"during first sample", "", -1, "coldstart"},
		{"after 1 sample", "[1/", 1, "coldstart"},
		{"after 3 samples", "[3/", 3, "coldstart"},
		{"after 5 samples", "[5/", 5, "coldstart"},
		// Network samples own a namespace and a veth pair each, and file
		// I/O a scratch volume: the signal lands while they exist.
		{"network, after 2 samples", "[2/", 2, "network"},
		{"fileio, after 1 sample", "[1/", 1, "fileio"},
		{"fileio-rootfs, after 1 sample", "[1/", 1, "fileio-rootfs"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out")
			cmd := exec.Command(bin, "run", "--probe-timeout", "30s", "--backends", strings.Join(backends, ","), "--workloads", tc.workload, "--quick", "--reps", "50", "--warmup", "0", "--out", out)
			stderr, err := cmd.StderrPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			var log bytes.Buffer
			lines := bufio.NewScanner(stderr)
			switch {
			case tc.samples == 0:
				time.Sleep(150 * time.Millisecond)
			default:
				trigger := tc.trigger
				if tc.samples < 0 {
					trigger = fmt.Sprint(len(backends)*50, " samples to take")
				}
				for lines.Scan() {
					log.WriteString(lines.Text() + "\n")
					if strings.HasPrefix(lines.Text(), trigger) || strings.HasSuffix(lines.Text(), trigger) {
						break
					}
				}
			}
			// Ctrl-C reaches the whole foreground process group; isobench
			// keeps runtimes in their own groups and cleans up itself.
			if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
				t.Fatal(err)
			}
			for lines.Scan() {
				log.WriteString(lines.Text() + "\n")
			}
			err = cmd.Wait()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != exitInterrupted {
				t.Fatalf("exit: %v, want code %d; stderr:\n%s", err, exitInterrupted, log.String())
			}
			run, err := result.ReadFile(filepath.Join(out, "results.json"))
			if tc.samples <= 0 {
				if err == nil {
					if run.Status != result.StatusInterrupted {
						t.Errorf("status %q, want interrupted", run.Status)
					}
					checkClean(t, run.ID)
				} else if !os.IsNotExist(err) {
					t.Fatalf("results after an early interrupt: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("results after interrupt: %v", err)
			}
			if run.Status != result.StatusInterrupted {
				t.Errorf("status %q, want interrupted", run.Status)
			}
			if len(run.Samples) < tc.samples {
				t.Fatalf("samples lost: %d saved before the signal, %d after", tc.samples, len(run.Samples))
			}
			for _, s := range run.Samples {
				if s.Error != "" {
					t.Errorf("sample %d failed: %s", s.Seq, s.Error)
				}
			}
			checkClean(t, run.ID)
		})
	}
}

func TestHungWorkloadTimesOutAndCleansUp(t *testing.T) {
	bin := buildBinary(t)
	backends := availableBackends(t, bin, "process", "runc", "runsc-ptrace")
	if len(backends) == 0 {
		t.Skip("no backend available")
	}
	out := filepath.Join(t.TempDir(), "out")
	cmd := exec.Command(bin, "run", "--probe-timeout", "30s", "--backends", strings.Join(backends, ","), "--workloads", "idle",
		"--reps", "1", "--warmup", "0", "--timeout", "2s", "--out", out)
	combined, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != exitFailure {
		t.Fatalf("exit: %v, want %d (samples failed); output:\n%s", err, exitFailure, combined)
	}
	run, err := result.ReadFile(filepath.Join(out, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(run.Samples) != len(backends) {
		t.Fatalf("%d samples, want %d", len(run.Samples), len(backends))
	}
	for _, s := range run.Samples {
		if !strings.Contains(s.Error, "timeout") {
			t.Errorf("%s: error %q does not report the timeout", s.Backend, s.Error)
		}
		if _, ok := s.Value("phase.delete"); !ok {
			t.Errorf("%s: teardown of the hung sandbox was not recorded", s.Backend)
		}
	}
	checkClean(t, run.ID)
}

func TestRunWritesResultsAndTable(t *testing.T) {
	bin := buildBinary(t)
	out := filepath.Join(t.TempDir(), "out")
	cmd := exec.Command(bin, "run", "--probe-timeout", "30s", "--backends", "process", "--reps", "6", "--warmup", "1", "--out", out)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("run: %v\n%s", err, stderr.String())
	}
	for _, want := range []string{"COLD START", "process", "95% CI", "phases"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, stdout.String())
		}
	}
	if strings.Contains(stdout.String(), "[1/") {
		t.Error("progress went to stdout; it belongs on stderr")
	}
	run, err := result.ReadFile(filepath.Join(out, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	if run.Status != result.StatusComplete || len(run.Samples) != 7 || run.Host.CPUs == 0 || run.Host.Kernel == "" ||
		len(run.Command) == 0 || run.Config.Reps != 6 {
		t.Fatalf("results incomplete: status %s, %d samples, host %+v", run.Status, len(run.Samples), run.Host)
	}
	if fi, err := os.Stat(filepath.Join(out, "report.html")); err != nil || fi.Size() < 100<<10 {
		t.Errorf("report.html next to the results: %v", err)
	}
	warm := 0
	for _, s := range run.Samples {
		if s.Warmup {
			warm++
		}
		if _, ok := s.Value("coldstart"); !ok {
			t.Errorf("sample %d has no coldstart", s.Seq)
		}
	}
	if warm != 1 {
		t.Errorf("%d warm-up samples, want 1", warm)
	}
	// `isobench report` prints the same tables from the saved file, and a
	// damaged file is an error naming the file and the line.
	rep, err := exec.Command(bin, "report", filepath.Join(out, "results.json")).Output()
	if err != nil || !strings.Contains(string(rep), "COLD START") {
		t.Fatalf("report: %v\n%s", err, rep)
	}
	broken := filepath.Join(t.TempDir(), "broken.json")
	whole, _ := os.ReadFile(filepath.Join(out, "results.json"))
	if err := os.WriteFile(broken, whole[:len(whole)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	msg, err := exec.Command(bin, "report", broken).CombinedOutput()
	if err == nil || !strings.Contains(string(msg), broken+": line ") {
		t.Fatalf("report of a truncated file: %v\n%s", err, msg)
	}
	// A second run into the same directory must not overwrite it.
	again := exec.Command(bin, "run", "--probe-timeout", "30s", "--backends", "process", "--out", out)
	err = again.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != exitUsage {
		t.Fatalf("rerun into a used --out: %v, want exit %d", err, exitUsage)
	}
	checkClean(t, run.ID)
}

// Ctrl-C while a VM boots, and after a VM sample: no QEMU process, socket
// or work dir may remain.
func TestInterruptDuringVMBoot(t *testing.T) {
	bin := buildBinary(t)
	backends := availableBackends(t, bin, "qemu-microvm")
	if len(backends) == 0 {
		t.Skip("qemu-microvm not available")
	}
	for _, after := range []string{" samples to take", "[1/"} {
		out := filepath.Join(t.TempDir(), "out")
		cmd := exec.Command(bin, "run", "--probe-timeout", "30s", "--backends", "qemu-microvm", "--reps", "20", "--warmup", "0", "--out", out)
		stderr, err := cmd.StderrPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		lines := bufio.NewScanner(stderr)
		runID := ""
		for lines.Scan() {
			if id, ok := strings.CutPrefix(lines.Text(), "run "); ok {
				runID, _, _ = strings.Cut(id, ":")
			}
			if strings.Contains(lines.Text(), after) {
				break
			}
		}
		time.Sleep(300 * time.Millisecond) // into the next boot
		if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
			t.Fatal(err)
		}
		for lines.Scan() {
		}
		err = cmd.Wait()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != exitInterrupted {
			t.Fatalf("after %q: exit %v, want %d", after, err, exitInterrupted)
		}
		if runID == "" {
			t.Fatal("isobench did not announce its run id")
		}
		// Its QEMU processes name the run's work dir (QMP socket path):
		// Leaks finds them, and no other test's VMs.
		checkClean(t, runID)
	}
}

// The scale sweep and the density curve run on every container backend
// here, record per-instance results and memory, and leave nothing behind:
// density ends at its memory budget (Docker's sandboxes cost ~10 MiB each)
// or its count limit, and every sandbox is removed.
func TestScaleAndDensity(t *testing.T) {
	bin := buildBinary(t)
	backends := availableBackends(t, bin, "process", "runc", "runsc-ptrace", "docker")
	if len(backends) == 0 {
		t.Skip("no backend available")
	}
	out := filepath.Join(t.TempDir(), "out")
	cmd := exec.Command(bin, "run", "--probe-timeout", "30s", "--backends", strings.Join(backends, ","),
		"--workloads", "scale,density", "--concurrency", "1,4", "--reps", "2", "--warmup", "0",
		"--density-batch", "4", "--density-max", "8", "--memory-budget", "24MiB", "--out", out)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("run: %v\n%s", err, stderr.String())
	}
	run, err := result.ReadFile(filepath.Join(out, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	if want := len(backends) * (2*2 + 1); run.Status != result.StatusComplete || len(run.Samples) != want {
		t.Fatalf("status %s, %d samples; want complete, %d (2 levels × 2 reps + 1 density per backend)", run.Status, len(run.Samples), want)
	}
	for _, s := range run.Samples {
		switch {
		case s.Workload == "scale-x4":
			if len(s.Instances) != 4 || s.Error != "" {
				t.Errorf("%s scale-x4: %d instances, error %q", s.Backend, len(s.Instances), s.Error)
			}
			if v, ok := s.Value("scale.pss_per_instance"); !ok || v <= 0 {
				t.Errorf("%s scale-x4: PSS per instance %v", s.Backend, v)
			}
			if v, ok := s.Value("scale.harness_cpu"); !ok || v <= 0 {
				t.Errorf("%s scale-x4: harness CPU %v", s.Backend, v)
			}
		case s.Workload == "density":
			if len(s.Curve) == 0 || s.Stop == "" || s.Error != "" {
				t.Errorf("%s density: curve %+v, stop %q, error %q", s.Backend, s.Curve, s.Stop, s.Error)
			}
			if s.Backend == "docker" && !strings.Contains(s.Stop, "memory budget") {
				t.Errorf("docker density stopped for %q, want its 24 MiB memory budget", s.Stop)
			}
		}
	}
	for _, want := range []string{"scale-x4", "scale.launch_rate", "density.instances"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, stdout.String())
		}
	}
	checkClean(t, run.ID)
	if slices.Contains(backends, "docker") {
		if ps, err := exec.Command("docker", "ps", "-aq", "--filter", "label=org.isobench.run="+run.ID).Output(); err == nil && len(bytes.TrimSpace(ps)) > 0 {
			t.Errorf("docker containers left: %s", ps)
		}
	}
}
