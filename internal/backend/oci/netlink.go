package oci

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"

	"github.com/isobench/isobench/internal/backend"
	"github.com/isobench/isobench/internal/reaper"
)

// netnsDir is where `ip netns` keeps named network namespaces.
const netnsDir = "/run/netns"

// link is a container's network: a named namespace holding one end of a
// veth pair, the other end on the host. The /30 comes from the link-local
// range 169.254.64.0/18, chosen by isobench and used only on this link, so
// no traffic can reach any address isobench did not assign.
type link struct {
	ns        string
	hostIf    string
	hostIP    netip.Addr
	sandboxIP netip.Addr
}

// linkSubnets is how many /30s fit in 169.254.64.0/18.
const linkSubnets = 1 << 12

// newLink picks the sandbox's /30: offset by a hash of the run, so that
// concurrent runs start far apart, and skipping any /30 that an address on
// this host already uses.
func newLink(runPrefix, id string, index uint32) *link {
	inUse := hostAddrs()
	for try := uint32(0); ; try++ {
		l := linkAt(runPrefix, id, backend.Hash32(runPrefix)+index+try*7919)
		if !inUse[l.hostIP] && !inUse[l.sandboxIP] || try == linkSubnets {
			return l
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

func linkAt(runPrefix, id string, index uint32) *link {
	base := netip.AddrFrom4([4]byte{169, 254, 64, 0})
	k := index % linkSubnets
	b := base.As4()
	off := uint32(b[2])<<8 | uint32(b[3]) + 4*k
	b[2], b[3] = byte(off>>8), byte(off)
	host := netip.AddrFrom4(b).Next()
	return &link{
		ns:        id,
		hostIf:    backend.LinkName(runPrefix, id, 'h'),
		hostIP:    host,
		sandboxIP: host.Next(),
	}
}

func (l *link) nsPath() string   { return netnsDir + "/" + l.ns }
func (l *link) peerIf() string   { return strings.TrimSuffix(l.hostIf, "h") + "c" }
func (l *link) hostAddr() string { return l.hostIP.String() }

// setUp creates the namespace and the veth pair and addresses both ends.
// It uses iproute2's batch mode: two execs for the whole setup.
func (l *link) setUp(ctx context.Context) error {
	if _, err := exec.LookPath("ip"); err != nil {
		return backend.Unavailable("the ip command (iproute2) is missing, needed to give containers a network", "apt-get install iproute2")
	}
	host := strings.Join([]string{
		"netns add " + l.ns,
		fmt.Sprintf("link add %s type veth peer name %s netns %s", l.hostIf, l.peerIf(), l.ns),
		fmt.Sprintf("addr add %s/30 dev %s", l.hostIP, l.hostIf),
		"link set " + l.hostIf + " up",
	}, "\n")
	inside := strings.Join([]string{
		fmt.Sprintf("addr add %s/30 dev %s", l.sandboxIP, l.peerIf()),
		"link set " + l.peerIf() + " up",
		"link set lo up",
	}, "\n")
	if err := ipBatch(ctx, nil, host); err != nil {
		_ = l.remove(context.WithoutCancel(ctx))
		return err
	}
	if err := ipBatch(ctx, []string{"-n", l.ns}, inside); err != nil {
		_ = l.remove(context.WithoutCancel(ctx))
		return err
	}
	return nil
}

// remove deletes the veth pair (both ends go together) and the namespace.
func (l *link) remove(ctx context.Context) error {
	var errs []error
	if _, err := os.Stat("/sys/class/net/" + l.hostIf); err == nil {
		errs = append(errs, ipBatch(ctx, nil, "link del "+l.hostIf))
	}
	if _, err := os.Stat(l.nsPath()); err == nil {
		errs = append(errs, ipBatch(ctx, nil, "netns del "+l.ns))
	}
	return errors.Join(errs...)
}

func ipBatch(ctx context.Context, global []string, cmds string) error {
	cmd := exec.CommandContext(ctx, "ip", append(global, "-batch", "-")...)
	cmd.Stdin = strings.NewReader(cmds + "\n")
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := reaper.Run(cmd); err != nil {
		return fmt.Errorf("ip %s: %w: %s", strings.ReplaceAll(cmds, "\n", "; "), err, strings.TrimSpace(out.String()))
	}
	return nil
}
