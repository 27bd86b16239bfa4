package oci

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/isobench/isobench/internal/backend/hostnet"
)

// netnsDir is where `ip netns` keeps named network namespaces.
const netnsDir = "/run/netns"

// link is a container's network: a named namespace holding one end of a
// veth pair, the other end on the host, addressed by hostnet.
type link struct {
	ns string
	hostnet.Addrs
}

func newLink(runPrefix, id string, index uint32) *link {
	return &link{ns: id, Addrs: hostnet.Allocate(runPrefix, id, index)}
}

func (l *link) nsPath() string   { return netnsDir + "/" + l.ns }
func (l *link) peerIf() string   { return strings.TrimSuffix(l.HostIf, "h") + "c" }
func (l *link) hostAddr() string { return l.HostIP.String() }

// setUp creates the namespace and the veth pair and addresses both ends.
// It uses iproute2's batch mode: two execs for the whole setup.
func (l *link) setUp(ctx context.Context) error {
	if err := hostnet.RequireIP(); err != nil {
		return err
	}
	host := strings.Join([]string{
		"netns add " + l.ns,
		fmt.Sprintf("link add %s type veth peer name %s netns %s", l.HostIf, l.peerIf(), l.ns),
		fmt.Sprintf("addr add %s/30 dev %s", l.HostIP, l.HostIf),
		"link set " + l.HostIf + " up",
	}, "\n")
	inside := strings.Join([]string{
		fmt.Sprintf("addr add %s/30 dev %s", l.SandboxIP, l.peerIf()),
		"link set " + l.peerIf() + " up",
		"link set lo up",
	}, "\n")
	if err := hostnet.IPBatch(ctx, nil, host); err != nil {
		_ = l.remove(context.WithoutCancel(ctx))
		return err
	}
	if err := hostnet.IPBatch(ctx, []string{"-n", l.ns}, inside); err != nil {
		_ = l.remove(context.WithoutCancel(ctx))
		return err
	}
	return nil
}

// remove deletes the veth pair (both ends go together) and the namespace.
func (l *link) remove(ctx context.Context) error {
	var errs []error
	if _, err := os.Stat("/sys/class/net/" + l.HostIf); err == nil {
		errs = append(errs, hostnet.IPBatch(ctx, nil, "link del "+l.HostIf))
	}
	if _, err := os.Stat(l.nsPath()); err == nil {
		errs = append(errs, hostnet.IPBatch(ctx, nil, "netns del "+l.ns))
	}
	return errors.Join(errs...)
}
