package agent

import (
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// runAgent feeds requests to Main and returns the frames it wrote.
func runAgent(t *testing.T, ctx context.Context, requests ...Request) []Frame {
	t.Helper()
	var in bytes.Buffer
	for _, r := range requests {
		b, err := EncodeRequest(r)
		if err != nil {
			t.Fatal(err)
		}
		in.Write(b)
	}
	var out bytes.Buffer
	if err := Main(ctx, time.Now(), &in, &out); err != nil {
		t.Fatalf("Main: %v", err)
	}
	fr := NewFrameReader(&out)
	var frames []Frame
	for {
		f, err := fr.Next()
		if err == io.EOF {
			return frames
		}
		if err != nil {
			t.Fatal(err)
		}
		frames = append(frames, f)
	}
}

func TestAgentReadyRunExit(t *testing.T) {
	frames := runAgent(t, context.Background(),
		Request{Op: OpRun, Workload: "noop"},
		Request{Op: OpRun, Workload: "nope"},
		Request{Op: OpRun, Workload: "sleep", Params: map[string]string{"duration": "1ms"}},
		Request{Op: OpRun, Workload: "noop"},
		Request{Op: OpExit},
		Request{Op: OpRun, Workload: "noop"}, // after exit: never answered
	)
	var types []FrameType
	for _, f := range frames {
		types = append(types, f.Type)
	}
	// The exit request may cancel the last noop before its frame is written.
	if len(types) == 5 {
		types = types[:4]
	}
	want := []FrameType{FrameReady, FrameResult, FrameError, FrameResult}
	if len(types) != len(want) {
		t.Fatalf("frames %v, want %v", types, want)
	}
	for i := range want {
		if types[i] != want[i] {
			t.Fatalf("frames %v, want %v", types, want)
		}
	}
	r := frames[0].Ready
	if r.PID == 0 || r.StartToReadyNano < 0 || r.ReadyUnixNano < r.StartUnixNano || r.NumCPU < 1 {
		t.Fatalf("implausible ready frame %+v", r)
	}
	if !strings.Contains(frames[2].Error, `unknown workload "nope"`) {
		t.Fatalf("error frame %q does not name the workload", frames[2].Error)
	}
	if res := frames[3].Result; res.Workload != "sleep" || res.EndUnixNano-res.StartUnixNano < int64(time.Millisecond) {
		t.Fatalf("sleep result %+v", res)
	}
}

// The agent's own context ends (SIGTERM): the workload stops and its error
// is reported while the host is still listening.
func TestAgentSleepStopsOnCancel(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	inR, inW := io.Pipe()
	defer inW.Close()
	var out syncBuffer
	done := make(chan error, 1)
	go func() { done <- Main(ctx, time.Now(), inR, &out) }()
	b, _ := EncodeRequest(Request{Op: OpRun, Workload: "sleep"})
	if _, err := inW.Write(b); err != nil {
		t.Fatal(err)
	}
	deadline := time.After(5 * time.Second)
	for !strings.Contains(out.String(), `"type":"error"`) {
		select {
		case <-deadline:
			t.Fatalf("sleep ignored cancellation; output:\n%s", out.String())
		case <-time.After(5 * time.Millisecond):
		}
	}
	inW.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// The host closes the agent's input (it died or gave up): a running
// workload is cancelled and the agent exits.
func TestEndOfInputCancelsRunningWorkload(t *testing.T) {
	inR, inW := io.Pipe()
	done := make(chan error, 1)
	go func() { done <- Main(context.Background(), time.Now(), inR, io.Discard) }()
	b, _ := EncodeRequest(Request{Op: OpRun, Workload: "sleep"})
	if _, err := inW.Write(b); err != nil {
		t.Fatal(err)
	}
	inW.Close()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("agent kept running after its input ended")
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestFrameReaderSkipsNoise(t *testing.T) {
	var buf bytes.Buffer
	buf.WriteString("[    0.123] Linux version 6.1\r\n")
	fw := NewFrameWriter(&buf)
	_ = fw.Write(Frame{Type: FrameReady, Ready: &Ready{PID: 1}})
	buf.WriteString("random console text\n")
	buf.WriteString("\x1b[0m" + FramePrefix + `{"v":1,"type":"error","error":"x"}` + "\r\n")
	fr := NewFrameReader(&buf)
	f1, err := fr.Next()
	if err != nil || f1.Type != FrameReady || f1.Ready.PID != 1 {
		t.Fatalf("first frame %+v, %v", f1, err)
	}
	f2, err := fr.Next()
	if err != nil || f2.Type != FrameError || f2.Error != "x" {
		t.Fatalf("second frame %+v, %v (a frame after console bytes must still parse)", f2, err)
	}
	if _, err := fr.Next(); err != io.EOF {
		t.Fatalf("want EOF, got %v", err)
	}
	if n := fr.Noise(); !strings.Contains(n, "Linux version") || !strings.Contains(n, "random console text") {
		t.Fatalf("noise %q lost lines", n)
	}
}

func TestFrameReaderRejectsOtherVersion(t *testing.T) {
	fr := NewFrameReader(strings.NewReader(FramePrefix + `{"v":2,"type":"ready"}` + "\n"))
	if _, err := fr.Next(); err == nil || !strings.Contains(err.Error(), "protocol v2") {
		t.Fatalf("err = %v, want a protocol version error", err)
	}
}

func TestExitCancelsRunningWorkload(t *testing.T) {
	inR, inW := io.Pipe()
	var out bytes.Buffer
	done := make(chan error, 1)
	go func() { done <- Main(context.Background(), time.Now(), inR, &out) }()
	for _, r := range []Request{{Op: OpRun, Workload: "sleep"}, {Op: OpExit}} {
		b, _ := EncodeRequest(r)
		if _, err := inW.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("exit did not stop a running sleep")
	}
	if n := strings.Count(out.String(), FramePrefix); n != 1 {
		t.Fatalf("%d frames, want only ready:\n%s", n, out.String())
	}
}

// A guest finds its disks by ext4 label; the label is read from the
// superblock of a real mkfs.ext4 image.
func TestExt4Label(t *testing.T) {
	mkfs, err := exec.LookPath("mkfs.ext4")
	if err != nil {
		t.Skip("mkfs.ext4 not installed (e2fsprogs)")
	}
	img := filepath.Join(t.TempDir(), "disk.ext4")
	if err := os.WriteFile(img, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(img, 8<<20); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(mkfs, "-q", "-F", "-L", "isobench-image", img).CombinedOutput(); err != nil {
		t.Fatalf("mkfs.ext4: %v: %s", err, out)
	}
	if got := ext4Label(img); got != "isobench-image" {
		t.Errorf("label %q", got)
	}
	plain := filepath.Join(t.TempDir(), "plain")
	if err := os.WriteFile(plain, make([]byte, 4096), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := ext4Label(plain); got != "" {
		t.Errorf("a file without a superblock has label %q", got)
	}
}
