package firecracker

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/isobench/isobench/internal/backend/vmm"
	"github.com/isobench/isobench/internal/testutil"
)

// spec is written out from Firecracker's OpenAPI description
// (src/firecracker/swagger/firecracker.yaml, v1.17.0-dev): the operations
// isobench calls and their bodies' fields, required fields and enums.
var spec = testutil.APISpec{
	Operations: map[string]string{
		"PUT /boot-source":                   "BootSource",
		"PUT /machine-config":                "MachineConfiguration",
		"PUT /drives/{drive_id}":             "Drive",
		"PUT /network-interfaces/{iface_id}": "NetworkInterface",
		"PUT /actions":                       "InstanceActionInfo",
		"PATCH /vm":                          "Vm",
		"PUT /snapshot/create":               "SnapshotCreateParams",
		"PUT /snapshot/load":                 "SnapshotLoadParams",
		"GET /":                              "",
	},
	Schemas: map[string]testutil.Schema{
		"BootSource": {Required: []string{"kernel_image_path"}, Properties: map[string]string{
			"kernel_image_path": "string", "boot_args": "string", "initrd_path": "string"}},
		"MachineConfiguration": {Required: []string{"vcpu_count", "mem_size_mib"}, Properties: map[string]string{
			"vcpu_count": "integer", "mem_size_mib": "integer", "smt": "boolean", "track_dirty_pages": "boolean",
			"huge_pages": "enum:None,Transparent,2M", "cpu_template": "enum:C3,T2,T2S,T2CL,T2A,V1N1,None"}},
		"Drive": {Required: []string{"drive_id", "is_root_device"}, Properties: map[string]string{
			"drive_id": "string", "is_root_device": "boolean", "is_read_only": "boolean", "path_on_host": "string",
			"partuuid": "string", "cache_type": "enum:Unsafe,Writeback", "io_engine": "enum:Sync,Async", "socket": "string"}},
		"NetworkInterface": {Required: []string{"iface_id", "host_dev_name"}, Properties: map[string]string{
			"iface_id": "string", "host_dev_name": "string", "guest_mac": "string", "mtu": "integer"}},
		"InstanceActionInfo": {Required: []string{"action_type"}, Properties: map[string]string{
			"action_type": "enum:FlushMetrics,InstanceStart,SendCtrlAltDel"}},
		"Vm": {Required: []string{"state"}, Properties: map[string]string{"state": "enum:Paused,Resumed"}},
		"SnapshotCreateParams": {Required: []string{"snapshot_path", "mem_file_path"}, Properties: map[string]string{
			"snapshot_path": "string", "mem_file_path": "string", "snapshot_type": "enum:Full,Diff"}},
		"SnapshotLoadParams": {Required: []string{"snapshot_path"}, Properties: map[string]string{
			"snapshot_path": "string", "mem_backend": "object:MemoryBackend", "mem_file_path": "string",
			"enable_diff_snapshots": "boolean", "track_dirty_pages": "boolean", "resume_vm": "boolean"}},
		"MemoryBackend": {Required: []string{"backend_type", "backend_path"}, Properties: map[string]string{
			"backend_type": "enum:File,Uffd", "backend_path": "string"}},
	},
}

func TestRequestsMatchTheSpec(t *testing.T) {
	srv := testutil.ServeAPI(t, func(r testutil.Request) (int, string) {
		if r.Method == http.MethodGet {
			return 200, `{"app_name":"Firecracker","id":"x","state":"Not started","vmm_version":"1.10.1"}`
		}
		return 204, ""
	})
	c := NewClient(srv.Socket)
	defer c.Close()
	ctx := t.Context()
	calls := []struct {
		name string
		do   func(context.Context) error
		want string // method and path
	}{
		{"machine config", func(ctx context.Context) error {
			return c.PutMachineConfig(ctx, MachineConfig{VCPUCount: 2, MemSizeMiB: 512})
		}, "PUT /machine-config"},
		{"boot source", func(ctx context.Context) error {
			return c.PutBootSource(ctx, BootSource{KernelImagePath: "/k/vmlinux", InitrdPath: "/k/initrd", BootArgs: "console=ttyS0"})
		}, "PUT /boot-source"},
		{"drive", func(ctx context.Context) error {
			return c.PutDrive(ctx, Drive{DriveID: "scratch", PathOnHost: "/d.ext4", CacheType: "Writeback", IOEngine: "Sync"})
		}, "PUT /drives/scratch"},
		{"network", func(ctx context.Context) error {
			return c.PutNetworkInterface(ctx, NetworkInterface{IfaceID: "eth0", HostDevName: "isb0tap"})
		}, "PUT /network-interfaces/eth0"},
		{"start", c.Start, "PUT /actions"},
		{"pause", c.Pause, "PATCH /vm"},
		{"snapshot", func(ctx context.Context) error { return c.CreateSnapshot(ctx, "/s/state", "/s/mem") }, "PUT /snapshot/create"},
		{"load", func(ctx context.Context) error { return c.LoadSnapshot(ctx, "/s/state", "/s/mem", true) }, "PUT /snapshot/load"},
		{"resume", c.Resume, "PATCH /vm"},
		{"ctrl-alt-del", c.SendCtrlAltDel, "PUT /actions"},
	}
	for _, call := range calls {
		if err := call.do(ctx); err != nil {
			t.Errorf("%s: %v", call.name, err)
		}
	}
	reqs := srv.Requests()
	if len(reqs) != len(calls) {
		t.Fatalf("%d requests for %d calls", len(reqs), len(calls))
	}
	for i, r := range reqs {
		if got := r.Method + " " + r.Path; got != calls[i].want {
			t.Errorf("%s: sent %s, want %s", calls[i].name, got, calls[i].want)
		}
		if err := spec.Check(r.Method, r.Path, r.Body); err != nil {
			t.Errorf("%s: %v", calls[i].name, err)
		}
	}
	info, err := c.InstanceInfo(ctx)
	if err != nil || info.State != "Not started" || info.VMMVersion != "1.10.1" {
		t.Errorf("InstanceInfo = %+v, %v", info, err)
	}
}

// The checker itself must catch what it is there for.
func TestSpecCheckCatchesBadBodies(t *testing.T) {
	for name, body := range map[string]string{
		"misspelt field":   `{"kernel_image":"/k"}`,
		"missing required": `{"boot_args":"x"}`,
		"wrong type":       `{"kernel_image_path":3}`,
	} {
		if err := spec.Check("PUT", "/boot-source", []byte(body)); err == nil {
			t.Errorf("%s: %s passed", name, body)
		}
	}
	if err := spec.Check("PUT", "/actions", []byte(`{"action_type":"Reboot"}`)); err == nil {
		t.Error("an action type outside the enum passed")
	}
	if err := spec.Check("PUT", "/no-such-endpoint", nil); err == nil {
		t.Error("an unknown endpoint passed")
	}
}

func TestFaultMessageBecomesTheError(t *testing.T) {
	srv := testutil.ServeAPI(t, func(testutil.Request) (int, string) {
		return 400, `{"fault_message":"The kernel file cannot be opened: No such file or directory (os error 2)"}`
	})
	c := NewClient(srv.Socket)
	defer c.Close()
	err := c.PutBootSource(t.Context(), BootSource{KernelImagePath: "/missing"})
	var apiErr *vmm.APIError
	if !errors.As(err, &apiErr) || apiErr.Status != 400 || !strings.Contains(err.Error(), "kernel file cannot be opened") {
		t.Errorf("error = %v, want the fault message with HTTP 400", err)
	}
}

func TestVMIDFitsFirecrackersLimit(t *testing.T) {
	long := "isobench-" + strings.Repeat("a", 80)
	for _, id := range []string{"isobench-abc-1", long} {
		got := vmID(id)
		if len(got) > 64 || strings.Trim(got, "abcdefghijklmnopqrstuvwxyz0123456789-") != "" {
			t.Errorf("vmID(%q) = %q", id, got)
		}
	}
	if vmID(long) == vmID(long+"b") {
		t.Error("two long ids map to one VM id")
	}
}
