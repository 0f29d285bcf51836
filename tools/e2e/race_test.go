//go:build race

package e2e

// raceEnabled is true when the tests run with -race; the step servers are
// then built with -race too, so a data race in a server fails the test.
const raceEnabled = true
