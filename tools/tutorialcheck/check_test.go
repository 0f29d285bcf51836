package tutorialcheck

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// root is the repository as the tests see it: testdata holds links to
// tutorial.md, the steps and tools/. go test re-runs a test when a file it
// read has changed, but only for files inside the test's own module; read
// through the links, an edit to the tutorial, a step or a tool's tests is
// never answered from the cache. (testdata/tools leads back to this
// module's parent, a loop for anything that follows links; go's ./...
// skips testdata and does not follow them.)
const root = "testdata"

// maxByHand is the share of the blocks that the transcript runs or checks
// that may be marked by hand instead.
const maxByHand = 0.10

func TestTutorialMatchesTheCode(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join(root, "tutorial.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range Check(string(doc), root) {
		t.Error("tutorial.md: " + p)
	}
}

func TestTutorialQuotesEveryStep(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join(root, "tutorial.md"))
	if err != nil {
		t.Fatal(err)
	}
	blocks, _ := Parse(string(doc))
	steps, _ := filepath.Glob(filepath.Join(root, "step*", "main.go"))
	if len(steps) < 4 {
		t.Fatalf("found %d steps, want 4", len(steps))
	}
	for _, main := range steps {
		want := filepath.ToSlash(strings.TrimPrefix(main, root+string(filepath.Separator)))
		n := 0
		for _, b := range blocks {
			if b.Path == want || b.Path2 == want {
				n++
			}
		}
		if n == 0 {
			t.Errorf("tutorial.md quotes nothing from %s", want)
		}
	}
}

// The check itself must catch drift: a small repository and a tutorial
// that disagree with it in every way the check knows.
func TestCheckFindsEveryKindOfDrift(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) {
		os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755)
		os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644)
	}
	write("step1-http/main.go", "package main\n\nfunc main() {\n\tprintln(\"hi\")\n}\n")
	write("step1-http/main_test.go", "package main\n\nfunc TestReal(t *testing.T) {}\n")
	write("step2-websocket/main.go", "package main\n\nimport \"os\"\n\nfunc main() {\n\tprintln(\"hello\")\n\tos.Exit(0)\n}\n")
	write("tools/e2e/e2e_test.go", "package e2e\n\nfunc TestTool(t *testing.T) {}\n")

	// Two hunks; the empty line is an empty context line.
	diff := " package main\n+\n+import \"os\"\n\n" +
		"@@ func main\n func main() {\n-\tprintln(\"hi\")\n+\tprintln(\"hello\")\n+\tos.Exit(0)\n }\n"
	good := "# Tutorial\n\n" +
		"```go step1-http/main.go\nfunc main() {\n\tprintln(\"hi\")\n}\n```\n\n" +
		"```sh\ngo run ./step1-http\ncd step1-http && go test ./...\n```\n\n" +
		"See `step1-http/main.go`; TestReal proves it.\n\n" +
		"```diff step1-http/main.go step2-websocket/main.go\n" + diff + "```\n\n" +
		"And `tools/e2e`, whose TestTool proves it.\n"
	if p := Check(good, dir); len(p) != 0 {
		t.Fatalf("a tutorial that agrees with the code: %q", p)
	}

	drifts := map[string]string{
		"a changed line":      strings.Replace(good, `println("hi")`, `println("hello")`, 1),
		"re-indented code":    strings.Replace(good, "\tprintln", "    println", 1),
		"a partial line":      strings.Replace(good, "func main() {\n\tprintln", "main() {\n\tprintln", 1),
		"a missing file":      strings.Replace(good, "go step1-http/main.go", "go step1-http/gone.go", 1),
		"a missing go run":    strings.Replace(good, "go run ./step1-http", "go run ./step9-nope", 1),
		"a missing cd":        strings.Replace(good, "cd step1-http", "cd step1", 1),
		"a missing path":      strings.Replace(good, "`step1-http/main.go`", "`step1-http/server.go`", 1),
		"a missing test":      strings.Replace(good, "TestReal", "TestImagined", 1),
		"an empty excerpt":    strings.Replace(good, "func main() {\n\tprintln(\"hi\")\n}\n```", "```", 1),
		"a missing tool":      strings.Replace(good, "`tools/e2e`", "`tools/e2e2`", 1),
		"a missing tool test": strings.Replace(good, "TestTool", "TestToolImagined", 1),

		"a diff of one file":          strings.Replace(good, "diff step1-http/main.go step2-websocket/main.go", "diff step1-http/main.go", 1),
		"a diff of a missing file":    strings.Replace(good, "diff step1-http/main.go step2-websocket/main.go", "diff step1-http/main.go step2-websocket/gone.go", 1),
		"a diff line without a mark":  strings.Replace(good, "+import \"os\"", "import \"os\"", 1),
		"a diff hunk with no changes": strings.Replace(good, "@@ func main\n", "@@\n func main() {\n@@ func main\n", 1),
		"an empty diff":               strings.Replace(good, diff, "", 1),
	}
	for what, doc := range drifts {
		if p := Check(doc, dir); len(p) == 0 {
			t.Errorf("%s went unnoticed", what)
		}
	}

	// A diff that drifts is reported with the side, A or B, that no longer
	// matches.
	diffDrifts := []struct{ what, doc, sides string }{
		{"a changed - line", strings.Replace(good, "-\tprintln(\"hi\")", "-\tprintln(\"bye\")", 1), "A"},
		{"a changed + line", strings.Replace(good, "+\tos.Exit(0)", "+\tos.Exit(1)", 1), "B"},
		{"a changed context line", strings.Replace(good, " func main() {", " func main(args) {", 1), "AB"},
		{"a + line that is A's", strings.Replace(good, "+\tprintln(\"hello\")", "+\tprintln(\"hi\")", 1), "B"},
	}
	for _, d := range diffDrifts {
		if got := sides(Check(d.doc, dir)); got != d.sides {
			t.Errorf("%s: reported for side %q, want %q", d.what, got, d.sides)
		}
	}
}

// sides tells which sides of a diff the problems say no longer match: "A",
// "B", "AB" or "".
func sides(problems []string) string {
	all, s := strings.Join(problems, "\n"), ""
	for _, side := range []string{"A", "B"} {
		if strings.Contains(all, "("+side+":") {
			s += side
		}
	}
	return s
}

// readTutorial reads tutorial.md through testdata, so that go test's cache
// notices an edit.
func readTutorial(t *testing.T) string {
	t.Helper()
	doc, err := os.ReadFile(filepath.Join(root, "tutorial.md"))
	if err != nil {
		t.Fatal(err)
	}
	return string(doc)
}

// The directives and blocks are well formed, and few enough are by hand.
func TestTranscriptIsWellFormed(t *testing.T) {
	events, problems := Transcript(readTutorial(t))
	for _, p := range problems {
		t.Error("tutorial.md: " + p)
	}
	blocks, byHand := Count(events)
	t.Logf("transcript: %d blocks run or checked, %d of them marked %s…)* (%.0f%%, at most %.0f%% may be)",
		blocks, byHand, ByHandTag, 100*float64(byHand)/float64(blocks), 100*maxByHand)
	if float64(byHand) > maxByHand*float64(blocks) {
		t.Errorf("tutorial.md: %d of %d blocks are marked %s…)*: more than %.0f%%", byHand, blocks, ByHandTag, 100*maxByHand)
	}
}

func TestSameLine(t *testing.T) {
	for _, c := range []struct {
		want, got string
		same      bool
	}{
		{"2026/12/02 09:00:00 listening on http://localhost:3459", "2027/01/31 23:59:59 listening on http://localhost:3459", true},
		{"2026/12/02 09:00:00 listening on http://localhost:3459", "2027/01/31 23:59:59 listening on http://localhost:3460", false},
		{"ok  \texample.com/x\t5.9s", "ok   example.com/x   0.412s", true},
		{"ok  \texample.com/x\t5.9s", "ok  \texample.com/x\t(cached)", true},
		{"--- FAIL: TestX (0.00s)", "--- FAIL: TestX (1.25s)", true},
		{"ok  \texample.com/x\t5.9s", "ok  \texample.com/x\tfast", false},
		{"Disconnected", "Disconnected. Reload the page to reconnect.", false},
		{"break in 5 minutes", "break in 6 minutes", false},
		{"signal: interrupt", "signal: interrupt", true},
	} {
		if got := SameLine(c.want, c.got); got != c.same {
			t.Errorf("SameLine(%q, %q) = %v, want %v", c.want, c.got, got, c.same)
		}
	}
	if found, end := Match([]string{"a", "c"}, []string{"a", "b", "c", "d"}); found != 2 || end != 3 {
		t.Errorf("Match in order with a line between: found %d, end %d; want 2, 3", found, end)
	}
	if found, _ := Match([]string{"c", "a"}, []string{"a", "b", "c"}); found != 1 {
		t.Errorf("Match out of order: found %d, want 1", found)
	}
}

// Directives and blocks that the transcript could not follow are reported
// at their line.
func TestTranscriptFindsBadDirectives(t *testing.T) {
	for doc, want := range map[string]string{
		"Text.<!--stop 3459-->\n":                           "line 1: unknown directive",
		"Text.<!--ctrl-c-->\n":                              "line 1: ctrl-c: wants",
		"<!--open http://localhost:3459--> and then text\n": "line 1: a line that starts with a directive",
		"Text.<!--type localhost:3459 #text hi-->\n":        "line 1: type: wants",
		"Text.<!--ready port-->\n":                          "line 1: ready: wants a port number",
		"Text <!-- open\nhttp://x -->\n":                    "line 1: an HTML comment must end on its line",
		"```text\nfloating\n```\n":                          "line 1: output with no shell block before it",
		"```sh\ncd step1-http && go test ./...\n```\n":      "line 2: the transcript runs `cd` only as a command of its own",
	} {
		_, problems := Transcript(doc)
		if all := strings.Join(problems, "\n"); !strings.Contains(all, want) {
			t.Errorf("%q: got %q, want %q", doc, all, want)
		}
	}
	events, problems := Transcript("Stop it.<!--ctrl-c 3459 3460-->\n\n*(by hand: your editor)*\n\n```sh\nvi x\n```\n\n```text\nsaved\n```\n")
	if len(problems) > 0 {
		t.Fatal(problems)
	}
	if blocks, byHand := Count(events); blocks != 2 || byHand != 2 {
		t.Errorf("a marked block and its output: counted %d blocks, %d by hand; want 2 and 2", blocks, byHand)
	}
}
