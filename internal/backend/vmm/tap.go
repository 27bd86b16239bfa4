package vmm

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/isobench/isobench/internal/backend"
	"github.com/isobench/isobench/internal/backend/hostnet"
)

// Tap is a VM's link to the host: a tap device carrying the host's end of
// the link's /30; the guest's agent addresses its own end from the kernel
// command line.
type Tap struct {
	hostnet.Addrs
}

// NewTap makes and addresses a tap device for sandbox id. index counts the
// links of one backend.
func NewTap(ctx context.Context, runPrefix, id string, index uint32) (*Tap, error) {
	if err := hostnet.RequireIP(); err != nil {
		return nil, err
	}
	if _, err := os.Stat("/dev/net/tun"); err != nil {
		return nil, backend.Unavailable("no /dev/net/tun: tap devices for VM networks cannot be made", "modprobe tun")
	}
	t := &Tap{Addrs: hostnet.Allocate(runPrefix, id, index)}
	cmds := fmt.Sprintf("tuntap add dev %s mode tap\naddr add %s/%d dev %s\nlink set %s up",
		t.HostIf, t.HostIP, hostnet.PrefixLen, t.HostIf, t.HostIf)
	if err := hostnet.IPBatch(ctx, nil, cmds); err != nil {
		_ = t.Remove(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("tap device: %w", err)
	}
	return t, nil
}

// MAC is the guest's address on the link: locally administered, derived
// from the interface name so that it is stable for a sandbox.
func (t *Tap) MAC() string {
	h := backend.Hash32(t.HostIf)
	return fmt.Sprintf("06:00:%02x:%02x:%02x:%02x", byte(h>>24), byte(h>>16), byte(h>>8), byte(h))
}

// Remove deletes the tap device; a nil Tap has nothing to remove.
func (t *Tap) Remove(ctx context.Context) error {
	if t == nil {
		return nil
	}
	if _, err := os.Stat("/sys/class/net/" + t.HostIf); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err := hostnet.IPBatch(ctx, nil, "link del "+t.HostIf); err != nil {
		return fmt.Errorf("remove tap device: %w", err)
	}
	return nil
}
