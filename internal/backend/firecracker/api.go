package firecracker

import (
	"context"
	"net/http"

	"github.com/isobench/isobench/internal/backend/vmm"
)

// The request and response bodies below follow Firecracker's OpenAPI
// description (src/firecracker/swagger/firecracker.yaml); field names and
// enum values are the spec's. Only what isobench uses is modelled.

// BootSource is PUT /boot-source.
type BootSource struct {
	KernelImagePath string `json:"kernel_image_path"`
	InitrdPath      string `json:"initrd_path,omitempty"`
	BootArgs        string `json:"boot_args,omitempty"`
}

// MachineConfig is PUT /machine-config.
type MachineConfig struct {
	VCPUCount       int   `json:"vcpu_count"`
	MemSizeMiB      int64 `json:"mem_size_mib"`
	SMT             bool  `json:"smt"`
	TrackDirtyPages bool  `json:"track_dirty_pages,omitempty"`
}

// Drive is PUT /drives/{drive_id}.
type Drive struct {
	DriveID      string `json:"drive_id"`
	PathOnHost   string `json:"path_on_host"`
	IsRootDevice bool   `json:"is_root_device"`
	IsReadOnly   bool   `json:"is_read_only"`
	// CacheType is "Unsafe" (the default: guest flushes are ignored) or
	// "Writeback" (flushes reach the host file).
	CacheType string `json:"cache_type,omitempty"`
	// IOEngine is "Sync" (the default) or "Async" (io_uring).
	IOEngine string `json:"io_engine,omitempty"`
}

// NetworkInterface is PUT /network-interfaces/{iface_id}.
type NetworkInterface struct {
	IfaceID     string `json:"iface_id"`
	HostDevName string `json:"host_dev_name"`
	GuestMAC    string `json:"guest_mac,omitempty"`
}

// Action is PUT /actions.
type Action struct {
	ActionType string `json:"action_type"` // FlushMetrics, InstanceStart, SendCtrlAltDel
}

// Action types.
const (
	ActionInstanceStart  = "InstanceStart"
	ActionSendCtrlAltDel = "SendCtrlAltDel"
)

// VMState is PATCH /vm.
type VMState struct {
	State string `json:"state"` // Paused, Resumed
}

// SnapshotCreate is PUT /snapshot/create.
type SnapshotCreate struct {
	SnapshotType string `json:"snapshot_type,omitempty"` // Full (default), Diff
	SnapshotPath string `json:"snapshot_path"`
	MemFilePath  string `json:"mem_file_path"`
}

// MemBackend says where a snapshot's guest memory comes from.
type MemBackend struct {
	BackendType string `json:"backend_type"` // File, Uffd
	BackendPath string `json:"backend_path"`
}

// SnapshotLoad is PUT /snapshot/load.
type SnapshotLoad struct {
	SnapshotPath        string      `json:"snapshot_path"`
	MemBackend          *MemBackend `json:"mem_backend,omitempty"`
	EnableDiffSnapshots bool        `json:"enable_diff_snapshots,omitempty"`
	ResumeVM            bool        `json:"resume_vm,omitempty"`
}

// InstanceInfo is GET /.
type InstanceInfo struct {
	AppName    string `json:"app_name"`
	ID         string `json:"id"`
	State      string `json:"state"` // Not started, Running, Paused
	VMMVersion string `json:"vmm_version"`
}

// Client is a typed client of one Firecracker process's API socket.
type Client struct{ api *vmm.APIClient }

// NewClient talks to the API socket at path.
func NewClient(path string) *Client { return &Client{api: vmm.NewAPIClient(path)} }

func (c *Client) Close() { c.api.Close() }

func (c *Client) PutMachineConfig(ctx context.Context, m MachineConfig) error {
	return c.api.Do(ctx, http.MethodPut, "/machine-config", m, nil)
}

func (c *Client) PutBootSource(ctx context.Context, b BootSource) error {
	return c.api.Do(ctx, http.MethodPut, "/boot-source", b, nil)
}

func (c *Client) PutDrive(ctx context.Context, d Drive) error {
	return c.api.Do(ctx, http.MethodPut, "/drives/"+d.DriveID, d, nil)
}

func (c *Client) PutNetworkInterface(ctx context.Context, n NetworkInterface) error {
	return c.api.Do(ctx, http.MethodPut, "/network-interfaces/"+n.IfaceID, n, nil)
}

// Start boots the configured machine.
func (c *Client) Start(ctx context.Context) error {
	return c.api.Do(ctx, http.MethodPut, "/actions", Action{ActionType: ActionInstanceStart}, nil)
}

// SendCtrlAltDel asks the guest to reboot (x86 only); on a reset the
// Firecracker process exits.
func (c *Client) SendCtrlAltDel(ctx context.Context) error {
	return c.api.Do(ctx, http.MethodPut, "/actions", Action{ActionType: ActionSendCtrlAltDel}, nil)
}

func (c *Client) Pause(ctx context.Context) error {
	return c.api.Do(ctx, http.MethodPatch, "/vm", VMState{State: "Paused"}, nil)
}

func (c *Client) Resume(ctx context.Context) error {
	return c.api.Do(ctx, http.MethodPatch, "/vm", VMState{State: "Resumed"}, nil)
}

// CreateSnapshot writes a full snapshot of a paused machine.
func (c *Client) CreateSnapshot(ctx context.Context, statePath, memPath string) error {
	return c.api.Do(ctx, http.MethodPut, "/snapshot/create", SnapshotCreate{SnapshotType: "Full", SnapshotPath: statePath, MemFilePath: memPath}, nil)
}

// LoadSnapshot restores a snapshot into a fresh Firecracker process (one
// that has not been configured) and resumes it when resume is set.
func (c *Client) LoadSnapshot(ctx context.Context, statePath, memPath string, resume bool) error {
	return c.api.Do(ctx, http.MethodPut, "/snapshot/load", SnapshotLoad{
		SnapshotPath: statePath, MemBackend: &MemBackend{BackendType: "File", BackendPath: memPath}, ResumeVM: resume}, nil)
}

func (c *Client) InstanceInfo(ctx context.Context) (InstanceInfo, error) {
	var info InstanceInfo
	err := c.api.Do(ctx, http.MethodGet, "/", nil, &info)
	return info, err
}
