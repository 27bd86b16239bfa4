package vmm

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/isobench/isobench/internal/backend"
)

// APIClient speaks JSON over HTTP/1.1 on a VMM's unix socket, the
// transport of Firecracker's and Cloud Hypervisor's REST APIs. It is the
// thin layer both typed clients share; neither project publishes a Go
// module we can use.
type APIClient struct {
	socket string
	http   *http.Client
}

// NewAPIClient talks to the API socket at path.
func NewAPIClient(path string) *APIClient {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		},
		DisableCompression: true,
		MaxIdleConns:       1,
	}
	return &APIClient{socket: path, http: &http.Client{Transport: tr}}
}

// APIError is a request the VMM refused.
type APIError struct {
	Method, Path string
	Status       int
	Message      string // the VMM's fault message, or its response body
}

func (e *APIError) Error() string {
	return fmt.Sprintf("%s %s: HTTP %d: %s", e.Method, e.Path, e.Status, e.Message)
}

// Do sends body (nil for none) as JSON and decodes a JSON answer into out
// (nil to ignore it). Any 2xx status is success.
func (c *APIClient) Do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("%s %s: encode: %w", method, path, err)
		}
		rd = bytes.NewReader(b)
	}
	// The host part is ignored: the transport always dials the socket.
	req, err := http.NewRequestWithContext(ctx, method, "http://localhost"+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s on %s: %w", method, path, c.socket, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("%s %s: read answer: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		return &APIError{Method: method, Path: path, Status: resp.StatusCode, Message: faultMessage(data)}
	}
	if out != nil && len(bytes.TrimSpace(data)) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("%s %s: decode answer: %w", method, path, err)
		}
	}
	return nil
}

// faultMessage extracts Firecracker's {"fault_message": ...}; other
// bodies (Cloud Hypervisor answers errors in text) are quoted as they are.
func faultMessage(body []byte) string {
	var fault struct {
		FaultMessage string `json:"fault_message"`
	}
	if json.Unmarshal(body, &fault) == nil && fault.FaultMessage != "" {
		return fault.FaultMessage
	}
	s := strings.TrimSpace(string(body))
	if s == "" {
		return "(no message)"
	}
	return s
}

// Close drops idle connections.
func (c *APIClient) Close() { c.http.CloseIdleConnections() }

// WaitForSocket polls until a unix socket at path accepts connections, or
// the VMM process ends (exited), or ctx ends.
func WaitForSocket(ctx context.Context, path string, exited <-chan struct{}) error {
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for {
		c, err := net.Dial("unix", path)
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("API socket %s: %w (last: %v)", path, context.Cause(ctx), err)
		case <-exited:
			return errors.New("the VMM exited before its API socket answered")
		case <-tick.C:
		}
	}
}

// maxSocketPath keeps unix socket paths within sun_path (108 bytes).
const maxSocketPath = 100

// SocketPath names a sandbox's VMM socket in dir, or, when that path is too
// long for a unix socket, a hashed name in the temp dir.
func SocketPath(dir, id, suffix string) string {
	p := filepath.Join(dir, id+"."+suffix)
	if len(p) > maxSocketPath {
		p = filepath.Join(os.TempDir(), fmt.Sprintf("isobench-%08x.%s", backend.Hash32(p), suffix))
	}
	return p
}
