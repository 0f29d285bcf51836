//go:build !(linux || darwin)

package main

// ensureFileLimit does nothing here: the limit, if any, shows as dial errors.
func ensureFileLimit(clients int) error { return nil }
