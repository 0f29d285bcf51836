//go:build !unix

package tutorialcheck

import "testing"

// The transcript runs the tutorial's commands in a Unix shell, and stops
// servers as Ctrl-C does, with SIGINT to their process group.
func TestTranscript(t *testing.T) {
	t.Skip("the transcript runs the tutorial's Unix shell commands: run it on Linux or macOS, or in WSL")
}
