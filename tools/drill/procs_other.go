//go:build !unix

package main

// Windows has no SIGTERM to send a process, and the drill is about what an
// instance does when it gets one; it also needs a redis-server, which Windows
// runs in WSL. So there it says so and stops before it starts anything.

import (
	"errors"
	"os"
	"os/exec"
)

var errUnsupported = errors.New("the drill stops instances with SIGTERM, which this system cannot send: run it on Linux or macOS, or on Windows in WSL")

// Never called: main exits on errUnsupported first.
func ownProcessGroup(cmd *exec.Cmd) {}
func terminate(p *os.Process)       {}
