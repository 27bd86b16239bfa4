package cloudhypervisor

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/isobench/isobench/internal/backend"
	"github.com/isobench/isobench/internal/backend/hostnet"
	"github.com/isobench/isobench/internal/backend/vmm"
	"github.com/isobench/isobench/internal/testutil"
)

// spec is written out from Cloud Hypervisor's OpenAPI description
// (vmm/src/api/openapi/cloud-hypervisor.yaml): the operations isobench
// calls and their bodies' fields, required fields and enums.
var spec = testutil.APISpec{
	Operations: map[string]string{
		"GET /api/v1/vmm.ping":     "",
		"PUT /api/v1/vmm.shutdown": "",
		"PUT /api/v1/vm.create":    "VmConfig",
		"PUT /api/v1/vm.boot":      "",
		"PUT /api/v1/vm.pause":     "",
		"PUT /api/v1/vm.resume":    "",
		"PUT /api/v1/vm.snapshot":  "VmSnapshotConfig",
		"PUT /api/v1/vm.restore":   "RestoreConfig",
		"GET /api/v1/vm.info":      "",
	},
	Schemas: map[string]testutil.Schema{
		"VmConfig": {Required: []string{"payload"}, Properties: map[string]string{
			"payload": "object:PayloadConfig", "cpus": "object:CpusConfig", "memory": "object:MemoryConfig",
			"disks": "array:DiskConfig", "net": "array:NetConfig", "serial": "object:ConsoleConfig", "console": "object:ConsoleConfig"}},
		"PayloadConfig": {Properties: map[string]string{
			"kernel": "string", "initramfs": "string", "cmdline": "string", "firmware": "string"}},
		"CpusConfig": {Required: []string{"boot_vcpus", "max_vcpus"}, Properties: map[string]string{
			"boot_vcpus": "integer", "max_vcpus": "integer"}},
		"MemoryConfig": {Required: []string{"size"}, Properties: map[string]string{
			"size": "integer", "shared": "boolean", "hugepages": "boolean"}},
		"DiskConfig": {Properties: map[string]string{
			"path": "string", "readonly": "boolean", "direct": "boolean", "id": "string", "num_queues": "integer"}},
		"NetConfig": {Properties: map[string]string{
			"tap": "string", "ip": "string", "mask": "string", "mac": "string", "host_mac": "string", "mtu": "integer", "id": "string"}},
		"ConsoleConfig": {Required: []string{"mode"}, Properties: map[string]string{
			"mode": "enum:Off,Pty,Tty,File,Socket,Null", "file": "string", "socket": "string"}},
		"VmSnapshotConfig": {Properties: map[string]string{"destination_url": "string"}},
		"RestoreConfig": {Required: []string{"source_url"}, Properties: map[string]string{
			"source_url": "string", "prefault": "boolean", "resume": "boolean"}},
	},
}

func TestRequestsMatchTheSpec(t *testing.T) {
	srv := testutil.ServeAPI(t, func(r testutil.Request) (int, string) {
		switch r.Path {
		case "/api/v1/vmm.ping":
			return 200, `{"version":"v44.0","build_version":"v44.0","pid":7}`
		case "/api/v1/vm.info":
			return 200, `{"config":{},"state":"Running"}`
		}
		return 204, ""
	})
	c := NewClient(srv.Socket)
	defer c.Close()
	b := &Backend{vmlinux: "/k/vmlinux", guest: vmm.Guest{Initramfs: "/k/initrd"}, cmdline: "console=ttyS0"}
	tap := &vmm.Tap{Addrs: hostnet.At("isobench-run", "isobench-run-1", 0)}
	cfg := b.config(backend.Spec{Limits: backend.Limits{CPUs: 1.5, MemoryBytes: 512 << 20}}, &vmm.Disk{Path: "/d.ext4", Direct: true}, tap)
	ctx := t.Context()
	calls := []struct {
		name string
		do   func(context.Context) error
	}{
		{"create", func(ctx context.Context) error { return c.Create(ctx, cfg) }},
		{"boot", c.Boot},
		{"pause", c.Pause},
		{"snapshot", func(ctx context.Context) error { return c.Snapshot(ctx, "/s") }},
		{"restore", func(ctx context.Context) error { return c.Restore(ctx, "/s", true) }},
		{"resume", c.Resume},
		{"shutdown", c.ShutdownVMM},
	}
	for _, call := range calls {
		if err := call.do(ctx); err != nil {
			t.Errorf("%s: %v", call.name, err)
		}
	}
	for _, r := range srv.Requests() {
		if err := spec.Check(r.Method, r.Path, r.Body); err != nil {
			t.Error(err)
		}
	}
	// Units and routing the spec cannot express.
	var sent struct {
		Memory struct{ Size int64 }
		CPUs   struct {
			BootVCPUs int `json:"boot_vcpus"`
		} `json:"cpus"`
		Serial  struct{ Mode string }
		Console struct{ Mode string }
		Payload struct{ Cmdline string }
	}
	if err := json.Unmarshal(srv.Requests()[0].Body, &sent); err != nil {
		t.Fatal(err)
	}
	if sent.Memory.Size != 512<<20 || sent.CPUs.BootVCPUs != 2 || sent.Serial.Mode != "Tty" || sent.Console.Mode != "Off" {
		t.Errorf("vm.create sent %+v; want memory in bytes, vCPUs rounded up, serial on the VMM's stdio", sent)
	}
	if want := "console=ttyS0 isobench.modules=virtio_pci,virtio_blk,virtio_net isobench.scratch=/dev/vda isobench.net=169.254."; !strings.HasPrefix(sent.Payload.Cmdline, want) {
		t.Errorf("cmdline %q, want %q", sent.Payload.Cmdline, want)
	}
	if p, err := c.Ping(ctx); err != nil || p.Version != "v44.0" {
		t.Errorf("Ping = %+v, %v", p, err)
	}
	if info, err := c.Info(ctx); err != nil || info.State != "Running" {
		t.Errorf("Info = %+v, %v", info, err)
	}
}
