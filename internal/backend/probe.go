package backend

import (
	"context"
	"time"
)

// ProbeLimits are the small sandbox a backend's start probe launches.
var ProbeLimits = Limits{CPUs: 1, MemoryBytes: 256 << 20}

// sweepLimit bounds the sweep after a failed probe.
const sweepLimit = 10 * time.Second

// ProbeLaunch launches one small sandbox named id within env.ProbeTimeout
// and closes it: how a backend proves, when it is constructed, that it
// works on this host, so that it is reported unavailable instead of
// failing in the middle of a run. launchErr is why the sandbox did not
// start (a Sweeper backend has then swept what a hung runtime may have
// left); closeErr is a failed teardown of one that did.
func ProbeLaunch(ctx context.Context, env Env, b Backend, id string) (launchErr, closeErr error) {
	pctx, cancel := context.WithTimeout(ctx, env.ProbeTimeout)
	defer cancel()
	sb, err := b.Launch(pctx, Spec{ID: id, Limits: ProbeLimits})
	if err != nil {
		if sw, ok := b.(Sweeper); ok {
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), sweepLimit)
			_, _ = sw.Sweep(sctx)
			cancel()
		}
		return err, nil
	}
	return nil, sb.Close(ctx)
}
