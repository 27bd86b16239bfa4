// Package procgroup runs commands in process groups of their own that do
// not outlive their caller: the whole group is killed when the context
// ends and once the command has exited (whatever it left running), and the
// command gets SIGKILL if the caller dies first.
package procgroup

import (
	"context"
	"os/exec"
	"syscall"
)

// Prepare puts cmd in a process group of its own that dies with the caller.
// It keeps any other SysProcAttr settings.
func Prepare(cmd *exec.Cmd) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
}

// Kill kills the process group of a started command.
func Kill(cmd *exec.Cmd) {
	if cmd.Process != nil {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
}

// Run starts a prepared cmd and waits for it. When ctx ends first, the
// group is killed and ctx.Err() returned; either way the group is killed
// once the command has exited.
func Run(ctx context.Context, cmd *exec.Cmd) error {
	Prepare(cmd)
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-ctx.Done():
		Kill(cmd)
		<-done
		err = ctx.Err()
	}
	Kill(cmd)
	return err
}
