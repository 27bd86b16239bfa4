package cloudhypervisor

import (
	"context"
	"net/http"

	"github.com/isobench/isobench/internal/backend/vmm"
)

// The bodies below follow Cloud Hypervisor's OpenAPI description
// (vmm/src/api/openapi/cloud-hypervisor.yaml); field names and enum values
// are the spec's. Only what isobench uses is modelled.

// VMConfig is PUT /api/v1/vm.create.
type VMConfig struct {
	Payload Payload        `json:"payload"`
	CPUs    *CPUsConfig    `json:"cpus,omitempty"`
	Memory  *MemoryConfig  `json:"memory,omitempty"`
	Disks   []DiskConfig   `json:"disks,omitempty"`
	Net     []NetConfig    `json:"net,omitempty"`
	Serial  *ConsoleConfig `json:"serial,omitempty"`
	Console *ConsoleConfig `json:"console,omitempty"`
}

// Payload is what the VM boots.
type Payload struct {
	Kernel    string `json:"kernel,omitempty"`
	Initramfs string `json:"initramfs,omitempty"`
	Cmdline   string `json:"cmdline,omitempty"`
}

// CPUsConfig sets the vCPUs; both fields are required.
type CPUsConfig struct {
	BootVCPUs int `json:"boot_vcpus"`
	MaxVCPUs  int `json:"max_vcpus"`
}

// MemoryConfig sets guest memory; Size is in bytes.
type MemoryConfig struct {
	Size int64 `json:"size"`
}

// DiskConfig attaches a virtio-blk (PCI) disk.
type DiskConfig struct {
	Path     string `json:"path"`
	Readonly bool   `json:"readonly,omitempty"`
	// Direct opens the image with O_DIRECT, bypassing the host page cache.
	Direct bool   `json:"direct,omitempty"`
	ID     string `json:"id,omitempty"`
}

// NetConfig attaches a virtio-net (PCI) device to an existing tap device.
// IP and mask are left out: they would configure the host's end, which
// isobench has addressed itself.
type NetConfig struct {
	Tap string `json:"tap"`
	MAC string `json:"mac,omitempty"`
	ID  string `json:"id,omitempty"`
}

// ConsoleConfig routes the serial port or the virtio console.
type ConsoleConfig struct {
	Mode string `json:"mode"` // Off, Pty, Tty, File, Socket, Null
}

// VMSnapshotConfig is PUT /api/v1/vm.snapshot.
type VMSnapshotConfig struct {
	DestinationURL string `json:"destination_url"`
}

// RestoreConfig is PUT /api/v1/vm.restore.
type RestoreConfig struct {
	SourceURL string `json:"source_url"`
	Prefault  bool   `json:"prefault,omitempty"`
	Resume    bool   `json:"resume,omitempty"`
}

// VMInfo is GET /api/v1/vm.info (the fields isobench reads).
type VMInfo struct {
	State string `json:"state"` // Created, Running, Shutdown, Paused, BreakPoint
}

// PingResponse is GET /api/v1/vmm.ping.
type PingResponse struct {
	Version      string   `json:"version"`
	BuildVersion string   `json:"build_version,omitempty"`
	PID          int64    `json:"pid,omitempty"`
	Features     []string `json:"features,omitempty"`
}

// Client is a typed client of one Cloud Hypervisor process's API socket.
type Client struct{ api *vmm.APIClient }

// NewClient talks to the API socket at path.
func NewClient(path string) *Client { return &Client{api: vmm.NewAPIClient(path)} }

func (c *Client) Close() { c.api.Close() }

const prefix = "/api/v1/"

func (c *Client) put(ctx context.Context, name string, body any) error {
	return c.api.Do(ctx, http.MethodPut, prefix+name, body, nil)
}

func (c *Client) Ping(ctx context.Context) (PingResponse, error) {
	var p PingResponse
	err := c.api.Do(ctx, http.MethodGet, prefix+"vmm.ping", nil, &p)
	return p, err
}

// Create defines the VM; Boot starts it.
func (c *Client) Create(ctx context.Context, cfg VMConfig) error { return c.put(ctx, "vm.create", cfg) }
func (c *Client) Boot(ctx context.Context) error                 { return c.put(ctx, "vm.boot", nil) }

// ShutdownVMM ends the VMM process (and its VM).
func (c *Client) ShutdownVMM(ctx context.Context) error { return c.put(ctx, "vmm.shutdown", nil) }

func (c *Client) Pause(ctx context.Context) error  { return c.put(ctx, "vm.pause", nil) }
func (c *Client) Resume(ctx context.Context) error { return c.put(ctx, "vm.resume", nil) }

// Snapshot writes a paused VM's state into a directory (file:// URL).
func (c *Client) Snapshot(ctx context.Context, dir string) error {
	return c.put(ctx, "vm.snapshot", VMSnapshotConfig{DestinationURL: "file://" + dir})
}

// Restore loads a snapshot into a fresh VMM and resumes it if asked.
func (c *Client) Restore(ctx context.Context, dir string, resume bool) error {
	return c.put(ctx, "vm.restore", RestoreConfig{SourceURL: "file://" + dir, Resume: resume})
}

func (c *Client) Info(ctx context.Context) (VMInfo, error) {
	var info VMInfo
	err := c.api.Do(ctx, http.MethodGet, prefix+"vm.info", nil, &info)
	return info, err
}
