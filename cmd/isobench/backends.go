package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/isobench/isobench/internal/backend"
	"github.com/isobench/isobench/internal/result"
	"github.com/isobench/isobench/internal/runner"
)

type backendsOptions struct {
	json         bool
	kernel       string
	accel        string
	probeTimeout time.Duration
}

func newBackendsCommand(ctx context.Context, g *globals, h *hooks) *cobra.Command {
	o := &backendsOptions{}
	cmd := &cobra.Command{
		Use:   "backends",
		Short: "List every backend: available or not, version, and for an unavailable one the reason and the fix",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.probeTimeout <= 0 {
				return usagef("--probe-timeout: %s is not positive", o.probeTimeout)
			}
			if err := validAccel(o.accel); err != nil {
				return err
			}
			if h.backends != nil {
				return h.backends(o)
			}
			return runBackends(ctx, g, o)
		},
	}
	cmd.Flags().BoolVar(&o.json, "json", false, "print JSON (the same fields for every backend)")
	cmd.Flags().DurationVar(&o.probeTimeout, "probe-timeout", 10*time.Second, "bound on each backend's start probe")
	cmd.Flags().StringVar(&o.kernel, "kernel", "", "guest kernel (bzImage) for VM backends")
	cmd.Flags().StringVar(&o.accel, "accel", string(backend.AccelAuto), accelHelp)
	return cmd
}

func runBackends(ctx context.Context, g *globals, o *backendsOptions) error {
	self, err := selfPath()
	if err != nil {
		return err
	}
	root := workRoot()
	work, err := os.MkdirTemp(ensureDir(root), "backends-")
	if err != nil {
		return fmt.Errorf("work dir: %w", err)
	}
	defer func() {
		if err := runner.RemoveWorkDir(work); err != nil {
			fmt.Fprintln(g.stderr, "isobench: cleanup:", err)
		}
		os.Remove(root)
	}()
	runID := fmt.Sprintf("detect-%d", os.Getpid())
	env := backend.Env{AgentPath: self, WorkDir: work, RunID: runID, ProbeTimeout: o.probeTimeout, KernelPath: o.kernel, Accel: backend.AccelChoice(o.accel), Log: g.logger()}
	dets, err := backend.Detect(ctx, env, nil)
	if err != nil {
		return interrupted(ctx, err)
	}
	var recs []result.BackendRecord
	for _, d := range dets {
		rec := result.BackendRecord{Info: backend.Info{Name: d.Name, Kind: d.Kind}, Available: d.Available()}
		if d.Available() {
			rec.Info = d.Backend.Info()
			if sw, ok := d.Backend.(backend.Sweeper); ok {
				_, _ = sw.Sweep(context.WithoutCancel(ctx))
			}
		} else {
			rec.Reason, rec.Fix = backend.Explain(d.Err)
		}
		recs = append(recs, rec)
	}
	if o.json {
		enc := json.NewEncoder(g.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(recs)
	}
	tw := tabwriter.NewWriter(g.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "BACKEND\tKIND\tAVAILABLE\tACCEL\tVERSION\tDETAILS")
	for _, r := range recs {
		if r.Available {
			details := strings.Join(append(append([]string{}, r.Config...), r.Notes...), "; ")
			fmt.Fprintf(tw, "%s\t%s\tyes\t%s\t%s\t%s\n", r.Name, r.Kind, r.Accel, r.Version, details)
		} else {
			fmt.Fprintf(tw, "%s\t%s\tno\t\t\t%s\n", r.Name, r.Kind, r.Reason)
			if r.Fix != "" {
				fmt.Fprintf(tw, "\t\t\t\t\tfix: %s\n", r.Fix)
			}
		}
	}
	return tw.Flush()
}

func ensureDir(dir string) string {
	_ = os.MkdirAll(dir, 0o700)
	return dir
}

const accelHelp = "how VM backends run guests: auto (KVM when a guest actually boots under it, else TCG emulation), kvm, or tcg"

func validAccel(s string) error {
	for _, c := range backend.AccelChoices() {
		if string(c) == s {
			return nil
		}
	}
	return usagef("--accel: %q is not one of %v", s, backend.AccelChoices())
}
