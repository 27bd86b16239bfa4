package docker

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// Client is a thin client of the Docker Engine API: the dozen calls that
// `docker run`, `docker import` and `docker network create` make.
//
// It is hand-written rather than the official moby client because the
// agent that runs in every sandbox is this same binary: the moby client's
// dependencies (distribution/reference's and go-digest's regular
// expressions, OpenTelemetry) made every agent start 7.3 ms slower (12.5 →
// 19.8 ms, hyperfine, 300 runs) — in every backend, the native baseline
// included. The request and response fields follow the Engine API
// reference (docs.docker.com/reference/api/engine), version 1.40 and later.
type Client struct {
	host    string // as given (DOCKER_HOST), for messages
	network string // "unix" or "tcp"
	addr    string
	http    *http.Client
	version string // negotiated API version, "1.41"
}

// MinAPIVersion is the oldest Engine API this client speaks (Docker 19.03).
const MinAPIVersion = "1.40"

// maxAPIVersion caps negotiation at the newest API whose fields this client
// was checked against.
const maxAPIVersion = "1.51"

// DefaultHost is the daemon's socket when DOCKER_HOST is unset.
const DefaultHost = "unix:///var/run/docker.sock"

// NewClient connects to DOCKER_HOST (or the default socket): a local
// daemon's unix socket.
func NewClient() (*Client, error) {
	host := os.Getenv("DOCKER_HOST")
	if host == "" {
		host = DefaultHost
	}
	c := &Client{host: host}
	scheme, addr, _ := strings.Cut(host, "://")
	if scheme != "unix" {
		// The sandboxes' processes, memory and cgroups are read from this
		// host's /proc: the daemon must run here.
		return nil, fmt.Errorf("DOCKER_HOST %q: only a local daemon's unix socket is supported (unix:///var/run/docker.sock): isobench reads the containers' processes and memory from this host", host)
	}
	c.network, c.addr = "unix", addr // a path, taken as it is (it may hold '#' or '?')
	c.http = &http.Client{Transport: &http.Transport{
		DialContext:         func(ctx context.Context, _, _ string) (net.Conn, error) { return c.dial(ctx) },
		MaxIdleConnsPerHost: 16,
	}}
	return c, nil
}

func (c *Client) dial(ctx context.Context) (net.Conn, error) {
	var d net.Dialer
	return d.DialContext(ctx, c.network, c.addr)
}

// Host is the daemon's address as configured.
func (c *Client) Host() string { return c.host }

// Close drops idle connections.
func (c *Client) Close() { c.http.CloseIdleConnections() }

// APIError is an error answer of the daemon.
type APIError struct {
	Status  int
	Message string
}

func (e *APIError) Error() string {
	return fmt.Sprintf("Docker API: %s (HTTP %d)", e.Message, e.Status)
}

// IsNotFound reports a "no such container/image/network" answer.
func IsNotFound(err error) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.Status == http.StatusNotFound
}

// Negotiate pings the daemon and settles on the API version to use: the
// daemon's own, capped at maxAPIVersion.
func (c *Client) Negotiate(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://docker/_ping", nil)
	if err != nil {
		return err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	v := resp.Header.Get("API-Version")
	switch {
	case resp.StatusCode != http.StatusOK:
		return fmt.Errorf("ping: HTTP %d", resp.StatusCode)
	case v == "":
		return errors.New("ping: the daemon names no API version")
	case versionLess(v, MinAPIVersion):
		return fmt.Errorf("the daemon speaks Engine API %s; isobench needs %s or newer (Docker 19.03+)", v, MinAPIVersion)
	case versionLess(maxAPIVersion, v):
		v = maxAPIVersion
	}
	c.version = v
	return nil
}

// APIVersion is the negotiated version.
func (c *Client) APIVersion() string { return c.version }

func versionLess(a, b string) bool {
	am, an, _ := strings.Cut(a, ".")
	bm, bn, _ := strings.Cut(b, ".")
	ai, _ := strconv.Atoi(am)
	bi, _ := strconv.Atoi(bm)
	if ai != bi {
		return ai < bi
	}
	aj, _ := strconv.Atoi(an)
	bj, _ := strconv.Atoi(bn)
	return aj < bj
}

// do sends one request; body is JSON-encoded unless it is an io.Reader.
// out, when set, receives the decoded JSON answer.
func (c *Client) do(ctx context.Context, method, path string, query url.Values, body, out any) error {
	resp, err := c.send(ctx, method, path, query, body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("%s %s: decode answer: %w", method, path, err)
	}
	return nil
}

// send sends one request and returns a successful response, whose body the
// caller closes.
func (c *Client) send(ctx context.Context, method, path string, query url.Values, body any) (*http.Response, error) {
	var r io.Reader
	ctype := "application/json"
	switch b := body.(type) {
	case nil:
	case io.Reader:
		r, ctype = b, "application/x-tar"
	default:
		data, err := json.Marshal(b)
		if err != nil {
			return nil, fmt.Errorf("%s %s: encode: %w", method, path, err)
		}
		r = bytes.NewReader(data)
	}
	u := "http://docker/v" + c.version + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, r)
	if err != nil {
		return nil, err
	}
	if r != nil {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	if resp.StatusCode >= 300 {
		defer resp.Body.Close()
		return nil, decodeError(resp)
	}
	return resp, nil
}

func decodeError(resp *http.Response) error {
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var m struct {
		Message string `json:"message"`
	}
	if json.Unmarshal(data, &m) != nil || m.Message == "" {
		m.Message = strings.TrimSpace(string(data))
	}
	return &APIError{Status: resp.StatusCode, Message: m.Message}
}

// Version is GET /version (the fields isobench records).
type Version struct {
	Version    string `json:"Version"`
	APIVersion string `json:"ApiVersion"`
}

func (c *Client) Version(ctx context.Context) (Version, error) {
	var v Version
	err := c.do(ctx, http.MethodGet, "/version", nil, nil, &v)
	return v, err
}

// Runtime is one runtime the daemon has registered (daemon.json).
type Runtime struct {
	Path string   `json:"path"`
	Args []string `json:"runtimeArgs"`
}

// Info is GET /info (the fields isobench reads).
type Info struct {
	Runtimes       map[string]Runtime `json:"Runtimes"`
	DefaultRuntime string             `json:"DefaultRuntime"`
	CgroupDriver   string             `json:"CgroupDriver"`
	CgroupVersion  string             `json:"CgroupVersion"`
	Driver         string             `json:"Driver"` // storage driver
	DockerRootDir  string             `json:"DockerRootDir"`
}

func (c *Client) Info(ctx context.Context) (Info, error) {
	var i Info
	err := c.do(ctx, http.MethodGet, "/info", nil, nil, &i)
	return i, err
}

// ImageExists is GET /images/{name}/json.
func (c *Client) ImageExists(ctx context.Context, name string) (bool, error) {
	err := c.do(ctx, http.MethodGet, "/images/"+name+"/json", nil, nil, nil)
	if IsNotFound(err) {
		return false, nil
	}
	return err == nil, err
}

// ImageImport is POST /images/create?fromSrc=- : a root filesystem tarball
// becomes image repo:tag, with Dockerfile-style changes applied.
func (c *Client) ImageImport(ctx context.Context, tarball io.Reader, repo, tag string, changes []string) error {
	q := url.Values{"fromSrc": {"-"}, "repo": {repo}, "tag": {tag}, "changes": changes}
	resp, err := c.send(ctx, http.MethodPost, "/images/create", q, tarball)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	// The daemon streams JSON progress messages; a failure is one of them.
	dec := json.NewDecoder(resp.Body)
	for {
		var msg struct {
			Error string `json:"error"`
		}
		if err := dec.Decode(&msg); errors.Is(err, io.EOF) {
			return nil
		} else if err != nil {
			return fmt.Errorf("image import: reading the daemon's answer: %w", err)
		}
		if msg.Error != "" {
			return fmt.Errorf("image import: %s", msg.Error)
		}
	}
}

// ImageRemove is DELETE /images/{id}.
func (c *Client) ImageRemove(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodDelete, "/images/"+id, nil, nil, nil)
}

// filters renders one Engine API filter as a query.
func filters(key, value string) url.Values {
	b, _ := json.Marshal(map[string][]string{key: {value}})
	return url.Values{"filters": {string(b)}}
}

// ContainerConfig is the body of POST /containers/create.
type ContainerConfig struct {
	Image            string            `json:"Image"`
	Cmd              []string          `json:"Cmd"`
	Env              []string          `json:"Env,omitempty"`
	WorkingDir       string            `json:"WorkingDir,omitempty"`
	OpenStdin        bool              `json:"OpenStdin"`
	StdinOnce        bool              `json:"StdinOnce"`
	AttachStdin      bool              `json:"AttachStdin"`
	AttachStdout     bool              `json:"AttachStdout"`
	AttachStderr     bool              `json:"AttachStderr"`
	Labels           map[string]string `json:"Labels,omitempty"`
	HostConfig       HostConfig        `json:"HostConfig"`
	NetworkingConfig *NetworkingConfig `json:"NetworkingConfig,omitempty"`
}

// HostConfig is the container's host side: runtime, limits, mounts.
type HostConfig struct {
	NetworkMode    string            `json:"NetworkMode"`
	Runtime        string            `json:"Runtime,omitempty"`
	ReadonlyRootfs bool              `json:"ReadonlyRootfs"`
	CapDrop        []string          `json:"CapDrop,omitempty"`
	CapAdd         []string          `json:"CapAdd,omitempty"`
	SecurityOpt    []string          `json:"SecurityOpt,omitempty"`
	Tmpfs          map[string]string `json:"Tmpfs,omitempty"`
	Binds          []string          `json:"Binds,omitempty"`
	CPUPeriod      int64             `json:"CpuPeriod,omitempty"`
	CPUQuota       int64             `json:"CpuQuota,omitempty"`
	Memory         int64             `json:"Memory,omitempty"`
	MemorySwap     int64             `json:"MemorySwap,omitempty"`
	PidsLimit      int64             `json:"PidsLimit,omitempty"`
}

// NetworkingConfig pins the container's address on its network.
type NetworkingConfig struct {
	EndpointsConfig map[string]EndpointSettings `json:"EndpointsConfig"`
}

type EndpointSettings struct {
	IPAMConfig *EndpointIPAMConfig `json:"IPAMConfig,omitempty"`
}

type EndpointIPAMConfig struct {
	IPv4Address string `json:"IPv4Address,omitempty"`
}

// ContainerCreate is POST /containers/create?name=NAME; it returns the id.
func (c *Client) ContainerCreate(ctx context.Context, name string, cfg *ContainerConfig) (string, error) {
	var out struct {
		ID string `json:"Id"`
	}
	if err := c.do(ctx, http.MethodPost, "/containers/create", url.Values{"name": {name}}, cfg, &out); err != nil {
		return "", err
	}
	return out.ID, nil
}

// ContainerStart is POST /containers/{id}/start.
func (c *Client) ContainerStart(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodPost, "/containers/"+id+"/start", nil, nil, nil)
}

// ContainerKill is POST /containers/{id}/kill.
func (c *Client) ContainerKill(ctx context.Context, id, signal string) error {
	return c.do(ctx, http.MethodPost, "/containers/"+id+"/kill", url.Values{"signal": {signal}}, nil, nil)
}

// ContainerRemove is DELETE /containers/{id}?force=1 (kills it if running).
func (c *Client) ContainerRemove(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodDelete, "/containers/"+id, url.Values{"force": {"1"}}, nil, nil)
}

// ContainerPID is the host pid of the container's init process, from
// GET /containers/{id}/json; 0 when it is not running.
func (c *Client) ContainerPID(ctx context.Context, id string) (int, error) {
	var out struct {
		State struct {
			Pid int `json:"Pid"`
		} `json:"State"`
	}
	err := c.do(ctx, http.MethodGet, "/containers/"+id+"/json", nil, nil, &out)
	return out.State.Pid, err
}

// ContainerOOMKilled reports whether the kernel's OOM killer killed a
// process of the container (Docker records it when the container exits).
func (c *Client) ContainerOOMKilled(ctx context.Context, id string) (bool, error) {
	var out struct {
		State struct {
			OOMKilled bool `json:"OOMKilled"`
		} `json:"State"`
	}
	err := c.do(ctx, http.MethodGet, "/containers/"+id+"/json", nil, nil, &out)
	return out.State.OOMKilled, err
}

// ContainerSummary is one entry of GET /containers/json.
type ContainerSummary struct {
	ID     string            `json:"Id"`
	Names  []string          `json:"Names"`
	Labels map[string]string `json:"Labels"`
}

// Containers lists every container (running or not) with label (k=v).
func (c *Client) Containers(ctx context.Context, label string) ([]ContainerSummary, error) {
	var out []ContainerSummary
	q := filters("label", label)
	q.Set("all", "1")
	err := c.do(ctx, http.MethodGet, "/containers/json", q, nil, &out)
	return out, err
}

// NetworkCreate is the body of POST /networks/create.
type NetworkCreate struct {
	Name           string            `json:"Name"`
	Driver         string            `json:"Driver"`
	Internal       bool              `json:"Internal"`
	CheckDuplicate bool              `json:"CheckDuplicate"`
	IPAM           IPAM              `json:"IPAM"`
	Options        map[string]string `json:"Options,omitempty"`
	Labels         map[string]string `json:"Labels,omitempty"`
}

type IPAM struct {
	Config []IPAMConfig `json:"Config"`
}

type IPAMConfig struct {
	Subnet  string `json:"Subnet"`
	Gateway string `json:"Gateway"`
}

// NetworkCreate creates a network and returns its id.
func (c *Client) NetworkCreate(ctx context.Context, n *NetworkCreate) (string, error) {
	var out struct {
		ID string `json:"Id"`
	}
	if err := c.do(ctx, http.MethodPost, "/networks/create", nil, n, &out); err != nil {
		return "", err
	}
	return out.ID, nil
}

// NetworkRemove is DELETE /networks/{id}.
func (c *Client) NetworkRemove(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodDelete, "/networks/"+id, nil, nil, nil)
}

// NetworkSummary is one entry of GET /networks.
type NetworkSummary struct {
	ID     string            `json:"Id"`
	Name   string            `json:"Name"`
	Labels map[string]string `json:"Labels"`
}

// Networks lists the networks with label (k=v).
func (c *Client) Networks(ctx context.Context, label string) ([]NetworkSummary, error) {
	var out []NetworkSummary
	err := c.do(ctx, http.MethodGet, "/networks", filters("label", label), nil, &out)
	return out, err
}

// Attach is POST /containers/{id}/attach with stdin, stdout and stderr
// streamed: the connection is taken over ("Upgrade: tcp") and carries the
// container's stdin one way and its multiplexed output the other.
func (c *Client) Attach(ctx context.Context, id string) (*Attached, error) {
	conn, err := c.dial(ctx)
	if err != nil {
		return nil, fmt.Errorf("attach: %w", err)
	}
	// The handshake ends at the context's deadline or cancellation.
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	path := "/v" + c.version + "/containers/" + id + "/attach?stream=1&stdin=1&stdout=1&stderr=1"
	req := "POST " + path + " HTTP/1.1\r\nHost: docker\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: 0\r\n\r\n"
	if _, err := io.WriteString(conn, req); err != nil {
		conn.Close()
		return nil, fmt.Errorf("attach: %w", err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("attach: %w", err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols && resp.StatusCode != http.StatusOK {
		err := decodeError(resp)
		conn.Close()
		return nil, fmt.Errorf("attach: %w", err)
	}
	_ = conn.SetDeadline(time.Time{})
	return &Attached{conn: conn, r: br}, nil
}

// Attached is a container's stdio on one connection.
type Attached struct {
	conn net.Conn
	r    *bufio.Reader
}

func (a *Attached) Write(p []byte) (int, error) { return a.conn.Write(p) }

// Close half-closes the connection: the daemon passes EOF on to the
// container's stdin and keeps streaming its output.
func (a *Attached) Close() error {
	if cw, ok := a.conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// Shutdown closes the whole connection.
func (a *Attached) Shutdown() { a.conn.Close() }

// Demux copies the container's multiplexed output to stdout and stderr
// until it ends: frames of an 8-byte header (stream 1 or 2, three zero
// bytes, big-endian length) and that many bytes.
func (a *Attached) Demux(stdout, stderr io.Writer) error {
	return demux(a.r, stdout, stderr)
}

func demux(r io.Reader, stdout, stderr io.Writer) error {
	var hdr [8]byte
	for {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("attach stream: %w", err)
		}
		var w io.Writer
		switch hdr[0] {
		case 0, 1: // 0: stdin, echoed only with a TTY
			w = stdout
		case 2:
			w = stderr
		case 3: // system error from the daemon
			msg, _ := io.ReadAll(io.LimitReader(r, int64(binary.BigEndian.Uint32(hdr[4:]))))
			return fmt.Errorf("attach stream: daemon error: %s", msg)
		default:
			return fmt.Errorf("attach stream: unknown stream %d", hdr[0])
		}
		if _, err := io.CopyN(w, r, int64(binary.BigEndian.Uint32(hdr[4:]))); err != nil {
			return fmt.Errorf("attach stream: %w", err)
		}
	}
}
