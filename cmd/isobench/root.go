package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/isobench/isobench/internal/result"

	_ "github.com/isobench/isobench/internal/backend/cloudhypervisor"
	_ "github.com/isobench/isobench/internal/backend/docker"
	_ "github.com/isobench/isobench/internal/backend/firecracker"
	_ "github.com/isobench/isobench/internal/backend/oci"
	_ "github.com/isobench/isobench/internal/backend/qemu"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = ""

func buildInfo() result.Build {
	b := result.Build{Version: version}
	if info, ok := debug.ReadBuildInfo(); ok {
		b.GoVersion = info.GoVersion
		if b.Version == "" {
			b.Version = info.Main.Version
		}
		for _, s := range info.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				b.Version += "+" + s.Value[:12]
			}
		}
	}
	if b.Version == "" || b.Version == "(devel)" {
		b.Version = "dev"
	}
	return b
}

// globals are settings every command shares.
type globals struct {
	logLevel string
	stdout   io.Writer
	stderr   io.Writer
}

func (g *globals) logger() *slog.Logger {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(g.logLevel))
	return slog.New(slog.NewTextHandler(g.stderr, &slog.HandlerOptions{Level: lvl}))
}

// hooks let tests check flag handling without running anything.
type hooks struct {
	run      func(*runOptions) error
	backends func(*backendsOptions) error
}

func newRootCommand(ctx context.Context, h *hooks) *cobra.Command {
	if h == nil {
		h = &hooks{}
	}
	g := &globals{stdout: os.Stdout, stderr: os.Stderr}
	root := &cobra.Command{
		Use:   "isobench",
		Short: "Measure what each sandbox and virtualization technology costs on this machine",
		Long: `isobench runs the same workloads under every isolation backend (native process,
runc, crun, gVisor, microVMs, full VMs) and reports the cost of each, side by side.`,
		SilenceErrors: true,
		SilenceUsage:  true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			var lvl slog.Level
			if err := lvl.UnmarshalText([]byte(g.logLevel)); err != nil {
				return usagef("--log-level: %q is not one of debug, info, warn, error", g.logLevel)
			}
			g.stdout, g.stderr = cmd.OutOrStdout(), cmd.ErrOrStderr()
			return nil
		},
	}
	root.PersistentFlags().StringVar(&g.logLevel, "log-level", "warn", "log level: debug, info, warn, error")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.AddCommand(newRunCommand(ctx, g, h), newBackendsCommand(ctx, g, h), newAgentCommand(), newVersionCommand(g), newSelftestCommand(ctx, g), newReportCommand(ctx, g), newCompareCommand(ctx, g), newEvaluateCommand(ctx, g), newHistoryCommand(ctx, g), newGraderCommand(ctx, g, h), newImageCommand(ctx, g))
	root.SetContext(ctx)
	return root
}

func newVersionCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print isobench's version",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			b := buildInfo()
			fmt.Fprintf(g.stdout, "isobench %s (%s)\n", b.Version, b.GoVersion)
			return nil
		},
	}
}

// newAgentCommand documents the agent mode; main dispatches it before cobra
// so that sandbox launches do not pay for building the command tree.
func newAgentCommand() *cobra.Command {
	return &cobra.Command{
		Use:    "agent",
		Short:  "Run as the in-sandbox agent (JSON lines on stdin/stdout)",
		Hidden: true,
		RunE: func(*cobra.Command, []string) error {
			if code := runAgent(); code != exitOK {
				return fmt.Errorf("agent failed")
			}
			return nil
		},
	}
}

// selfPath is the running binary, which becomes the agent in sandboxes.
func selfPath() (string, error) {
	p, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("find own executable: %w", err)
	}
	return filepath.EvalSymlinks(p)
}

// workRoot is where runs keep bundles and runtime state: tmpfs when /run is
// writable, so that state never survives a reboot.
func workRoot() string {
	if fi, err := os.Stat("/run"); err == nil && fi.IsDir() {
		if f, err := os.CreateTemp("/run", ".isobench-probe-*"); err == nil {
			f.Close()
			os.Remove(f.Name())
			return "/run/isobench"
		}
	}
	return filepath.Join(os.TempDir(), "isobench")
}

func splitList(xs []string) []string {
	var out []string
	for _, x := range xs {
		for p := range strings.SplitSeq(x, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}

func defaultOutDir(now time.Time) string {
	return filepath.Join("results", now.Format("20060102-150405"))
}
