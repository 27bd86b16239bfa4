package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/isobench/isobench/internal/runner"
)

// Exit codes are a documented contract (README, "Exit codes").
const (
	exitOK          = 0
	exitFailure     = 1   // the run failed or some samples failed
	exitUsage       = 2   // bad flags or input; nothing ran
	exitNoBackend   = 3   // no requested backend is usable on this host
	exitInterrupted = 130 // interrupted by a signal; everything cleaned up
)

// usageError is bad input caught before anything ran.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

// interrupted marks err as an interruption when ctx was cancelled by a
// signal, so that every command exits 130 alike.
func interrupted(ctx context.Context, err error) error {
	if err != nil && ctx.Err() != nil && !errors.Is(err, runner.ErrInterrupted) {
		return fmt.Errorf("%w: %v", runner.ErrInterrupted, err)
	}
	return err
}

// exitCode maps an error to the contract above and prints it once.
func exitCode(err error) int {
	if err != nil {
		fmt.Fprintln(os.Stderr, "isobench:", err)
	}
	return exitCodeQuiet(err)
}

func exitCodeQuiet(err error) int {
	if err == nil {
		return exitOK
	}
	// cobra reports unknown commands and stray arguments as plain errors.
	if msg := err.Error(); strings.HasPrefix(msg, "unknown command") || strings.HasPrefix(msg, "accepts ") {
		return exitUsage
	}
	var ue usageError
	switch {
	case errors.As(err, &ue):
		return exitUsage
	case errors.Is(err, runner.ErrNoBackend):
		return exitNoBackend
	case errors.Is(err, runner.ErrInterrupted):
		return exitInterrupted
	}
	return exitFailure
}
