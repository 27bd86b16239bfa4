// Command isobench measures what each sandbox and virtualization technology
// costs, on the user's own hardware. The same static binary is the
// in-sandbox agent ("isobench agent").
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/isobench/isobench/internal/agent"
	"github.com/isobench/isobench/internal/backend/oci"
	"github.com/isobench/isobench/internal/workload"

	// Backends register themselves.
	_ "github.com/isobench/isobench/internal/backend/process"
)

// processStart is taken during package initialisation, before main, so the
// agent's start-to-ready time covers as much of its own startup as Go allows.
var processStart = time.Now()

func main() {
	// Agent and helper modes skip the command tree: they run inside every
	// sandbox launch, where each microsecond is part of the measurement.
	if agent.IsGuestInit() {
		agent.GuestInit(processStart) // a VM's /init: never returns
	}
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "agent":
			os.Exit(runAgent())
		case workload.ChrootCommand:
			err := workload.ExecChroot(os.Args[2:])
			fmt.Fprintln(os.Stderr, "isobench:", err)
			os.Exit(exitFailure)
		case oci.HiddenMountCommand:
			err := oci.ExecHidingMount(os.Args[2:])
			fmt.Fprintln(os.Stderr, "isobench:", err)
			os.Exit(exitFailure)
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newRootCommand(ctx, nil).ExecuteContext(ctx)
	stop()
	os.Exit(exitCode(err))
}

func runAgent() int {
	// SIGTERM from the runtime (or Ctrl-C reaching a process sandbox) ends
	// the workload through ctx; the host sees the agent exit.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := agent.Main(ctx, processStart, os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "isobench agent:", err)
		return exitFailure
	}
	return exitOK
}
