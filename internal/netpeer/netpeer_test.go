package netpeer

import (
	"context"
	"net"
	"testing"
	"time"
)

func TestLoopback(t *testing.T) {
	s, err := Serve("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	up, err := Upload(ctx, s.Addr(), 100*time.Millisecond)
	if err != nil || up < 1e6 {
		t.Fatalf("upload %v B/s, %v", up, err)
	}
	down, err := Download(ctx, s.Addr(), 100*time.Millisecond)
	if err != nil || down < 1e6 {
		t.Fatalf("download %v B/s, %v", down, err)
	}
	rtts, err := RoundTrips(ctx, s.Addr(), 50)
	if err != nil || len(rtts) != 50 {
		t.Fatalf("round trips %d, %v", len(rtts), err)
	}
	for _, r := range rtts {
		if r <= 0 || r > time.Second {
			t.Fatalf("implausible round trip %v", r)
		}
	}
	jitter, loss, err := UDPJitter(ctx, s.Addr(), 30, 1200, time.Millisecond)
	if err != nil || jitter < 0 || loss != 0 {
		t.Fatalf("udp jitter %v loss %v: %v", jitter, loss, err)
	}
}

func TestCloseEndsOpenConnections(t *testing.T) {
	s, err := Serve("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, hangUp, err := dial(ctx, s.Addr(), modeEcho, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer hangUp()
	done := make(chan error, 1)
	go func() { done <- s.Close() }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close waited for a client that never hung up")
	}
	if _, err := Upload(ctx, s.Addr(), time.Millisecond); err == nil {
		t.Fatal("server still answers after Close")
	}
}

// A peer that accepts but never answers must not hang the client.
func TestSilentPeerTimesOutWithContext(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close() // hold it open, say nothing
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := RoundTrips(ctx, l.Addr().String(), 10); err == nil {
		t.Fatal("round trips to a silent peer succeeded")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("took %v to give up", d)
	}
}
