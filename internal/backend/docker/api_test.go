package docker

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/isobench/isobench/internal/backend"
)

// fakeDaemon serves handler on a unix socket and points DOCKER_HOST at it.
func fakeDaemon(t *testing.T, handler http.HandlerFunc) *Client {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "docker.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: handler}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	t.Setenv("DOCKER_HOST", "unix://"+sock)
	t.Setenv("DOCKER_TLS_VERIFY", "")
	c, err := NewClient()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func TestNegotiate(t *testing.T) {
	for _, tc := range []struct {
		daemon, want, wantErr string
	}{
		{"1.41", "1.41", ""},        // Debian 12's docker.io 20.10
		{"1.52", maxAPIVersion, ""}, // newer than this client knows: capped
		{"1.39", "", "needs 1.40"},
		{"", "", "names no API version"},
	} {
		t.Run(tc.daemon, func(t *testing.T) {
			c := fakeDaemon(t, func(w http.ResponseWriter, r *http.Request) {
				if tc.daemon != "" {
					w.Header().Set("API-Version", tc.daemon)
				}
				io.WriteString(w, "OK")
			})
			err := c.Negotiate(t.Context())
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Negotiate = %v, want error containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || c.APIVersion() != tc.want {
				t.Fatalf("Negotiate = %v, version %q, want %q", err, c.APIVersion(), tc.want)
			}
		})
	}
}

// The create request carries the limits and settings under the Engine
// API's own field names, and a daemon error keeps its message.
func TestContainerCreateRequestAndErrors(t *testing.T) {
	var got map[string]any
	var query string
	c := fakeDaemon(t, func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/_ping":
			w.Header().Set("API-Version", "1.41")
		case r.URL.Path == "/v1.41/containers/create":
			query = r.URL.RawQuery
			json.NewDecoder(r.Body).Decode(&got)
			io.WriteString(w, `{"Id":"abc123","Warnings":[]}`)
		default:
			w.WriteHeader(http.StatusNotFound)
			io.WriteString(w, `{"message":"No such container: nope"}`)
		}
	})
	if err := c.Negotiate(t.Context()); err != nil {
		t.Fatal(err)
	}
	b := &Backend{f: flavors[1], api: c, image: "isobench-agent:x", env: backend.Env{RunID: "r1"}}
	spec := backend.Spec{ID: "isobench-r1-0", Limits: backend.Limits{CPUs: 0.5, MemoryBytes: 300 << 20}, Scratch: "/var/tmp/s"}
	id, err := c.ContainerCreate(t.Context(), spec.ID, b.containerConfig(spec, nil))
	if err != nil || id != "abc123" {
		t.Fatalf("ContainerCreate = %q, %v", id, err)
	}
	if query != "name=isobench-r1-0" {
		t.Errorf("query %q, want the sandbox id as the container name", query)
	}
	hc, _ := got["HostConfig"].(map[string]any)
	for k, want := range map[string]any{"CpuPeriod": 100000.0, "CpuQuota": 50000.0, "Memory": float64(300 << 20), "Runtime": "runsc", "NetworkMode": "none", "ReadonlyRootfs": true} {
		if hc[k] != want {
			t.Errorf("HostConfig.%s = %v, want %v", k, hc[k], want)
		}
	}
	if binds, _ := hc["Binds"].([]any); len(binds) != 1 || binds[0] != "/var/tmp/s:/scratch:rw" {
		t.Errorf("Binds = %v, want the scratch volume at /scratch", hc["Binds"])
	}
	if got["OpenStdin"] != true || got["StdinOnce"] != true || got["Image"] != "isobench-agent:x" {
		t.Errorf("config %v: want stdin open once and the agent image", got)
	}
	err = c.ContainerRemove(t.Context(), "nope")
	if !IsNotFound(err) || !strings.Contains(err.Error(), "No such container: nope") {
		t.Errorf("ContainerRemove of a missing container: %v, want a not-found error with the daemon's message", err)
	}
}

func frame(stream byte, s string) []byte {
	h := make([]byte, 8, 8+len(s))
	h[0] = stream
	binary.BigEndian.PutUint32(h[4:], uint32(len(s)))
	return append(h, s...)
}

func TestDemux(t *testing.T) {
	for _, tc := range []struct {
		name            string
		in              []byte
		stdout, stderr  string
		wantErrContains string
	}{
		{"both streams", bytes.Join([][]byte{frame(1, "@isobench1 {}\n"), frame(2, "warn\n"), frame(1, "more")}, nil), "@isobench1 {}\nmore", "warn\n", ""},
		{"empty", nil, "", "", ""},
		{"daemon error", append(frame(1, "a"), frame(3, "exec failed")...), "a", "", "daemon error: exec failed"},
		{"cut mid-frame", frame(1, "abcdef")[:10], "", "", "attach stream"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			err := demux(bytes.NewReader(tc.in), &out, &errOut)
			if tc.wantErrContains == "" && err != nil || tc.wantErrContains != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErrContains)) {
				t.Fatalf("demux error = %v, want %q", err, tc.wantErrContains)
			}
			if tc.wantErrContains == "" && (out.String() != tc.stdout || errOut.String() != tc.stderr) {
				t.Errorf("stdout %q stderr %q, want %q %q", out.String(), errOut.String(), tc.stdout, tc.stderr)
			}
		})
	}
}
