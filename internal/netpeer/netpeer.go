// Package netpeer is both ends of isobench's network measurements: a server
// that runs natively on the host (or, for loopback figures, inside the
// sandbox) and the client the agent drives. One TCP connection carries one
// test, chosen by its first byte; UDP datagrams are echoed.
package netpeer

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

// Test modes, the first byte of a TCP connection.
const (
	modeSink     = 'S' // server reads until EOF, then reports the byte count
	modeGenerate = 'G' // server writes for the requested duration
	modeEcho     = 'E' // server echoes every byte
)

// BufSize is the write size of throughput tests (iperf3's TCP default).
const BufSize = 128 << 10

// Server answers the tests on one TCP and one UDP socket with the same port.
type Server struct {
	tcp    net.Listener
	udp    net.PacketConn
	wg     sync.WaitGroup
	mu     sync.Mutex
	conns  map[net.Conn]bool
	closed bool
}

// Serve listens on host:port (port 0 picks one free for both protocols).
func Serve(host string) (*Server, error) {
	var lastErr error
	for range 10 {
		tcp, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
		if err != nil {
			return nil, fmt.Errorf("netpeer: listen tcp on %s: %w", host, err)
		}
		port := tcp.Addr().(*net.TCPAddr).Port
		udp, err := net.ListenPacket("udp", net.JoinHostPort(host, fmt.Sprint(port)))
		if err != nil {
			tcp.Close()
			lastErr = err
			continue // that UDP port is taken: try another pair
		}
		s := &Server{tcp: tcp, udp: udp, conns: map[net.Conn]bool{}}
		s.wg.Add(2)
		go s.acceptLoop()
		go s.udpEcho()
		return s, nil
	}
	return nil, fmt.Errorf("netpeer: no free port for tcp and udp on %s: %w", host, lastErr)
}

// Addr is host:port of the server.
func (s *Server) Addr() string { return s.tcp.Addr().String() }

// Close stops the server and every connection it serves.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	err := errors.Join(s.tcp.Close(), s.udp.Close())
	s.wg.Wait()
	return err
}

func (s *Server) acceptLoop() {
	defer s.wg.Done()
	for {
		c, err := s.tcp.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			c.Close()
			return
		}
		s.conns[c] = true
		s.mu.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			serveConn(c)
			s.mu.Lock()
			delete(s.conns, c)
			s.mu.Unlock()
			c.Close()
		}()
	}
}

func serveConn(c net.Conn) {
	var mode [1]byte
	if _, err := io.ReadFull(c, mode[:]); err != nil {
		return
	}
	switch mode[0] {
	case modeSink:
		n, _ := io.CopyBuffer(io.Discard, c, make([]byte, BufSize))
		_ = binary.Write(c, binary.BigEndian, n)
	case modeGenerate:
		var d int64
		if binary.Read(c, binary.BigEndian, &d) != nil {
			return
		}
		buf := make([]byte, BufSize)
		end := time.Now().Add(time.Duration(d))
		for time.Now().Before(end) {
			if _, err := c.Write(buf); err != nil {
				return
			}
		}
	case modeEcho:
		buf := make([]byte, 64)
		for {
			n, err := c.Read(buf)
			if err != nil {
				return
			}
			if _, err := c.Write(buf[:n]); err != nil {
				return
			}
		}
	}
}

func (s *Server) udpEcho() {
	defer s.wg.Done()
	buf := make([]byte, 64<<10)
	for {
		n, addr, err := s.udp.ReadFrom(buf)
		if err != nil {
			return
		}
		_, _ = s.udp.WriteTo(buf[:n], addr)
	}
}

// dialTimeout bounds a connection attempt: on a link isobench made, the
// peer answers at once or not at all (a host firewall dropping it).
const dialTimeout = 5 * time.Second

// dial connects for one test that should take about d. The connection
// ends at ctx's cancellation or at d plus a grace period, whichever comes
// first, so that no test can block forever on a silent peer.
func dial(ctx context.Context, addr string, mode byte, d time.Duration) (net.Conn, func(), error) {
	dctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	var dialer net.Dialer
	c, err := dialer.DialContext(dctx, "tcp", addr)
	if err != nil {
		return nil, nil, fmt.Errorf("connect to %s within %s (a host firewall dropping the link's traffic?): %w", addr, dialTimeout, err)
	}
	_ = c.SetDeadline(time.Now().Add(d + 10*time.Second))
	stop := context.AfterFunc(ctx, func() { _ = c.SetDeadline(time.Now()) })
	done := func() { stop(); c.Close() }
	if _, err := c.Write([]byte{mode}); err != nil {
		done()
		return nil, nil, err
	}
	return c, done, nil
}

// Upload sends for d and returns the bytes per second the server received.
func Upload(ctx context.Context, addr string, d time.Duration) (float64, error) {
	c, done, err := dial(ctx, addr, modeSink, d)
	if err != nil {
		return 0, err
	}
	defer done()
	buf := make([]byte, BufSize)
	start := time.Now()
	for time.Since(start) < d {
		if _, err := c.Write(buf); err != nil {
			return 0, fmt.Errorf("upload: %w", err)
		}
	}
	if err := c.(*net.TCPConn).CloseWrite(); err != nil {
		return 0, err
	}
	var got int64
	// The count arrives once the server has read everything: the rate
	// is what crossed the link, not what sat in the send buffer.
	if err := binary.Read(c, binary.BigEndian, &got); err != nil {
		return 0, fmt.Errorf("upload: server count: %w", err)
	}
	return float64(got) / time.Since(start).Seconds(), nil
}

// Download receives for d and returns bytes per second.
func Download(ctx context.Context, addr string, d time.Duration) (float64, error) {
	c, done, err := dial(ctx, addr, modeGenerate, d)
	if err != nil {
		return 0, err
	}
	defer done()
	if err := binary.Write(c, binary.BigEndian, int64(d)); err != nil {
		return 0, err
	}
	start := time.Now()
	n, err := io.CopyBuffer(io.Discard, c, make([]byte, BufSize))
	if err != nil {
		return 0, fmt.Errorf("download: %w", err)
	}
	return float64(n) / time.Since(start).Seconds(), nil
}

// RoundTrips returns the latency of count one-byte request/response pairs.
func RoundTrips(ctx context.Context, addr string, count int) ([]time.Duration, error) {
	// A round trip on these links takes well under a millisecond.
	c, done, err := dial(ctx, addr, modeEcho, time.Duration(count)*time.Millisecond)
	if err != nil {
		return nil, err
	}
	defer done()
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetNoDelay(true)
	}
	out := make([]time.Duration, 0, count)
	b := []byte{1}
	for range count {
		start := time.Now()
		if _, err := c.Write(b); err != nil {
			return nil, fmt.Errorf("round trip: %w", err)
		}
		if _, err := io.ReadFull(c, b); err != nil {
			return nil, fmt.Errorf("round trip: %w", err)
		}
		out = append(out, time.Since(start))
	}
	return out, nil
}

// UDPJitter sends count datagrams of size bytes, one every interval, and
// returns the mean absolute difference between consecutive round-trip
// times (RFC 3550's jitter, computed on round trips since only the agent
// keeps time) and the fraction of datagrams lost.
func UDPJitter(ctx context.Context, addr string, count, size int, interval time.Duration) (jitter time.Duration, loss float64, err error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "udp", addr)
	if err != nil {
		return 0, 0, fmt.Errorf("udp: %w", err)
	}
	defer c.Close()
	buf := make([]byte, size)
	in := make([]byte, size+64)
	var prev time.Duration
	var sum time.Duration
	var n, lost int
	next := time.Now()
	for i := range count {
		if err := ctx.Err(); err != nil {
			return 0, 0, err
		}
		time.Sleep(time.Until(next))
		next = next.Add(interval)
		binary.BigEndian.PutUint32(buf, uint32(i))
		start := time.Now()
		if _, err := c.Write(buf); err != nil {
			return 0, 0, fmt.Errorf("udp send: %w", err)
		}
		_ = c.SetReadDeadline(time.Now().Add(interval + 100*time.Millisecond))
		for {
			m, err := c.Read(in)
			if err != nil {
				lost++
				break
			}
			if m >= 4 && binary.BigEndian.Uint32(in) == uint32(i) {
				rtt := time.Since(start)
				if n > 0 {
					sum += (rtt - prev).Abs()
				}
				prev = rtt
				n++
				break
			} // a late echo of an earlier datagram: keep waiting
		}
	}
	if n < 2 {
		return 0, 1, fmt.Errorf("udp: %d of %d datagrams came back", n, count)
	}
	return sum / time.Duration(n-1), float64(lost) / float64(count), nil
}
