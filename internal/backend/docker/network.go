package docker

import (
	"context"
	"fmt"
	"net/netip"

	"github.com/isobench/isobench/internal/backend"
	"github.com/isobench/isobench/internal/backend/hostnet"
)

// link is a sandbox's own bridge network: a /30 that isobench picks from
// its link-local range, the host's end as the gateway on a bridge named
// like every isobench link (so leak checks find it), internal (the daemon
// routes nothing beyond it) and without masquerading.
type link struct {
	name  string
	id    string
	addrs hostnet.Addrs
}

func (b *Backend) newLink(ctx context.Context, sandboxID string) (*link, error) {
	a := hostnet.Allocate(backend.IDPrefix+b.env.RunID, sandboxID, b.linkIndex.Add(1))
	l := &link{name: sandboxID, addrs: a}
	subnet := netip.PrefixFrom(a.HostIP, hostnet.PrefixLen).Masked()
	id, err := b.api.NetworkCreate(ctx, &NetworkCreate{
		Name: l.name, Driver: "bridge", Internal: true, CheckDuplicate: true,
		IPAM: IPAM{Config: []IPAMConfig{{Subnet: subnet.String(), Gateway: a.HostIP.String()}}},
		Options: map[string]string{
			"com.docker.network.bridge.name":                 a.HostIf,
			"com.docker.network.bridge.enable_ip_masquerade": "false",
		},
		Labels: b.labels(),
	})
	if err != nil {
		return nil, fmt.Errorf("create bridge network %s (%s): %w", l.name, subnet, err)
	}
	l.id = id
	return l, nil
}

func (b *Backend) removeLink(ctx context.Context, l *link) error {
	if err := b.api.NetworkRemove(ctx, l.id); err != nil && !IsNotFound(err) {
		return err
	}
	return nil
}
