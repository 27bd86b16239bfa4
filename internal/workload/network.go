package workload

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/isobench/isobench/internal/metric"
	"github.com/isobench/isobench/internal/netpeer"
)

// Network is the network workload's ID.
const Network ID = "network"

// PeerParam and NoPeerParam are set by the host for each sample: the
// address of the native peer on the backend's link, or why there is none.
const (
	PeerParam   = "peer"
	NoPeerParam = "no_peer_reason"
)

func networkSpec() Spec {
	return Spec{
		ID:          Network,
		Description: "TCP throughput both ways, TCP round trips and UDP jitter to a native peer on the host over the backend's own link; TCP over the sandbox's loopback",
		Params: []Param{
			{Name: PeerParam, Default: "", Help: "host:port of the native peer (set by the host)"},
			{Name: NoPeerParam, Default: "this backend gives the sandbox no link to the host", Help: "why there is no peer (set by the host)"},
			{Name: "duration", Default: "3s", Quick: "500ms", Help: "time per throughput measurement"},
			{Name: "round_trips", Default: "2000", Quick: "300", Help: "TCP request/response pairs"},
			{Name: "udp_packets", Default: "500", Quick: "100", Help: "UDP datagrams (1200 bytes, one per millisecond)"},
		},
		Metrics: []metric.Name{metric.NetTCPUp, metric.NetTCPDown, metric.NetTCPRTTP50, metric.NetTCPRTTP99,
			metric.NetUDPJitter, metric.NetLoopbackTCP, metric.NetLoopbackRTTP50},
		Parse: func(p Params) (Runner, error) {
			if err := checkPeer(p.String(PeerParam)); err != nil {
				return nil, err
			}
			w := NetBench{Peer: p.String(PeerParam), NoPeer: p.String(NoPeerParam), Duration: p.Duration("duration", 10*time.Millisecond),
				RoundTrips: int(p.Int("round_trips", 10)), UDPPackets: int(p.Int("udp_packets", 3))}
			return w, p.Err()
		},
	}
}

// peerRange is where isobench assigns link addresses (see the OCI backend).
var peerRange = netip.MustParsePrefix("169.254.64.0/18")

// checkPeer refuses any peer but loopback or an address isobench assigns
// on links it creates: the workload never sends traffic anywhere else.
func checkPeer(peer string) error {
	if peer == "" {
		return nil
	}
	ap, err := netip.ParseAddrPort(peer)
	if err != nil {
		return fmt.Errorf("network: parameter %s=%q: want IP:port", PeerParam, peer)
	}
	if a := ap.Addr(); !a.IsLoopback() && !peerRange.Contains(a) {
		return fmt.Errorf("network: parameter %s=%q: only loopback or isobench's link range %s may be a target", PeerParam, peer, peerRange)
	}
	return nil
}

// NetBench measures the sandbox's network path.
type NetBench struct {
	Peer       string
	NoPeer     string
	Duration   time.Duration
	RoundTrips int
	UDPPackets int
}

func (w NetBench) Run(ctx context.Context) (Output, error) {
	var out Output
	if w.Peer == "" {
		for _, n := range []metric.Name{metric.NetTCPUp, metric.NetTCPDown, metric.NetTCPRTTP50, metric.NetTCPRTTP99, metric.NetUDPJitter} {
			out.skip(n, w.NoPeer)
		}
	} else if err := w.peerTests(ctx, w.Peer, &out, true); err != nil {
		return out, err
	}
	srv, err := netpeer.Serve("127.0.0.1")
	if err != nil {
		reason := fmt.Sprintf("no loopback in this sandbox: %v", err)
		out.skip(metric.NetLoopbackTCP, reason)
		out.skip(metric.NetLoopbackRTTP50, reason)
		return out, nil
	}
	defer srv.Close()
	if err := w.peerTests(ctx, srv.Addr(), &out, false); err != nil {
		return out, fmt.Errorf("loopback: %w", err)
	}
	return out, nil
}

func (w NetBench) peerTests(ctx context.Context, addr string, out *Output, host bool) error {
	up, err := netpeer.Upload(ctx, addr, w.Duration)
	if err != nil {
		return fmt.Errorf("network: %w", err)
	}
	rtts, err := netpeer.RoundTrips(ctx, addr, w.RoundTrips)
	if err != nil {
		return fmt.Errorf("network: %w", err)
	}
	slices.Sort(rtts)
	p50 := rtts[len(rtts)/2].Seconds()
	if !host {
		out.add(metric.NetLoopbackTCP, metric.BytesPerSec, up)
		out.add(metric.NetLoopbackRTTP50, metric.Seconds, p50)
		return nil
	}
	down, err := netpeer.Download(ctx, addr, w.Duration)
	if err != nil {
		return fmt.Errorf("network: %w", err)
	}
	if jitter, _, err := netpeer.UDPJitter(ctx, addr, w.UDPPackets, 1200, time.Millisecond); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		out.skip(metric.NetUDPJitter, err.Error()) // the TCP figures still stand
	} else {
		out.add(metric.NetUDPJitter, metric.Seconds, jitter.Seconds())
	}
	out.add(metric.NetTCPUp, metric.BytesPerSec, up)
	out.add(metric.NetTCPDown, metric.BytesPerSec, down)
	out.add(metric.NetTCPRTTP50, metric.Seconds, p50)
	out.add(metric.NetTCPRTTP99, metric.Seconds, rtts[min(len(rtts)-1, len(rtts)*99/100)].Seconds())
	return nil
}
