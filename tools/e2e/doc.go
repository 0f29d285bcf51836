// Package e2e tests the workshop's steps the way a participant uses them:
// it builds and starts each step's real server, opens its page in headless
// Chromium and chats through the page. Everything lives in the _test.go
// files; see README.md for how to run them.
package e2e
