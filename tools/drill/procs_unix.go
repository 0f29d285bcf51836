//go:build unix

package main

// How the drill stops an instance as Ctrl-C in its terminal would, on the
// systems that have signals (procs_other.go says what the others do).

import (
	"os"
	"os/exec"
	"syscall"
)

// errUnsupported is nil: this system can run the drill.
var errUnsupported error

// ownProcessGroup starts cmd in a group of its own, so that a Ctrl-C at the
// drill reaches the drill only, which then stops its processes in order.
func ownProcessGroup(cmd *exec.Cmd) { cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} }

// terminate sends SIGTERM; an error means it has exited already, which
// the caller sees on its done channel.
func terminate(p *os.Process) { p.Signal(syscall.SIGTERM) }
