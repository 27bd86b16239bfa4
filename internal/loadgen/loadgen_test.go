package loadgen

import (
	"context"
	"net"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/isobench/isobench/internal/tools"
)

func TestCommand(t *testing.T) {
	tests := []struct {
		name    string
		req     Request
		want    []string // a prefix of the command line, or nil for an error
		wantErr string
	}{
		{"iperf3 tcp", Request{Generator: Iperf3TCP, Port: 5201, Duration: 3 * time.Second}, []string{"iperf3", "-c", "10.0.0.2", "-p", "5201", "-t", "3", "-J"}, ""},
		{"iperf3 udp", Request{Generator: Iperf3UDP, Port: 5201, Duration: time.Second, Rate: 1000000}, []string{"iperf3", "-c", "10.0.0.2", "-p", "5201", "-t", "1", "-u", "-b", "1000000", "-J"}, ""},
		{"udp without rate", Request{Generator: Iperf3UDP, Port: 5201}, nil, "rate must be positive"},
		{"bad port", Request{Generator: Iperf3TCP, Port: 70000}, nil, "not a TCP port"},
		{"oltp run", Request{Generator: OLTPRun, Port: 3306, Script: "oltp_read_only", Tables: 2, TableSize: 10, Threads: 4, Duration: 5 * time.Second}, []string{"sysbench", "oltp_read_only", "--db-driver=mysql", "--mysql-host=10.0.0.2"}, ""},
		{"oltp unknown script", Request{Generator: OLTPRun, Port: 3306, Script: "bulk_insert", Tables: 1, TableSize: 1, Threads: 1}, nil, "is not oltp_read_only"},
		{"oltp no threads", Request{Generator: OLTPRun, Port: 3306, Script: "oltp_read_only", Tables: 1, TableSize: 1}, nil, "threads must be positive"},
		{"ab", Request{Generator: AB, Port: 8080, Threads: 10, Requests: 100}, []string{"ab", "-q", "-n", "100", "-c", "10", "http://10.0.0.2:8080/"}, ""},
		{"ab more clients than requests", Request{Generator: AB, Port: 8080, Threads: 10, Requests: 5}, nil, "concurrency 10 and requests 5"},
		{"unknown", Request{Generator: "wrk", Port: 80}, nil, `unknown generator "wrk"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.req.Command("10.0.0.2")
			if tt.want == nil {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || len(got) < len(tt.want) || !slices.Equal(got[:len(tt.want)], tt.want) {
				t.Fatalf("%q, %v; want prefix %q", got, err, tt.want)
			}
		})
	}
}

// TestIperf3OverLoopback runs the real iperf3 client through a Server, as
// the agent does, against a real iperf3 server.
func TestIperf3OverLoopback(t *testing.T) {
	if _, err := exec.LookPath("iperf3"); err != nil {
		t.Skip("iperf3 not installed (apt-get install iperf3; scripts/install-deps.sh does)")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	srv := exec.Command("iperf3", "-s", "-1", "-B", "127.0.0.1", "-p", strconv.Itoa(port))
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Process.Kill(); _ = srv.Wait() })
	for range 100 {
		if c, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port))); err == nil {
			c.Close()
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	// The probe above was a test to iperf3: give it a fresh server.
	_ = srv.Process.Kill()
	_ = srv.Wait()
	srv = exec.Command("iperf3", "-s", "-1", "-B", "127.0.0.1", "-p", strconv.Itoa(port))
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)

	gen, err := Serve("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	defer gen.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := Dial(ctx, gen.Addr(), gen.Token())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	out, err := c.Run(ctx, Request{Generator: Iperf3TCP, Port: port, Duration: time.Second, Timeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	r, err := tools.ParseIperf3([]byte(out))
	if err != nil || !(r.BitsPerSecond > 0) {
		t.Fatalf("iperf3 report: %+v, %v", r, err)
	}
	// Without the token the server answers nothing.
	stranger, err := Dial(ctx, gen.Addr(), "guess")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stranger.Run(ctx, Request{Generator: Iperf3TCP, Port: port, Duration: time.Second}); err == nil {
		t.Error("a request without the token was served")
	}
	stranger.Close()
	// A refused request is an error the agent can report.
	if _, err := c.Run(ctx, Request{Generator: AB, Port: port, Threads: 2, Requests: 1}); err == nil || !strings.Contains(err.Error(), "concurrency 2") {
		t.Errorf("bad request: %v", err)
	}
}

// Closing the server kills a generator that is still running.
func TestCloseKillsGenerator(t *testing.T) {
	if _, err := exec.LookPath("iperf3"); err != nil {
		t.Skip("iperf3 not installed")
	}
	// A listener that accepts and never answers: iperf3 waits on it.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	gen, err := Serve("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	c, err := Dial(context.Background(), gen.Addr(), gen.Token())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	errc := make(chan error, 1)
	go func() {
		_, err := c.Run(context.Background(), Request{Generator: Iperf3TCP, Port: ln.Addr().(*net.TCPAddr).Port, Duration: time.Second, Timeout: 10 * time.Minute})
		errc <- err
	}()
	time.Sleep(500 * time.Millisecond)
	start := time.Now()
	if err := gen.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err == nil {
		t.Error("a generator killed by Close reported success")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Close took %s", d)
	}
}
