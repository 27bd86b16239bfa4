package grader

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/isobench/isobench/internal/backend"
	_ "github.com/isobench/isobench/internal/backend/docker"
	_ "github.com/isobench/isobench/internal/backend/oci"
	_ "github.com/isobench/isobench/internal/backend/process"
	_ "github.com/isobench/isobench/internal/backend/qemu"
	"github.com/isobench/isobench/internal/testutil"
)

var agentPath string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "isobench-grader-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	agentPath, err = testutil.BuildIsobench(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

const testToken = "test-token-0123456789abcdef"

// testBackend constructs one backend with the job image, or skips with
// the reason it is unavailable here.
func testBackend(t *testing.T, name backend.Name) (backend.Backend, string) {
	t.Helper()
	testutil.RequireRoot(t)
	work := t.TempDir()
	image := filepath.Join(work, "image")
	if err := PrepareImage(image); err != nil {
		t.Fatal(err)
	}
	runID := fmt.Sprintf("gt%06x", time.Now().UnixNano()&0xffffff)
	env := backend.Env{AgentPath: agentPath, WorkDir: filepath.Join(work, "run"), RunID: runID, ProbeTimeout: 20 * time.Second, Image: image, Accel: backend.AccelAuto}
	if err := os.MkdirAll(env.WorkDir, 0o700); err != nil {
		t.Fatal(err)
	}
	dets, err := backend.Detect(context.Background(), env, []backend.Name{name})
	if err != nil {
		t.Fatal(err)
	}
	d := dets[0]
	if !d.Available() {
		reason, fix := backend.Explain(d.Err)
		if slices.Contains(strings.Split(os.Getenv("ISOBENCH_REQUIRE_BACKENDS"), ","), string(name)) {
			t.Fatalf("%s is required (ISOBENCH_REQUIRE_BACKENDS) but unavailable: %s (fix: %s)", name, reason, fix)
		}
		t.Skipf("%s unavailable: %s (fix: %s)", name, reason, fix)
	}
	t.Cleanup(func() {
		if sw, ok := d.Backend.(backend.Sweeper); ok {
			if ids, err := sw.Sweep(context.Background()); err != nil || len(ids) > 0 {
				t.Errorf("%s: sweep found leftovers %v (err %v)", name, ids, err)
			}
		}
	})
	return d.Backend, backend.IDPrefix + runID
}

func testLimits() JobLimits {
	return JobLimits{Sandbox: backend.Limits{CPUs: 1, MemoryBytes: 256 << 20, Pids: 512}, Timeout: 20 * time.Second, OutputLimit: 16 << 10}
}

func startService(t *testing.T, b backend.Backend, prefix, db string, mode Mode) (*Service, *client) {
	t.Helper()
	svc, err := Start(context.Background(), Config{Backend: b, DB: db, Listen: "127.0.0.1:0", Token: testToken, Workers: 2, Mode: mode,
		Limits: testLimits(), MaxUpload: 64 << 10, SandboxPrefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := svc.Stop(context.Background()); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
	return svc, &client{base: "http://" + svc.Addr(), token: testToken, http: &http.Client{Timeout: 2 * time.Minute}}
}

// raw sends a request and returns status and body, for error cases.
func raw(t *testing.T, c *client, method, path, ctype, token string, body []byte) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, c.base+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func submitAndWait(t *testing.T, c *client, req submitRequest) *Submission {
	t.Helper()
	var sub Submission
	if err := c.do(context.Background(), "POST", "/v1/submissions", req, &sub); err != nil {
		t.Fatalf("submit: %v", err)
	}
	deadline := time.Now().Add(3 * time.Minute)
	for sub.Status != StatusDone {
		if time.Now().After(deadline) {
			t.Fatalf("submission %s not done after 3 minutes: %+v", sub.ID, sub)
		}
		if err := c.do(context.Background(), "GET", "/v1/submissions/"+sub.ID+"?wait=30s", nil, &sub); err != nil {
			t.Fatal(err)
		}
	}
	return &sub
}

func getLog(t *testing.T, c *client, id string) string {
	t.Helper()
	var b bytes.Buffer
	if err := c.do(context.Background(), "GET", "/v1/submissions/"+id+"/log", nil, &b); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// TestAPI checks the API's answers, with SQLite and with PostgreSQL.
func TestAPI(t *testing.T) {
	b, prefix := testBackend(t, "process")
	dbs := map[string]string{"sqlite": filepath.Join(t.TempDir(), "grader.db")}
	if dsn, reason := testPostgres(t); dsn != "" {
		dbs["postgres"] = dsn
	} else {
		t.Logf("PostgreSQL part not run: %s", reason)
	}
	for name, db := range dbs {
		t.Run(name, func(t *testing.T) { testAPI(t, b, prefix+"-"+name[:2], db) })
	}
}

func testAPI(t *testing.T, b backend.Backend, prefix, db string) {
	_, c := startService(t, b, prefix, db, ModeCold)
	good, _ := json.Marshal(submitRequest{Command: "sh t.sh", Files: map[string]string{"t.sh": "echo hello; exit 0"}})
	big := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{'x'}, 100<<10))
	traversal := tarWith(t, "../evil", "x")
	symlink := tarSymlink(t)

	cases := []struct {
		name, method, path, ctype, token string
		body                             []byte
		status                           int
		want                             string
	}{
		{"no token", "POST", "/v1/submissions", "application/json", "", good, 401, "missing bearer token"},
		{"wrong token", "POST", "/v1/submissions", "application/json", "nope", good, 401, "wrong token"},
		{"wrong token on read", "GET", "/v1/submissions", "", "nope", nil, 401, "wrong token"},
		{"malformed json", "POST", "/v1/submissions", "application/json", testToken, []byte(`{"command":`), 400, "not a valid submission"},
		{"unknown field", "POST", "/v1/submissions", "application/json", testToken, []byte(`{"command":"x","colour":1}`), 400, "unknown field"},
		{"no command", "POST", "/v1/submissions", "application/json", testToken, []byte(`{"files":{"a":"b"}}`), 400, "command"},
		{"wrong content type", "POST", "/v1/submissions", "text/plain", testToken, []byte("x"), 415, "application/json"},
		{"files and archive", "POST", "/v1/submissions", "application/json", testToken, []byte(`{"command":"x","files":{"a":"b"},"archive":"AA=="}`), 400, "not both"},
		{"archive not base64", "POST", "/v1/submissions", "application/json", testToken, []byte(`{"command":"x","archive":"%%%"}`), 400, "not base64"},
		{"archive not gzip", "POST", "/v1/submissions", "application/json", testToken, []byte(`{"command":"x","archive":"` + base64.StdEncoding.EncodeToString([]byte("plain")) + `"}`), 400, "not gzip"},
		{"path traversal", "POST", "/v1/submissions", "application/json", testToken, []byte(`{"command":"x","archive":"` + base64.StdEncoding.EncodeToString(traversal) + `"}`), 400, "leaves the job directory"},
		{"symlink", "POST", "/v1/submissions", "application/json", testToken, []byte(`{"command":"x","archive":"` + base64.StdEncoding.EncodeToString(symlink) + `"}`), 400, "only regular files"},
		{"oversized", "POST", "/v1/submissions", "application/json", testToken, []byte(`{"command":"x","archive":"` + big + `"}`), 413, "--max-upload"},
		{"timeout too long", "POST", "/v1/submissions", "application/json", testToken, []byte(`{"command":"x","timeout_s":3600}`), 400, "timeout_s"},
		{"unknown id", "GET", "/v1/submissions/0123456789abcdef01234567", "", testToken, nil, 404, "no submission"},
		{"malformed id", "GET", "/v1/submissions/..%2f", "", testToken, nil, 404, "no submission"},
		{"unknown id log", "GET", "/v1/submissions/0123456789abcdef01234567/log", "", testToken, nil, 404, "no submission"},
		{"bad wait", "GET", "/v1/submissions/0123456789abcdef01234567?wait=2h", "", testToken, nil, 400, "wait"},
		{"bad status filter", "GET", "/v1/submissions?status=lost", "", testToken, nil, 400, "status"},
		{"bad limit", "GET", "/v1/submissions?limit=0", "", testToken, nil, 400, "limit"},
		{"unknown after", "GET", "/v1/submissions?after=0123456789abcdef01234567", "", testToken, nil, 400, "after"},
		{"file and directory", "POST", "/v1/submissions", "application/json", testToken, []byte(`{"command":"x","files":{"a":"1","a/b":"2"}}`), 400, "is a file and also the directory"},
		{"multipart unknown field", "POST", "/v1/submissions", formType, testToken, form([2]string{"command", "x"}, [2]string{"timeout", "5"}), 400, "unknown form field"},
		{"multipart archive as text", "POST", "/v1/submissions", formType, testToken, form([2]string{"command", "x"}, [2]string{"archive", "sub.tar.gz"}), 400, "must be a file upload"},
		{"multipart command twice", "POST", "/v1/submissions", formType, testToken, form([2]string{"command", "x"}, [2]string{"command", "y"}), 400, "given 2 times"},
		{"query parameter on submit", "POST", "/v1/submissions?command=true", "application/json", testToken, []byte(`{"command":"true"}`), 400, "takes no URL parameters"},
		{"unknown endpoint", "GET", "/v2/things", "", testToken, nil, 404, "no such endpoint"},
		{"health needs no token", "GET", "/healthz", "", "", nil, 200, `"status": "ok"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, body := raw(t, c, tc.method, tc.path, tc.ctype, tc.token, tc.body)
			if status != tc.status || !strings.Contains(body, tc.want) {
				t.Errorf("%s %s: got %d %s; want %d containing %q", tc.method, tc.path, status, body, tc.status, tc.want)
			}
		})
	}

	passed := submitAndWait(t, c, submitRequest{Command: "sh t.sh", Files: map[string]string{"t.sh": "echo hello from the tests; exit 0"}})
	if passed.Verdict != VerdictPassed || passed.ExitCode == nil || *passed.ExitCode != 0 || passed.Phases == nil {
		t.Errorf("passing job: %+v", passed)
	}
	if log := getLog(t, c, passed.ID); !strings.Contains(log, "hello from the tests") {
		t.Errorf("log %q lacks the job's output", log)
	}
	// NUL bytes and invalid UTF-8 in the output are stored (PostgreSQL's
	// text refuses both as they are).
	binary := submitAndWait(t, c, submitRequest{Command: `printf 'a\000b\377c'`})
	if binary.Verdict != VerdictPassed || !strings.Contains(getLog(t, c, binary.ID), "a\uFFFDb") {
		t.Errorf("job with binary output: %+v", binary)
	}
	failed := submitAndWait(t, c, submitRequest{Command: "echo 1 test failed >&2; exit 3"})
	if failed.Verdict != VerdictFailed || *failed.ExitCode != 3 {
		t.Errorf("failing job: %+v", failed)
	}

	// The multipart form (curl -F) is the other way in.
	var form bytes.Buffer
	mw := multipart.NewWriter(&form)
	_ = mw.WriteField("command", "cat a.txt")
	fw, _ := mw.CreateFormFile("archive", "sub.tar.gz")
	fw.Write(tarWith(t, "a.txt", "multipart works"))
	mw.Close()
	status, body := raw(t, c, "POST", "/v1/submissions", mw.FormDataContentType(), testToken, form.Bytes())
	if status != 201 {
		t.Fatalf("multipart submit: %d %s", status, body)
	}
	var sub Submission
	_ = json.Unmarshal([]byte(body), &sub)
	if s := waitDone(t, c, sub.ID); s.Verdict != VerdictPassed || !strings.Contains(getLog(t, c, s.ID), "multipart works") {
		t.Errorf("multipart job: %+v", s)
	}

	// Listing pages through everything in submission order.
	var page struct {
		Submissions []Submission `json:"submissions"`
		Next        string       `json:"next"`
	}
	if err := c.do(context.Background(), "GET", "/v1/submissions?limit=2", nil, &page); err != nil {
		t.Fatal(err)
	}
	if len(page.Submissions) != 2 || page.Submissions[0].ID != passed.ID || page.Submissions[1].ID != binary.ID || page.Next == "" {
		t.Fatalf("first page: %+v", page)
	}
	if err := c.do(context.Background(), "GET", "/v1/submissions?limit=2&after="+page.Next, nil, &page); err != nil {
		t.Fatal(err)
	}
	if len(page.Submissions) != 2 || page.Submissions[1].ID != sub.ID {
		t.Errorf("second page: %+v", page)
	}
}

const formBoundary = "isobench-test-boundary"

var formType = "multipart/form-data; boundary=" + formBoundary

// form encodes text fields as multipart/form-data.
func form(fields ...[2]string) []byte {
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	_ = mw.SetBoundary(formBoundary)
	for _, f := range fields {
		_ = mw.WriteField(f[0], f[1])
	}
	mw.Close()
	return b.Bytes()
}

func waitDone(t *testing.T, c *client, id string) *Submission {
	t.Helper()
	var sub Submission
	for sub.Status != StatusDone {
		if err := c.do(context.Background(), "GET", "/v1/submissions/"+id+"?wait=30s", nil, &sub); err != nil {
			t.Fatal(err)
		}
	}
	return &sub
}

func tarWith(t *testing.T, name, content string) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := writeTarGz(&buf, name, '0', content); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func tarSymlink(t *testing.T) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := writeTarGz(&buf, "passwd", '2', "/etc/passwd"); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
