// Package loadgen runs the load generators of the standard-tool workloads
// natively on the host, against a server in the sandbox, as the reference
// evaluation ran them from a second machine: iperf3's client, sysbench's
// OLTP client and ApacheBench.
//
// The agent starts the server in the sandbox, checks that it is ready, and
// then asks the host over one TCP connection (to Server, on the host's end
// of the sandbox's link) to run a generator against it. The target is
// always the address that connection came from, so a generator only ever
// reaches the sandbox that asked, over a link isobench created.
package loadgen

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"sync"
	"time"

	"github.com/isobench/isobench/internal/procgroup"
)

// Generator names a load generator.
type Generator string

const (
	Iperf3TCP Generator = "iperf3-tcp"
	Iperf3UDP Generator = "iperf3-udp"
	// OLTPPrepare, OLTPRun and OLTPCleanup are sysbench's OLTP steps.
	OLTPPrepare Generator = "oltp-prepare"
	OLTPRun     Generator = "oltp-run"
	OLTPCleanup Generator = "oltp-cleanup"
	AB          Generator = "ab"
)

// Request asks for one generator run against Port on the asking sandbox.
type Request struct {
	// Token is the server's secret, given to the agent with its request:
	// on loopback (the native process) any local process could connect.
	Token     string    `json:"token"`
	Generator Generator `json:"generator"`
	Port      int       `json:"port"`
	// Duration of a timed test (iperf3, sysbench run).
	Duration time.Duration `json:"duration,omitempty"`
	// Threads is sysbench's --threads or ab's -c.
	Threads int `json:"threads,omitempty"`
	// Requests is ab's -n.
	Requests int `json:"requests,omitempty"`
	// Rate is iperf3's UDP bitrate, bits/s.
	Rate int64 `json:"rate,omitempty"`
	// OLTP: the sysbench script (oltp_read_only, …) and table sizes.
	Script    string `json:"script,omitempty"`
	Tables    int    `json:"tables,omitempty"`
	TableSize int    `json:"table_size,omitempty"`
	// Timeout bounds the generator; the server caps it at MaxTimeout.
	Timeout time.Duration `json:"timeout"`
}

// Response is the generator's output, or why it failed.
type Response struct {
	Output string `json:"output"`
	Error  string `json:"error,omitempty"`
}

// MaxTimeout bounds any one generator run.
const MaxTimeout = 30 * time.Minute

// OLTP credentials of the database the agent sets up in the sandbox: it is
// reachable only over the sandbox's private link.
const (
	OLTPUser     = "sbtest"
	OLTPPassword = "sbtest"
	OLTPDatabase = "sbtest"
)

// Command returns the generator's command line against host:port.
func (r Request) Command(host string) ([]string, error) {
	if r.Port <= 0 || r.Port > 65535 {
		return nil, fmt.Errorf("port %d is not a TCP port", r.Port)
	}
	port := strconv.Itoa(r.Port)
	secs := strconv.Itoa(max(1, int(r.Duration.Round(time.Second)/time.Second)))
	switch r.Generator {
	case Iperf3TCP:
		return []string{"iperf3", "-c", host, "-p", port, "-t", secs, "-J"}, nil
	case Iperf3UDP:
		if r.Rate <= 0 {
			return nil, errors.New("iperf3-udp: rate must be positive")
		}
		return []string{"iperf3", "-c", host, "-p", port, "-t", secs, "-u", "-b", strconv.FormatInt(r.Rate, 10), "-J"}, nil
	case OLTPPrepare, OLTPRun, OLTPCleanup:
		switch r.Script {
		case "oltp_read_only", "oltp_write_only", "oltp_read_write":
		default:
			return nil, fmt.Errorf("oltp: script %q is not oltp_read_only, oltp_write_only or oltp_read_write", r.Script)
		}
		if r.Tables < 1 || r.TableSize < 1 {
			return nil, errors.New("oltp: tables and table_size must be positive")
		}
		args := []string{"sysbench", r.Script, "--db-driver=mysql", "--mysql-host=" + host, "--mysql-port=" + port,
			"--mysql-user=" + OLTPUser, "--mysql-password=" + OLTPPassword, "--mysql-db=" + OLTPDatabase,
			"--tables=" + strconv.Itoa(r.Tables), "--table-size=" + strconv.Itoa(r.TableSize)}
		switch r.Generator {
		case OLTPPrepare:
			// Loading the tables in parallel, as sysbench allows, is
			// not part of any measurement.
			return append(args, "--threads="+strconv.Itoa(min(r.Tables, 8)), "prepare"), nil
		case OLTPCleanup:
			return append(args, "cleanup"), nil
		}
		if r.Threads < 1 {
			return nil, errors.New("oltp-run: threads must be positive")
		}
		return append(args, "--threads="+strconv.Itoa(r.Threads), "--time="+secs, "--report-interval=0", "run"), nil
	case AB:
		if r.Threads < 1 || r.Requests < r.Threads {
			return nil, fmt.Errorf("ab: concurrency %d and requests %d: want 1 ≤ concurrency ≤ requests", r.Threads, r.Requests)
		}
		return []string{"ab", "-q", "-n", strconv.Itoa(r.Requests), "-c", strconv.Itoa(r.Threads), "http://" + net.JoinHostPort(host, port) + "/"}, nil
	}
	return nil, fmt.Errorf("unknown generator %q", r.Generator)
}

// Server accepts generator requests on the host's end of a sandbox link.
type Server struct {
	ln     net.Listener
	token  string
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// Serve listens on host (port 0) for requests that carry its Token.
func Serve(host string) (*Server, error) {
	secret := make([]byte, 16)
	if _, err := rand.Read(secret); err != nil {
		return nil, fmt.Errorf("loadgen: token: %w", err)
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return nil, fmt.Errorf("loadgen: listen on %s: %w", host, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{ln: ln, token: hex.EncodeToString(secret), ctx: ctx, cancel: cancel}
	s.wg.Add(1)
	go s.accept()
	return s, nil
}

// Addr is host:port of the server.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Token is the secret every request must carry.
func (s *Server) Token() string { return s.token }

// Close stops the server and kills running generators.
func (s *Server) Close() error {
	s.cancel()
	err := s.ln.Close()
	s.wg.Wait()
	return err
}

func (s *Server) accept() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer c.Close()
			stop := context.AfterFunc(s.ctx, func() { c.Close() })
			defer stop()
			s.serve(c)
		}()
	}
}

// serve answers requests on one connection until it closes.
func (s *Server) serve(c net.Conn) {
	host, _, err := net.SplitHostPort(c.RemoteAddr().String())
	if err != nil {
		return
	}
	rd := bufio.NewReader(c)
	enc := json.NewEncoder(c)
	for {
		line, err := rd.ReadBytes('\n')
		if err != nil {
			return
		}
		var req Request
		var resp Response
		if err := json.Unmarshal(line, &req); err != nil {
			resp.Error = "bad request: " + err.Error()
		} else if subtle.ConstantTimeCompare([]byte(req.Token), []byte(s.token)) != 1 {
			return // not the sandbox this server was started for
		} else {
			resp = Run(s.ctx, req, host)
		}
		if enc.Encode(resp) != nil {
			return
		}
	}
}

// Run runs one generator against host and returns its output.
func Run(ctx context.Context, req Request, host string) Response {
	argv, err := req.Command(host)
	if err != nil {
		return Response{Error: err.Error()}
	}
	if _, err := exec.LookPath(argv[0]); err != nil {
		return Response{Error: fmt.Sprintf("%s is not installed on the host, where the load generators run natively (apt-get install %s)", argv[0], hostPackage(argv[0]))}
	}
	timeout := min(max(req.Timeout, time.Second), MaxTimeout)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.Command(argv[0], argv[1:]...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err = procgroup.Run(ctx, cmd); ctx.Err() != nil {
		err = fmt.Errorf("killed after %s", timeout)
	}
	resp := Response{Output: out.String()}
	if err != nil {
		resp.Error = fmt.Sprintf("%s: %v", argv[0], err)
	}
	return resp
}

func hostPackage(tool string) string {
	if tool == "ab" {
		return "apache2-utils"
	}
	return tool
}

// Client is the agent's side: one connection to the host's Server.
type Client struct {
	token string
	c     net.Conn
	rd    *bufio.Reader
	enc   *json.Encoder
}

// Dial connects to the host's server at addr; token is its Token.
func Dial(ctx context.Context, addr, token string) (*Client, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("loadgen: connect to the host at %s: %w", addr, err)
	}
	return &Client{token: token, c: c, rd: bufio.NewReader(c), enc: json.NewEncoder(c)}, nil
}

// LocalIP is the sandbox's address on the link: the generator's target.
func (c *Client) LocalIP() string {
	host, _, _ := net.SplitHostPort(c.c.LocalAddr().String())
	return host
}

// Run asks the host to run one generator and waits for its output.
func (c *Client) Run(ctx context.Context, req Request) (string, error) {
	stop := context.AfterFunc(ctx, func() { c.c.Close() })
	defer stop()
	req.Token = c.token
	if err := c.enc.Encode(req); err != nil {
		return "", fmt.Errorf("loadgen: send %s: %w", req.Generator, err)
	}
	line, err := c.rd.ReadBytes('\n')
	if err != nil {
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		return "", fmt.Errorf("loadgen: %s: no answer from the host: %w", req.Generator, err)
	}
	var resp Response
	if err := json.Unmarshal(line, &resp); err != nil {
		return "", fmt.Errorf("loadgen: %s: bad answer: %w", req.Generator, err)
	}
	if resp.Error != "" {
		return resp.Output, fmt.Errorf("host-side %s: %s: %s", req.Generator, resp.Error, lastLines(resp.Output))
	}
	return resp.Output, nil
}

// Close ends the connection.
func (c *Client) Close() error { return c.c.Close() }

func lastLines(s string) string {
	s = string(bytes.TrimSpace([]byte(s)))
	if len(s) > 600 {
		s = "…" + s[len(s)-600:]
	}
	return s
}
