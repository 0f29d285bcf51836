//go:build linux || darwin

package main

import (
	"fmt"
	"syscall"
)

// fdSlack is the file descriptors a run needs besides its connections:
// stdio, the network poller, DNS lookups and the like.
const fdSlack = 64

// ensureFileLimit makes sure the process may open a socket per client.
// Since Go 1.19 the runtime raises the soft RLIMIT_NOFILE to the hard limit
// at startup, so this normally finds nothing to do; it still tries, and
// otherwise says which limit to raise instead of failing at connection
// number 1000-something with "too many open files".
func ensureFileLimit(clients int) error {
	need := uint64(clients) + fdSlack
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil || lim.Cur >= need {
		return nil // cannot tell (then just try), or enough
	}
	if lim.Max >= need {
		lim.Cur = lim.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err == nil {
			return nil
		}
	}
	return fmt.Errorf("%d clients need %d open files, but the limit is %d (hard limit %d): raise it with ulimit -n",
		clients, need, lim.Cur, lim.Max)
}
