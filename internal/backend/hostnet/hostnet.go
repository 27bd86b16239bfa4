// Package hostnet allocates the addresses of the links isobench makes
// between the host and a sandbox (a veth pair for containers, a tap device
// for VMs) and drives iproute2 to make and remove them.
//
// Every link is a /30 from the link-local range 169.254.64.0/18, chosen by
// isobench and used only on that link, so no traffic can reach any address
// isobench did not assign.
package hostnet

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"strings"

	"github.com/isobench/isobench/internal/backend"
	"github.com/isobench/isobench/internal/reaper"
)

// Subnets is how many /30s fit in 169.254.64.0/18.
const Subnets = 1 << 12

// PrefixLen is the length of every link's prefix.
const PrefixLen = 30

// Addrs are one link's addresses and its host-side interface name.
type Addrs struct {
	HostIf    string
	HostIP    netip.Addr
	SandboxIP netip.Addr
}

// Allocate picks a sandbox's /30: offset by a hash of the run, so that
// concurrent runs start far apart, and skipping any /30 that an address on
// this host already uses. index counts the links of one backend.
func Allocate(runPrefix, id string, index uint32) Addrs {
	inUse := hostAddrs()
	for try := uint32(0); ; try++ {
		a := At(runPrefix, id, backend.Hash32(runPrefix)+index+try*7919)
		if !inUse[a.HostIP] && !inUse[a.SandboxIP] || try == Subnets {
			return a
		}
	}
}

func hostAddrs() map[netip.Addr]bool {
	out := map[netip.Addr]bool{}
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if p, err := netip.ParsePrefix(a.String()); err == nil {
			out[p.Addr()] = true
		}
	}
	return out
}

// At is the index-th /30 (modulo Subnets).
func At(runPrefix, id string, index uint32) Addrs {
	base := netip.AddrFrom4([4]byte{169, 254, 64, 0})
	k := index % Subnets
	b := base.As4()
	off := uint32(b[2])<<8 | uint32(b[3]) + 4*k
	b[2], b[3] = byte(off>>8), byte(off)
	host := netip.AddrFrom4(b).Next()
	return Addrs{HostIf: backend.LinkName(runPrefix, id, 'h'), HostIP: host, SandboxIP: host.Next()}
}

// RequireIP reports a missing iproute2 as an unavailable network.
func RequireIP() error {
	if _, err := exec.LookPath("ip"); err != nil {
		return backend.Unavailable("the ip command (iproute2) is missing, needed to give sandboxes a network", "apt-get install iproute2")
	}
	return nil
}

// IPBatch runs iproute2 commands in one exec (ip -batch).
func IPBatch(ctx context.Context, global []string, cmds string) error {
	cmd := exec.CommandContext(ctx, "ip", append(global, "-batch", "-")...)
	cmd.Stdin = strings.NewReader(cmds + "\n")
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := reaper.Run(cmd); err != nil {
		return fmt.Errorf("ip %s: %w: %s", strings.ReplaceAll(cmds, "\n", "; "), err, strings.TrimSpace(out.String()))
	}
	return nil
}
