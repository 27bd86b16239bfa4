package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// graderProc is a running `isobench grader serve`.
type graderProc struct {
	cmd    *exec.Cmd
	addr   string
	token  string
	stderr *bytes.Buffer
	exited chan error
}

func startServe(t *testing.T, bin, backendName, stateDir string) *graderProc {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.Command(bin, "grader", "serve", "--backend", backendName, "--state-dir", stateDir, "--listen", addr, "--time-limit", "30s", "--unisolated")
	pr, pw := io.Pipe()
	var stderr bytes.Buffer
	cmd.Stderr = io.MultiWriter(&stderr, pw)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &graderProc{cmd: cmd, addr: addr, stderr: &stderr, exited: make(chan error, 1)}
	go func() { p.exited <- cmd.Wait(); pw.Close() }()
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "serving on") {
				ready <- true
			}
		}
		ready <- false
	}()
	select {
	case ok := <-ready:
		if !ok {
			t.Fatalf("grader serve exited: %s", stderr.String())
		}
	case <-time.After(2 * time.Minute):
		cmd.Process.Kill()
		t.Fatalf("grader serve not ready after 2 minutes: %s", stderr.String())
	}
	go io.Copy(io.Discard, pr)
	tok, err := os.ReadFile(filepath.Join(stateDir, "token"))
	if err != nil {
		t.Fatal(err)
	}
	p.token = strings.TrimSpace(string(tok))
	return p
}

func (p *graderProc) call(t *testing.T, method, path, body string) map[string]any {
	t.Helper()
	req, _ := http.NewRequest(method, "http://"+p.addr+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+p.token)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode/100 != 2 {
		t.Fatalf("%s %s: HTTP %d, %v %v", method, path, resp.StatusCode, out, err)
	}
	return out
}

// TestGraderSurvivesCrash kills the service with SIGKILL while a job
// runs: the restarted service removes what the dead one left (sandbox,
// cgroup, job process), re-queues the job and grades it; no submission is
// lost, and after a normal stop nothing of the service remains.
func TestGraderSurvivesCrash(t *testing.T) {
	bin := buildBinary(t)
	for _, name := range availableBackends(t, bin, "process", "runc") {
		t.Run(name, func(t *testing.T) {
			state := t.TempDir()
			p := startServe(t, bin, name, state)
			slow := p.call(t, "POST", "/v1/submissions", `{"command":"sleep 4; echo survived the crash"}`)["id"].(string)
			var quick []string
			for range 2 {
				quick = append(quick, p.call(t, "POST", "/v1/submissions", `{"command":"echo quick"}`)["id"].(string))
			}
			deadline := time.Now().Add(time.Minute)
			for p.call(t, "GET", "/v1/submissions/"+slow, "")["status"] != "running" {
				if time.Now().After(deadline) {
					t.Fatal("the slow job never started")
				}
				time.Sleep(20 * time.Millisecond)
			}
			p.cmd.Process.Signal(syscall.SIGKILL)
			<-p.exited

			p2 := startServe(t, bin, name, state)
			// The slow job, and a quick one if a worker had just taken it.
			if !strings.Contains(p2.stderr.String(), "re-queued 1 submissions") && !strings.Contains(p2.stderr.String(), "re-queued 2 submissions") {
				t.Errorf("restart did not report the re-queued job: %s", p2.stderr.String())
			}
			sub := p2.call(t, "GET", "/v1/submissions/"+slow+"?wait=60s", "")
			if sub["status"] != "done" || sub["verdict"] != "passed" || sub["attempts"].(float64) != 2 {
				t.Errorf("crashed job after the restart: %v", sub)
			}
			for _, id := range quick {
				if s := p2.call(t, "GET", "/v1/submissions/"+id+"?wait=60s", ""); s["verdict"] != "passed" {
					t.Errorf("quick job: %v", s)
				}
			}
			list := p2.call(t, "GET", "/v1/submissions", "")["submissions"].([]any)
			if len(list) != 3 {
				t.Errorf("%d submissions listed after the crash, want 3", len(list))
			}
			p2.cmd.Process.Signal(syscall.SIGTERM)
			select {
			case err := <-p2.exited:
				if err != nil {
					t.Errorf("grader serve after SIGTERM: %v: %s", err, p2.stderr.String())
				}
			case <-time.After(time.Minute):
				p2.cmd.Process.Kill()
				t.Fatal("grader serve did not stop within a minute of SIGTERM")
			}
			if strings.Contains(p2.stderr.String(), "cleanup:") {
				t.Errorf("the service's own stop left something: %s", p2.stderr.String())
			}
			if _, err := os.Stat(filepath.Join(state, "work")); err == nil {
				t.Errorf("work directory %s remains", filepath.Join(state, "work"))
			}
			cgroups, _ := filepath.Glob("/sys/fs/cgroup/*/isobench-gr*")
			more, _ := filepath.Glob("/sys/fs/cgroup/isobench-gr*")
			if left := append(cgroups, more...); len(left) > 0 {
				t.Errorf("cgroups left: %v", left)
			}
			if out, _ := exec.Command("pgrep", "-f", "survived the crash").Output(); len(out) > 0 {
				t.Errorf("the crashed job's processes survive: %s", out)
			}
			t.Logf("%s", p2.stderr.String())
		})
	}
}
