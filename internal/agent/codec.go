package agent

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
)

// maxLine bounds one frame; a longer line is noise or a broken agent. A
// job request carries its files (≤ 4 MiB, base64) and a result its log.
const maxLine = 8 << 20

// FrameWriter writes prefixed frames; safe for concurrent use.
type FrameWriter struct {
	mu sync.Mutex
	w  io.Writer
}

// NewFrameWriter returns a FrameWriter over w.
func NewFrameWriter(w io.Writer) *FrameWriter { return &FrameWriter{w: w} }

// Write sends one frame as a single write so that it is never interleaved.
func (fw *FrameWriter) Write(f Frame) error {
	f.V = ProtocolVersion
	body, err := json.Marshal(f)
	if err != nil {
		return fmt.Errorf("encode %s frame: %w", f.Type, err)
	}
	line := make([]byte, 0, len(FramePrefix)+len(body)+1)
	line = append(append(append(line, FramePrefix...), body...), '\n')
	fw.mu.Lock()
	defer fw.mu.Unlock()
	if _, err := fw.w.Write(line); err != nil {
		return fmt.Errorf("write %s frame: %w", f.Type, err)
	}
	return nil
}

// FrameReader reads frames and keeps the last noise lines for diagnostics.
type FrameReader struct {
	sc    *bufio.Scanner
	mu    sync.Mutex // guards noise: read for error messages while Next runs
	noise []string
}

const keepNoise = 20

// NewFrameReader returns a FrameReader over r.
func NewFrameReader(r io.Reader) *FrameReader {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), maxLine)
	return &FrameReader{sc: sc}
}

// ErrProtocol marks a frame that could not be understood.
var ErrProtocol = errors.New("agent protocol error")

// Next returns the next frame, skipping lines without the prefix.
// It returns io.EOF when the stream ends.
func (fr *FrameReader) Next() (Frame, error) {
	for fr.sc.Scan() {
		line := fr.sc.Bytes()
		// A serial console may put \r or kernel text before the prefix.
		i := bytes.Index(line, []byte(FramePrefix))
		if i < 0 {
			fr.addNoise(string(line))
			continue
		}
		var f Frame
		if err := json.Unmarshal(line[i+len(FramePrefix):], &f); err != nil {
			return Frame{}, fmt.Errorf("%w: bad frame %q: %v", ErrProtocol, truncate(string(line), 200), err)
		}
		if f.V != ProtocolVersion {
			return Frame{}, fmt.Errorf("%w: agent speaks protocol v%d, host v%d (agent binary from another isobench version?)", ErrProtocol, f.V, ProtocolVersion)
		}
		return f, nil
	}
	if err := fr.sc.Err(); err != nil {
		return Frame{}, fmt.Errorf("read agent output: %w", err)
	}
	return Frame{}, io.EOF
}

// Noise returns the last lines seen that were not frames.
func (fr *FrameReader) Noise() string {
	fr.mu.Lock()
	defer fr.mu.Unlock()
	return strings.Join(fr.noise, "\n")
}

func (fr *FrameReader) addNoise(s string) {
	s = strings.TrimSpace(s)
	if s == "" {
		return
	}
	fr.mu.Lock()
	defer fr.mu.Unlock()
	if len(fr.noise) == keepNoise {
		fr.noise = fr.noise[1:]
	}
	fr.noise = append(fr.noise, truncate(s, 300))
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// EncodeRequest renders one host→agent line.
func EncodeRequest(r Request) ([]byte, error) {
	r.V = ProtocolVersion
	b, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("encode request: %w", err)
	}
	return append(b, '\n'), nil
}
