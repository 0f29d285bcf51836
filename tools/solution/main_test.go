package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// newCheckout makes a git repository with two steps, each with a main.go and
// a solution patch that changes it and adds a file.
func newCheckout(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not installed")
	}
	dir := t.TempDir()
	for _, step := range []string{"step1-http", "step2-websocket"} {
		write(t, dir, step+"/main.go", "package main\n\nfunc main() {}\n")
		write(t, dir, step+"/solutions/TestExerciseX.patch", `The answer.

diff --git a/`+step+`/main.go b/`+step+`/main.go
--- a/`+step+`/main.go
+++ b/`+step+`/main.go
@@ -1,3 +1,3 @@
 package main
 
-func main() {}
+func main() { println("answer") }
diff --git a/`+step+`/answer.go b/`+step+`/answer.go
new file mode 100644
--- /dev/null
+++ b/`+step+`/answer.go
@@ -0,0 +1 @@
+package main
`)
	}
	for _, args := range [][]string{{"init", "-q"}, {"add", "-A"},
		{"-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "workshop"}} {
		if _, err := git(dir, args...); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func write(t *testing.T, dir, name, text string) {
	t.Helper()
	p := filepath.Join(dir, name)
	os.MkdirAll(filepath.Dir(p), 0o755)
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

func read(t *testing.T, dir, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		return "<none>"
	}
	return string(b)
}

func solution(t *testing.T, dir string, args ...string) string {
	t.Helper()
	var out, errOut strings.Builder
	if code := run(args, dir, &out, &errOut); code != 0 {
		t.Fatalf("solution %q: exit %d: %s", args, code, errOut.String())
	}
	return out.String()
}

func TestAnAttemptIsKeptAsideAndComesBack(t *testing.T) {
	dir := newCheckout(t)
	write(t, dir, "step1-http/main.go", "package main\n\nfunc main() { /* mine */ }\n")
	write(t, dir, "step1-http/mine.go", "package main\n")
	write(t, dir, "step2-websocket/main.go", "package main\n\n// step 2, mine\nfunc main() {}\n")

	solution(t, dir, "step1-http", "TestExerciseX")
	if got := read(t, dir, "step1-http/main.go"); !strings.Contains(got, "answer") {
		t.Fatalf("after apply, main.go = %q", got)
	}
	if got := read(t, dir, "step1-http/mine.go"); got != "<none>" {
		t.Errorf("after apply, the attempt's new file is still there: %q", got)
	}
	// A second answer replaces the first; the attempt stays aside.
	solution(t, dir, "step1-http/", "step1-http/solutions/TestExerciseX.patch")

	solution(t, dir, "-back", "step1-http")
	if got := read(t, dir, "step1-http/main.go"); !strings.Contains(got, "mine") {
		t.Errorf("after -back, main.go = %q, want the attempt", got)
	}
	if got := read(t, dir, "step1-http/mine.go"); got == "<none>" {
		t.Errorf("after -back, the attempt's new file is missing")
	}
	if got := read(t, dir, "step1-http/answer.go"); got != "<none>" {
		t.Errorf("after -back, the answer's new file is still there")
	}
	if got := read(t, dir, "step2-websocket/main.go"); !strings.Contains(got, "step 2, mine") {
		t.Errorf("another step's changes were touched: %q", got)
	}
}

// With nothing to keep aside, nothing is stashed, and -back pops nobody
// else's stash: the other step's attempt stays where it is.
func TestNoAttemptNoStashAndOthersUntouched(t *testing.T) {
	dir := newCheckout(t)
	write(t, dir, "step2-websocket/main.go", "package main\n\n// step 2, mine\nfunc main() {}\n")
	solution(t, dir, "step2-websocket", "TestExerciseX") // step 2's attempt aside

	out := solution(t, dir, "step1-http", "TestExerciseX")
	if strings.Contains(out, "kept aside") {
		t.Errorf("an unchanged step said it kept an attempt aside: %q", out)
	}
	if out := solution(t, dir, "-back", "step1-http"); !strings.Contains(out, "as it came") {
		t.Errorf("-back: %q", out)
	}
	if got := read(t, dir, "step1-http/main.go"); got != "package main\n\nfunc main() {}\n" {
		t.Errorf("step 1 after -back = %q, want it as it came", got)
	}
	solution(t, dir, "-back", "step2-websocket")
	if got := read(t, dir, "step2-websocket/main.go"); !strings.Contains(got, "step 2, mine") {
		t.Errorf("step 2's attempt after its -back = %q", got)
	}
}

func TestBadUseIsRefused(t *testing.T) {
	dir := newCheckout(t)
	for _, tc := range []struct {
		args []string
		code int
	}{
		{nil, 2},
		{[]string{"step1-http"}, 2},
		{[]string{"-back"}, 2},
		{[]string{"-nope", "x"}, 2},
		{[]string{"step1-http", "TestExerciseNone"}, 1},
		{[]string{"step9", "TestExerciseX"}, 1},
	} {
		var out, errOut strings.Builder
		if code := run(tc.args, dir, &out, &errOut); code != tc.code || errOut.Len() == 0 {
			t.Errorf("%q: exit %d, stderr %q; want exit %d and a reason", tc.args, code, errOut.String(), tc.code)
		}
	}
	// -back refuses to throw away changes it did not make.
	write(t, dir, "step1-http/main.go", "package main\n\nfunc main() { /* mine */ }\n")
	var out, errOut strings.Builder
	if code := run([]string{"-back", "step1-http"}, dir, &out, &errOut); code != 1 {
		t.Errorf("-back over an attempt: exit %d", code)
	}
	if got := read(t, dir, "step1-http/main.go"); !strings.Contains(got, "mine") {
		t.Errorf("-back threw the attempt away: %q", got)
	}
	if code := run([]string{"-h"}, dir, &out, &errOut); code != 0 || !strings.Contains(out.String(), "usage") {
		t.Errorf("-h: exit %d, %q", code, out.String())
	}
}
