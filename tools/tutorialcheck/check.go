// Package tutorialcheck keeps tutorial.md true to the code: its test fails
// when an excerpt no longer appears verbatim in the file it names, when a
// diff no longer matches the two files it names, or when a path, command or
// test the tutorial names does not exist; and its transcript runs every
// command of the tutorial, as a student would, and fails when what the
// tutorial shows is not what appears.
//
// An excerpt is a fenced code block whose info string is a language and a
// repository-relative path:
//
//	```go step2-websocket/main.go
//	func (c *client) signal() {
//	...
//	```
//
// Its lines must stand, exactly and together, in that file.
//
// A diff is a fenced code block whose info string is diff and two
// repository-relative paths, A and B, and whose lines are marked as in a
// unified diff:
//
//	```diff step2-websocket/main.go step3-redis/main.go
//	 	"log"
//	+	"os/signal"
//	@@ any text, or none
//	 func main() {
//	-	hub := newHub()
//	+	hub := newHub(rdb)
//	```
//
// A line that starts with a space is context, one that starts with - is
// only in A, one that starts with + only in B; an empty line is an empty
// context line (editors strip trailing spaces). A line that starts with @@
// begins a new hunk. Each hunk must have a - or + line (else it is an
// excerpt), its context and - lines must stand, exactly and together, in
// A, and its context and + lines in B.
//
// The paths that the prose names in backquotes are checked too: the steps'
// folders, tools/ and .ci/, and whatever is in them.
//
// # The transcript
//
// TestTranscript runs the tutorial as a student would, and checks that
// what it shows is what appears, in the terminal and in the page. It runs
// in a copy of the repository, a git repository with one commit as a fresh
// clone is, in the same temporary folder from run to run, so that go's
// caches answer for what has not changed (a step's go test then says
// "(cached)").
//
// A shell block (sh) runs command by command (one a line; blank lines and
// # comments are skipped; a line that ends in \ goes on), each in bash, in
// a process group of its own, from the repository root. A line `cd DIR`
// moves the commands after it, as in a terminal. A command runs until it
// exits, or until it prints a ready line: "listening on http://…", or
// Redis's "Ready to accept connections". It is then a server: it runs on in
// the background, and must be the last command of its block. A command
// whose output the tutorial does not show must exit with status 0.
//
// An output block (text) shows what the shell block before it printed: each
// line it shows must appear, in order, though lines it does not show may
// come between. Words are compared one by one, however much space is
// between them; a date and a time of day (2026/12/02 09:00:00) and a
// duration (5.9s, (0.00s)) stand for any other, a duration also for
// (cached). Of a server, a block shows what it printed after what earlier
// blocks showed of it, and the transcript waits for it. An output block
// whose info string names a server shows more of that server's output:
//
//	```text 3460
//
// A page block shows what every tab open on each URL of its info string
// shows, line by line, compared as output: the page's text as a reader sees
// it (its innerText: no hidden element, no text that CSS adds). A console
// block (js) runs in the first tab open on its URL, as typed in the
// browser's console:
//
//	```text http://localhost:3459 http://localhost:3460
//	```js http://localhost:3459
//
// A server is called by any word of its command, and by the port of its
// ready line: `go run ./step2-websocket` is also 3459. At each ## heading,
// the tabs are closed: a chapter opens its own.
//
// Directives are HTML comments, each on one line, put where the prose tells
// the student to do what they do. They are actions only: what is checked
// is what the tutorial shows.
//
//	<!--ctrl-c NAME...-->     Ctrl-C: SIGINT to each server's process group, which
//	                          reaches the server that `go run` started; waits for it to exit
//	<!--ctrl-c all-->         Ctrl-C to every server still running
//	<!--again NAME-->         the stopped server NAME's command, run again
//	<!--ready PORT-->         the next block's server is ready when PORT takes
//	                          connections (for one that prints no ready line: nginx)
//	<!--answer PATCH-->       the student's answer to an exercise: PATCH applied to its
//	                          clean step for the next block, and the step put back after it
//	<!--edit FILE-->          the student's own change: a comment line added to FILE
//	<!--open URL...-->        a new tab on each URL
//	<!--reload URL-->         every tab on URL reloaded
//	<!--type URL SEL TEXT-->  TEXT typed in the field SEL of the first tab on URL, and Enter
//	<!--click URL SEL-->      a click on SEL (CSS, spaces allowed) in the first tab on URL
//	<!--needs PROGRAM-->      the part up to the next heading needs PROGRAM, which none of
//	                          its commands names (tools/drill starts a redis-server)
//
// A load balancer and a drill tool run the same way: a server that says
// "listening on", a command whose output the tutorial shows; nginx, which
// prints nothing, after <!--ready PORT-->; a Redis Cluster, as its servers
// and the command that joins them.
//
// A block that cannot run unattended (an editor, a click the transcript
// cannot make) is marked on the line of prose before it with
// *(by hand: why)*. It is not run, and counted, with the output blocks of
// a marked shell block; more than 10% of the blocks marked is a failure.
//
// A part of the tutorial that needs what is not there (a port that it uses,
// taken before the transcript started; Chromium; a program such as
// redis-server) is skipped up to the next heading, with the reason, and the
// servers started before it are stopped. TRANSCRIPT_REQUIRE=1 (CI sets it)
// makes that a failure.
package tutorialcheck

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// Block is one fenced code block of the tutorial.
type Block struct {
	Line  int      // where the opening fence is, counting from 1
	Lang  string   // the first word of the info string
	Path  string   // the second word: the file it quotes (for a diff, A), or ""
	Path2 string   // for a diff, the third word: the file B, or ""
	Info  []string // every word of the info string after the first
	Text  string   // the lines between the fences, each ending in "\n"
}

// Parse splits a Markdown document into its fenced code blocks and the
// prose between them.
func Parse(doc string) (blocks []Block, prose string) {
	var (
		in    *Block
		fence string
		pr    strings.Builder
	)
	sc := bufio.NewScanner(strings.NewReader(doc))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		trimmed := strings.TrimLeft(line, " ")
		switch {
		case in == nil && (strings.HasPrefix(trimmed, "```") || strings.HasPrefix(trimmed, "~~~")):
			fence = trimmed[:3]
			fields := strings.Fields(trimmed[3:])
			in = &Block{Line: n}
			if len(fields) > 0 {
				in.Lang, in.Info = fields[0], fields[1:]
			}
			if len(fields) > 1 {
				in.Path = fields[1]
			}
			if len(fields) > 2 && in.Lang == "diff" {
				in.Path2 = fields[2]
			}
		case in != nil && strings.HasPrefix(trimmed, fence) && strings.Trim(trimmed, fence[:1]) == "":
			blocks = append(blocks, *in)
			in = nil
		case in != nil:
			in.Text += line + "\n"
		default:
			pr.WriteString(line + "\n")
		}
	}
	return blocks, pr.String()
}

var (
	// repoPath matches what prose names as a file or folder of the repository.
	repoPath = regexp.MustCompile("`((?:step[0-9]-[a-z0-9-]+|tools|\\.ci)(?:/[A-Za-z0-9_./-]*)?)`")
	// testName matches a Go test, fuzz test or benchmark by name.
	testName = regexp.MustCompile(`\b(?:Test|Fuzz|Benchmark)[A-Z][A-Za-z0-9_]*`)
	// goRun and cd find the folders that shell commands name.
	goRun = regexp.MustCompile(`\bgo run (\./[A-Za-z0-9_./-]+)`)
	cd    = regexp.MustCompile(`(?:^|&&|;)\s*cd ([^\s;&]+)`)
)

// Check compares the tutorial with the repository at root and returns
// every disagreement, one sentence each.
func Check(tutorial, root string) []string {
	var problems []string
	report := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	blocks, prose := Parse(tutorial)

	for _, b := range blocks {
		switch {
		case b.Lang == "diff" && b.Path != "":
			problems = append(problems, checkDiff(b, root)...)
		case b.Path != "" && b.Lang != "text" && b.Lang != "js":
			// (text and js blocks name what the transcript shows or runs
			// them in: a process or a page; see transcript.go.)
			problems = append(problems, checkExcerpt(b, root)...)
		}
		if b.Lang == "sh" || b.Lang == "bash" || b.Lang == "console" {
			problems = append(problems, checkCommands(b, root)...)
		}
	}

	for _, m := range repoPath.FindAllStringSubmatch(prose, -1) {
		if _, err := os.Stat(filepath.Join(root, m[1])); err != nil {
			report("the tutorial names %s, which does not exist", m[1])
		}
	}

	declared := declaredTests(root)
	seen := map[string]bool{}
	for _, name := range testName.FindAllString(tutorial, -1) {
		if !seen[name] && !declared[name] {
			report("the tutorial names %s, which no _test.go file declares", name)
		}
		seen[name] = true
	}
	return problems
}

// checkExcerpt checks that an excerpt's lines stand, exactly and together,
// in the file it names.
func checkExcerpt(b Block, root string) []string {
	data, err := os.ReadFile(filepath.Join(root, b.Path))
	if err != nil {
		return []string{fmt.Sprintf("line %d: the excerpt names %s, which does not exist", b.Line, b.Path)}
	}
	if b.Text == "" || !appears(b.Text, string(data)) {
		return []string{fmt.Sprintf("line %d: the excerpt no longer appears verbatim in %s", b.Line, b.Path)}
	}
	return nil
}

// appears reports whether the lines of excerpt stand in text exactly and
// together: whole lines, in order, none between them.
func appears(excerpt, text string) bool {
	return strings.Contains("\n"+text, "\n"+excerpt)
}

// hunk is one part of a diff block: the lines it shows of file A (context
// and - lines) and of file B (context and + lines).
type hunk struct {
	line    int    // where it starts in the tutorial
	textA   string // its lines in A, each ending in "\n"
	textB   string // its lines in B, each ending in "\n"
	changes int    // how many - and + lines it has
}

// checkDiff checks that a diff block names two files, that each of its
// hunks changes something, and that each hunk's lines stand, exactly and
// together, in A (context and - lines) and in B (context and + lines).
func checkDiff(b Block, root string) []string {
	if b.Path2 == "" {
		return []string{fmt.Sprintf("line %d: the diff names one file, %s; it must name two", b.Line, b.Path)}
	}
	var problems []string
	report := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	dataA, errA := os.ReadFile(filepath.Join(root, b.Path))
	if errA != nil {
		report("line %d: the diff names %s, which does not exist", b.Line, b.Path)
	}
	dataB, errB := os.ReadFile(filepath.Join(root, b.Path2))
	if errB != nil {
		report("line %d: the diff names %s, which does not exist", b.Line, b.Path2)
	}
	hunks, bad := parseHunks(b)
	problems = append(problems, bad...)
	if errA != nil || errB != nil || len(bad) > 0 {
		return problems
	}
	if len(hunks) == 0 {
		report("line %d: the diff is empty", b.Line)
	}
	for _, h := range hunks {
		if h.changes == 0 {
			report("line %d: the diff's hunk at line %d has no - or + line; quote it as an excerpt instead", b.Line, h.line)
			continue
		}
		if !appears(h.textA, string(dataA)) {
			report("line %d: the diff's hunk at line %d no longer appears in %s (A: its context and - lines)", b.Line, h.line, b.Path)
		}
		if !appears(h.textB, string(dataB)) {
			report("line %d: the diff's hunk at line %d no longer appears in %s (B: its context and + lines)", b.Line, h.line, b.Path2)
		}
	}
	return problems
}

// parseHunks splits a diff block into its hunks. A line that starts with a
// space is context, with - only in A, with + only in B; an empty line is an
// empty context line; a line that starts with @@ begins a new hunk. Any
// other line is a problem.
func parseHunks(b Block) (hunks []hunk, problems []string) {
	if b.Text == "" {
		return nil, nil
	}
	for i, line := range strings.Split(strings.TrimSuffix(b.Text, "\n"), "\n") {
		n := b.Line + 1 + i
		if strings.HasPrefix(line, "@@") {
			hunks = append(hunks, hunk{line: n})
			continue
		}
		if len(hunks) == 0 {
			hunks = append(hunks, hunk{line: n})
		}
		h := &hunks[len(hunks)-1]
		switch {
		case line == "":
			h.textA += "\n"
			h.textB += "\n"
		case line[0] == ' ':
			h.textA += line[1:] + "\n"
			h.textB += line[1:] + "\n"
		case line[0] == '-':
			h.textA += line[1:] + "\n"
			h.changes++
		case line[0] == '+':
			h.textB += line[1:] + "\n"
			h.changes++
		default:
			problems = append(problems, fmt.Sprintf("line %d: a diff line must start with a space, -, + or @@", n))
		}
	}
	return hunks, problems
}

// checkCommands follows the cd commands of one shell block and checks that
// every folder they and `go run` name exists.
func checkCommands(b Block, root string) []string {
	var problems []string
	dir := root
	for i, line := range strings.Split(b.Text, "\n") {
		line = strings.TrimPrefix(strings.TrimSpace(line), "$ ")
		for _, m := range cd.FindAllStringSubmatch(line, -1) {
			next := filepath.Join(dir, m[1])
			if st, err := os.Stat(next); err != nil || !st.IsDir() {
				problems = append(problems, fmt.Sprintf("line %d: `cd %s`: no such folder", b.Line+1+i, m[1]))
				continue
			}
			dir = next
		}
		for _, m := range goRun.FindAllStringSubmatch(line, -1) {
			if st, err := os.Stat(filepath.Join(dir, m[1])); err != nil || !st.IsDir() {
				problems = append(problems, fmt.Sprintf("line %d: `go run %s`: no such folder", b.Line+1+i, m[1]))
			}
		}
	}
	return problems
}

// declaredTests finds every test, fuzz test and benchmark in the steps and
// the tools (the folders just under root and just under root/tools; links
// to folders count too).
func declaredTests(root string) map[string]bool {
	names := map[string]bool{}
	decl := regexp.MustCompile(`(?m)^func ((?:Test|Fuzz|Benchmark)[A-Z][A-Za-z0-9_]*)\(`)
	steps, _ := filepath.Glob(filepath.Join(root, "*", "*_test.go"))
	tools, _ := filepath.Glob(filepath.Join(root, "tools", "*", "*_test.go"))
	for _, path := range append(steps, tools...) {
		data, _ := os.ReadFile(path)
		for _, m := range decl.FindAllStringSubmatch(string(data), -1) {
			names[m[1]] = true
		}
	}
	return names
}
