package workload

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/isobench/isobench/internal/procgroup"

	"github.com/isobench/isobench/internal/loadgen"
	"github.com/isobench/isobench/internal/metric"
	"github.com/isobench/isobench/internal/tools"
)

// Server workloads: a server from the guest image runs in the sandbox and
// the host's native load generator (internal/loadgen) measures it over the
// sandbox's link, as the reference evaluation measured from a second
// machine.
const (
	Iperf3 ID = "iperf3"
	OLTP   ID = "oltp"
	HTTP   ID = "http"
)

// PeerTokenParam carries the host's load generator secret (loadgen.Server.Token).
const PeerTokenParam = "peer_token"

// serverReadyTimeout bounds a server's start, readiness check included.
const serverReadyTimeout = 2 * time.Minute

// lockedBuffer is a server's output, read while the server writes it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf cappedBuffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// server is a tool server running in the sandbox.
type server struct {
	name string
	cmd  *exec.Cmd
	out  *lockedBuffer
	done chan struct{}
	err  error
}

func startServer(name string, args ...string) (*server, error) {
	cmd, err := toolCommand(name, args...)
	if err != nil {
		return nil, err
	}
	procgroup.Prepare(cmd) // dies with the agent
	s := &server{name: name, cmd: cmd, out: &lockedBuffer{buf: cappedBuffer{max: 1 << 20}}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = s.out, s.out
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	go func() { s.err = cmd.Wait(); close(s.done) }()
	return s, nil
}

// waitReady polls ready until it succeeds, the server exits, or the bound.
func (s *server) waitReady(ctx context.Context, what string, ready func(ctx context.Context) bool) error {
	ctx, cancel := context.WithTimeout(ctx, serverReadyTimeout)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		if ready(ctx) {
			return nil
		}
		select {
		case <-s.done:
			return fmt.Errorf("%s exited before %s: %v: %s", s.name, what, s.err, lastLines(s.out.String(), 8))
		case <-ctx.Done():
			return fmt.Errorf("%s: not %s within %s: %s", s.name, what, serverReadyTimeout, lastLines(s.out.String(), 8))
		case <-tick.C:
		}
	}
}

func (s *server) stop() {
	procgroup.Kill(s.cmd)
	<-s.done
}

// serverAddr picks where a server listens: loopback when the host's load
// generator comes over loopback (the native process shares the host's
// network), else every address of the sandbox's own network namespace.
func serverAddr(peer string) (bind string, port int, err error) {
	bind = "0.0.0.0"
	if ap, perr := net.ResolveTCPAddr("tcp", peer); perr == nil && ap.IP.IsLoopback() {
		bind = "127.0.0.1"
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(bind, "0"))
	if err != nil {
		return "", 0, fmt.Errorf("find a free port: %w", err)
	}
	port = ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	return bind, port, nil
}

// listenServer starts a server on a free port and waits until ready says
// so. The port is found by binding and releasing it; for the native
// process that is on the host's loopback, where another program may take
// it before the server binds, so a server that fails with its address in
// use is started again on another port (twice at most).
func listenServer(ctx context.Context, peer, what string, start func(bind string, port int) (*server, error),
	ready func(srv *server, bind string, port int) func(context.Context) bool) (*server, string, int, error) {
	for attempt := 0; ; attempt++ {
		bind, port, err := serverAddr(peer)
		if err != nil {
			return nil, "", 0, err
		}
		srv, err := start(bind, port)
		if err != nil {
			return nil, "", 0, err
		}
		err = srv.waitReady(ctx, what, ready(srv, bind, port))
		if err == nil {
			return srv, bind, port, nil
		}
		srv.stop()
		if attempt == 2 || !strings.Contains(srv.out.String(), "in use") {
			return nil, "", 0, err
		}
	}
}

// peerParams are the host-set parameters of every server workload.
func peerParams() []Param {
	return []Param{
		{Name: PeerParam, Default: "", Help: "host:port of the host's load generator service (set by the host)"},
		{Name: NoPeerParam, Default: "this backend gives the sandbox no link to the host", Help: "why there is none (set by the host)"},
		{Name: PeerTokenParam, Default: "", Help: "the load generator service's secret (set by the host)"},
	}
}

// dialPeer connects to the host's load generators. Without a link to the
// host (the backend has none here) it returns nil and the reason, for
// which every metric is reported as not measured.
func dialPeer(ctx context.Context, p map[string]string) (*loadgen.Client, string, error) {
	peer := p[PeerParam]
	if peer == "" {
		return nil, "no link to the host for the load generator: " + p[NoPeerParam], nil
	}
	if err := checkPeer(peer); err != nil {
		return nil, "", err
	}
	c, err := loadgen.Dial(ctx, peer, p[PeerTokenParam])
	return c, "", err
}

// serverRunner runs body with a connection to the host's load generators;
// without a link to the host, every metric is reported as not measured,
// with the reason.
func serverRunner(params map[string]string, metrics []metric.Name, body func(ctx context.Context, lg *loadgen.Client) (Output, error)) Runner {
	return runnerFunc(func(ctx context.Context) (Output, error) {
		lg, why, err := dialPeer(ctx, params)
		if err != nil {
			return Output{}, err
		}
		if lg == nil {
			return skipAll(metrics, why), nil
		}
		defer lg.Close()
		return body(ctx, lg)
	})
}

func skipAll(names []metric.Name, reason string) Output {
	var out Output
	for _, n := range names {
		out.skip(n, reason)
	}
	return out
}

func iperf3Spec() Spec {
	return Spec{
		ID:          Iperf3,
		Description: "iperf3 server in the sandbox, native iperf3 client on the host: TCP throughput with the server's CPU use, UDP jitter and loss at a fixed rate",
		Params: append([]Param{
			{Name: "duration", Default: "10s", Quick: "3s", Help: "length of each test"},
			{Name: "udp_rate", Default: "1000000", Help: "UDP bitrate, bits/s"},
		}, peerParams()...),
		Metrics: []metric.Name{metric.Iperf3TCP, metric.Iperf3TCPServerCPU, metric.Iperf3UDPJitter, metric.Iperf3UDPLoss},
		Parse: func(p Params) (Runner, error) {
			d, rate := p.Duration("duration", time.Second), p.Int("udp_rate", 1000)
			if err := p.Err(); err != nil {
				return nil, err
			}
			return serverRunner(p.values, iperf3Spec().Metrics, func(ctx context.Context, lg *loadgen.Client) (Output, error) {
				var out Output
				srv, _, port, err := listenServer(ctx, p.values[PeerParam], "listening",
					func(bind string, port int) (*server, error) {
						return startServer("iperf3", "-s", "-B", bind, "-p", strconv.Itoa(port), "--forceflush")
					},
					func(srv *server, _ string, _ int) func(context.Context) bool {
						return func(context.Context) bool { return strings.Contains(srv.out.String(), "Server listening") }
					})
				if err != nil {
					return out, err
				}
				defer srv.stop()
				timeout := d + time.Minute
				text, err := lg.Run(ctx, loadgen.Request{Generator: loadgen.Iperf3TCP, Port: port, Duration: d, Timeout: timeout})
				if err != nil {
					return out, err
				}
				tcp, err := tools.ParseIperf3([]byte(text))
				if err != nil {
					return out, err
				}
				// iperf3's server listens again only once it has finished
				// with the last test: slow in an emulated guest.
				if err := srv.waitReady(ctx, "listening again", func(context.Context) bool {
					return strings.Count(srv.out.String(), "Server listening") >= 2
				}); err != nil {
					return out, err
				}
				text, err = lg.Run(ctx, loadgen.Request{Generator: loadgen.Iperf3UDP, Port: port, Duration: d, Rate: rate, Timeout: timeout})
				if err != nil {
					return out, err
				}
				udp, err := tools.ParseIperf3([]byte(text))
				if err != nil {
					return out, err
				}
				out.add(metric.Iperf3TCP, metric.BytesPerSec, tcp.BitsPerSecond/8)
				out.add(metric.Iperf3TCPServerCPU, metric.Dimensionless, tcp.RemoteCPU/100)
				out.add(metric.Iperf3UDPJitter, metric.Seconds, udp.JitterSeconds)
				out.add(metric.Iperf3UDPLoss, metric.Dimensionless, udp.LostPercent/100)
				return out, nil
			}), nil
		},
	}
}

// intList parses "10,20,30".
func (p *Params) intList(name string, min int) []int {
	var out []int
	for f := range strings.SplitSeq(p.values[name], ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < min {
			p.fail(name, fmt.Sprintf("a comma-separated list of integers ≥ %d", min))
			return nil
		}
		out = append(out, n)
	}
	return out
}

// oltpModes are sysbench's OLTP scripts, by their short names.
var oltpModes = []string{"read_only", "write_only", "read_write"}

func oltpSpec() Spec {
	return Spec{
		ID:          OLTP,
		Description: "MariaDB in the sandbox (data on the scratch volume), sysbench OLTP client on the host: transactions per second and p95 latency per mode and thread count",
		Params: append([]Param{
			{Name: "tables", Default: "8", Quick: "2", Help: "--tables"},
			{Name: "table_size", Default: "1000000", Quick: "10000", Help: "--table-size (rows)"},
			{Name: "threads", Default: "10,20,30,40,50,60,70", Quick: "10", Help: "client thread counts, each a measurement"},
			{Name: "modes", Default: "read_only,write_only,read_write", Help: "sysbench oltp_ scripts, in order"},
			{Name: "duration", Default: "20s", Quick: "5s", Help: "--time of each measurement"},
			{Name: "buffer_pool", Default: "128MiB", Help: "innodb_buffer_pool_size (MariaDB's default)"},
		}, peerParams()...),
		Metrics:   OLTPMetrics(map[string]string{"modes": "read_only,write_only,read_write", "threads": "10,20,30,40,50,60,70"}),
		MetricsOf: OLTPMetrics,
		Parse: func(p Params) (Runner, error) {
			tables, rows := int(p.Int("tables", 1)), int(p.Int("table_size", 1))
			threads := p.intList("threads", 1)
			d := p.Duration("duration", time.Second)
			pool := p.Bytes("buffer_pool", 8<<20)
			modes := strings.Split(p.values["modes"], ",")
			for _, m := range modes {
				if !slices.Contains(oltpModes, m) {
					p.fail("modes", "a comma-separated list of "+strings.Join(oltpModes, ", "))
				}
			}
			if err := p.Err(); err != nil {
				return nil, err
			}
			return serverRunner(p.values, OLTPMetrics(p.values), func(ctx context.Context, lg *loadgen.Client) (Output, error) {
				var out Output
				// READY follows a real query: the script creates the
				// benchmark's user through the server.
				srv, _, port, err := listenServer(ctx, p.values[PeerParam], "accepting queries",
					func(bind string, port int) (*server, error) {
						return startServer("sh", "-c", mariadbScript(bind, port, pool))
					},
					func(srv *server, _ string, _ int) func(context.Context) bool {
						return func(context.Context) bool {
							out := srv.out.String()
							return strings.Contains(out, "\nREADY\n") || strings.HasPrefix(out, "READY\n")
						}
					})
				if err != nil {
					return out, err
				}
				defer srv.stop()
				base := loadgen.Request{Port: port, Script: "oltp_" + modes[0], Tables: tables, TableSize: rows, Timeout: loadgen.MaxTimeout}
				prep := base
				prep.Generator = loadgen.OLTPPrepare
				if _, err := lg.Run(ctx, prep); err != nil {
					return out, fmt.Errorf("oltp prepare: %w", err)
				}
				for _, mode := range modes {
					for _, t := range threads {
						run := base
						run.Generator, run.Script, run.Threads, run.Duration, run.Timeout = loadgen.OLTPRun, "oltp_"+mode, t, d, d+5*time.Minute
						text, err := lg.Run(ctx, run)
						if err != nil {
							return out, err
						}
						r, err := tools.ParseSysbench(text)
						if err != nil {
							return out, err
						}
						tps, err1 := r.Get("SQL statistics/transactions per sec.")
						p95, err2 := r.Get("Latency (ms)/95th percentile")
						if err := firstErr(err1, err2); err != nil {
							return out, err
						}
						out.add(metric.OLTPTPS(mode, t), metric.OpsPerSec, tps)
						out.add(metric.OLTPLatP95(mode, t), metric.Seconds, p95/1e3)
					}
				}
				return out, nil
			}), nil
		},
	}
}

// OLTPMetrics are the oltp workload's metrics for its parameters.
func OLTPMetrics(params map[string]string) []metric.Name {
	p := Params{id: OLTP, values: params}
	threads := p.intList("threads", 1)
	var out []metric.Name
	for _, m := range strings.Split(params["modes"], ",") {
		for _, t := range threads {
			out = append(out, metric.OLTPTPS(m, t), metric.OLTPLatP95(m, t))
		}
	}
	return out
}

// mariadbScript starts MariaDB on a copy of the image's initial database
// on the scratch volume, creates the benchmark's database and user, prints
// READY and waits for the server.
func mariadbScript(bind string, port int, pool int64) string {
	return fmt.Sprintf(`set -e
rm -rf %[1]s/db
cp -R /var/lib/mysql %[1]s/db
mariadbd --no-defaults --user=root --datadir=%[1]s/db --socket=/tmp/mysqld.sock --pid-file=/tmp/mysqld.pid \
  --bind-address=%[2]s --port=%[3]d --skip-name-resolve --innodb-buffer-pool-size=%[4]d --max-connections=500 \
  --log-error=/tmp/mysqld.err &
i=0
until mariadb-admin --socket=/tmp/mysqld.sock ping >/dev/null 2>&1; do
  i=$((i+1)); [ $i -lt 1200 ] || { cat /tmp/mysqld.err; exit 1; }
  kill -0 $! 2>/dev/null || { cat /tmp/mysqld.err; exit 1; }
  sleep 0.1
done
mariadb --socket=/tmp/mysqld.sock -e "CREATE DATABASE %[5]s; CREATE USER '%[6]s'@'%%' IDENTIFIED BY '%[7]s'; GRANT ALL ON %[5]s.* TO '%[6]s'@'%%'; SELECT 1;" >/dev/null
echo READY
wait $!
`, scratchInTool, bind, port, pool, loadgen.OLTPDatabase, loadgen.OLTPUser, loadgen.OLTPPassword)
}

func httpSpec() Spec {
	return Spec{
		ID:          HTTP,
		Description: "nginx in the sandbox serving a static page, ApacheBench on the host: requests per second and mean time per request per concurrency",
		Params: append([]Param{
			{Name: "requests", Default: "5000", Quick: "1000", Help: "ab -n per concurrency level"},
			{Name: "concurrency", Default: "10,50,100,200", Quick: "10,100", Help: "ab -c levels, each a measurement"},
			{Name: "page_size", Default: "10KiB", Help: "size of the page served"},
		}, peerParams()...),
		Metrics:   HTTPMetrics(map[string]string{"concurrency": "10,50,100,200"}),
		MetricsOf: HTTPMetrics,
		Parse: func(p Params) (Runner, error) {
			n := int(p.Int("requests", 1))
			levels := p.intList("concurrency", 1)
			page := p.Bytes("page_size", 1)
			if err := p.Err(); err != nil {
				return nil, err
			}
			for _, c := range levels {
				if c > n {
					return nil, fmt.Errorf("http: concurrency %d is more than requests %d", c, n)
				}
			}
			return serverRunner(p.values, HTTPMetrics(p.values), func(ctx context.Context, lg *loadgen.Client) (Output, error) {
				var out Output
				client := &http.Client{Timeout: 2 * time.Second}
				srv, _, port, err := listenServer(ctx, p.values[PeerParam], "answering HTTP 200",
					func(bind string, port int) (*server, error) {
						return startServer("sh", "-c", nginxScript(bind, port, page))
					},
					func(_ *server, bind string, port int) func(context.Context) bool {
						if bind == "0.0.0.0" {
							bind = "127.0.0.1"
						}
						url := "http://" + net.JoinHostPort(bind, strconv.Itoa(port)) + "/"
						return func(ctx context.Context) bool {
							req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
							resp, err := client.Do(req)
							if err != nil {
								return false
							}
							resp.Body.Close()
							return resp.StatusCode == http.StatusOK
						}
					})
				if err != nil {
					return out, err
				}
				defer srv.stop()
				for _, c := range levels {
					text, err := lg.Run(ctx, loadgen.Request{Generator: loadgen.AB, Port: port, Threads: c, Requests: n, Timeout: 10 * time.Minute})
					if err != nil {
						return out, err
					}
					r, err := tools.ParseAB(text)
					if err != nil {
						return out, err
					}
					if r.Failed > 0 || r.Non2xx > 0 {
						return out, fmt.Errorf("ab -c %d: %d requests failed and %d answered other than 2xx", c, r.Failed, r.Non2xx)
					}
					out.add(metric.HTTPRPS(c), metric.OpsPerSec, r.RequestsPerSecond)
					out.add(metric.HTTPMeanTime(c), metric.Seconds, r.MeanTimePerRequest)
				}
				return out, nil
			}), nil
		},
	}
}

// HTTPMetrics are the http workload's metrics for its parameters.
func HTTPMetrics(params map[string]string) []metric.Name {
	p := Params{id: HTTP, values: params}
	var out []metric.Name
	for _, c := range p.intList("concurrency", 1) {
		out = append(out, metric.HTTPRPS(c), metric.HTTPMeanTime(c))
	}
	return out
}

// nginxScript serves a static page from /tmp with one process: no master
// and no workers, so nginx needs no privilege to change users, and no
// access log, so the disk is not what is measured.
func nginxScript(bind string, port int, page int64) string {
	return fmt.Sprintf(`set -e
mkdir -p /tmp/www /tmp/nginx
head -c %[2]d /dev/zero | tr '\0' 'x' > /tmp/www/index.html
cat > /tmp/nginx/nginx.conf <<'CONF'
daemon off;
master_process off;
user root root;
error_log /tmp/nginx/error.log;
pid /tmp/nginx/nginx.pid;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path /tmp/nginx/body;
    proxy_temp_path /tmp/nginx/proxy;
    fastcgi_temp_path /tmp/nginx/fastcgi;
    uwsgi_temp_path /tmp/nginx/uwsgi;
    scgi_temp_path /tmp/nginx/scgi;
    server { listen %[3]s:%[1]d; root /tmp/www; }
}
CONF
exec nginx -e /tmp/nginx/error.log -p /tmp/nginx -c /tmp/nginx/nginx.conf
`, port, page, bind)
}
