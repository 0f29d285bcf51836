package tutorialcheck

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// An Event is one thing the transcript does or checks, in the tutorial's
// order: a heading, a fenced block it runs or checks, or a directive.
type Event struct {
	Line int    // where it is in the tutorial, counting from 1
	Kind string // heading, shell, output, page, console, or a directive's verb
	// Args are a directive's words after its verb, a page block's URLs, an
	// output block's process name (none: the shell block before it), or a
	// heading's level ("2" for ##).
	Args []string
	Rest string // a directive's text after its verb, spaces kept
	Text string // a block's lines, each ending in "\n"; a heading's title
	// ByHand is a block marked *(by hand: why)*: not run, counted.
	ByHand bool
	// Shown tells, for a shell block, whether output blocks follow it
	// (before the next shell block or heading); a command whose output is
	// not shown must succeed.
	Shown bool
	// Ports are, for a shell block, the ports that it or the output shown
	// for it names: it needs them free when the transcript starts.
	Ports []int
}

// Verbs are the directives: what each one's arguments are.
var Verbs = map[string]string{
	"ctrl-c": "NAME... or all",
	"again":  "NAME",
	"ready":  "PORT",
	"answer": "PATCH",
	"edit":   "FILE",
	"open":   "URL...",
	"reload": "URL",
	"type":   "URL SELECTOR TEXT",
	"click":  "URL SELECTOR",
	"needs":  "PROGRAM",
}

// ByHandTag marks a block that the transcript cannot run unattended. It
// stands, with its reason, on the last line of prose before the block.
const ByHandTag = "*(by hand"

var (
	directive = regexp.MustCompile(`<!--(.*?)-->`)
	heading   = regexp.MustCompile(`^(#{1,6}) +(.*)$`)
	// portRef finds the ports a block names: localhost:N, --port N, or a
	// number of its own in a command (go run ./step3-redis 3460).
	portRef = regexp.MustCompile(`(?:localhost:|127\.0\.0\.1:|--port )(\d{4,5})\b|(?:^|\s)(\d{4,5})(?:\s|$)`)
)

// Transcript turns the tutorial into the events the transcript runs, and
// says what is wrong with its directives and blocks, one sentence each.
func Transcript(doc string) (events []Event, problems []string) {
	report := func(line int, format string, args ...any) {
		problems = append(problems, fmt.Sprintf("line %d: ", line)+fmt.Sprintf(format, args...))
	}
	lines := strings.Split(doc, "\n")
	blocks, _ := Parse(doc)
	next := 0       // the next block
	lastProse := "" // the last non-blank prose line
	for i := 0; i < len(lines); i++ {
		n := i + 1
		if next < len(blocks) && blocks[next].Line == n {
			b := blocks[next]
			next++
			i = n + strings.Count(b.Text, "\n") // the closing fence
			ev := Event{Line: b.Line, Text: b.Text, ByHand: strings.Contains(lastProse, ByHandTag)}
			switch {
			case b.Lang == "sh" || b.Lang == "bash" || b.Lang == "console":
				ev.Kind = "shell"
			case b.Lang == "text" && len(b.Info) > 0 && isURL(b.Info[0]):
				ev.Kind, ev.Args = "page", b.Info
			case b.Lang == "text":
				ev.Kind, ev.Args = "output", b.Info
			case b.Lang == "js" && len(b.Info) > 0 && isURL(b.Info[0]):
				ev.Kind, ev.Args = "console", b.Info
			default:
				continue // code to read: an excerpt, a diff
			}
			events = append(events, ev)
			lastProse = ""
			continue
		}
		line := lines[i]
		if strings.TrimSpace(line) != "" {
			lastProse = line
		}
		if m := heading.FindStringSubmatch(line); m != nil {
			events = append(events, Event{Line: n, Kind: "heading", Args: []string{strconv.Itoa(len(m[1]))}, Text: m[2]})
			continue
		}
		if t := strings.TrimSpace(line); strings.HasPrefix(t, "<!--") && !strings.HasSuffix(t, "-->") {
			// Markdown would print the rest of the line as raw HTML.
			report(n, "a line that starts with a directive must hold nothing else; put it after the words it stands for")
		}
		if strings.Contains(line, "<!--") && !strings.Contains(line[strings.Index(line, "<!--"):], "-->") {
			report(n, "an HTML comment must end on its line: the transcript reads each one as a directive")
		}
		for _, m := range directive.FindAllStringSubmatch(line, -1) {
			words := strings.Fields(m[1])
			if len(words) == 0 {
				report(n, "an empty directive")
				continue
			}
			verb := words[0]
			if _, ok := Verbs[verb]; !ok {
				report(n, "unknown directive %q (an HTML comment in the tutorial is a directive; see tools/tutorialcheck)", verb)
				continue
			}
			ev := Event{Line: n, Kind: verb, Args: words[1:], Rest: strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(m[1]), verb))}
			if p := checkDirective(ev); p != "" {
				report(n, "%s: %s", verb, p)
				continue
			}
			events = append(events, ev)
		}
	}

	// What each shell block shows, and the ports it needs.
	for i := range events {
		if events[i].Kind != "shell" {
			continue
		}
		text := events[i].Text
		for j := i + 1; j < len(events); j++ {
			e := events[j]
			if e.Kind == "shell" || e.Kind == "heading" {
				break
			}
			if e.Kind == "output" && len(e.Args) == 0 {
				events[i].Shown = true
				text += e.Text
			}
		}
		events[i].Ports = ports(text)
	}

	// Blocks that need a process or a block before them.
	var seenShell bool
	for _, e := range events {
		switch e.Kind {
		case "shell":
			seenShell = true
			for _, c := range Commands(e) {
				if strings.HasPrefix(c.Text, "cd ") && strings.ContainsAny(c.Text, ";&|") {
					report(c.Line, "the transcript runs `cd` only as a command of its own")
				}
			}
		case "output":
			if len(e.Args) == 0 && !seenShell {
				report(e.Line, "output with no shell block before it")
			}
			if len(e.Args) > 1 {
				report(e.Line, "an output block names one process: ```text NAME")
			}
		case "page", "console":
			for _, u := range e.Args {
				if !isURL(u) {
					report(e.Line, "a %s block names pages by URL, not %q", e.Kind, u)
				}
			}
		}
	}
	return events, problems
}

// checkDirective says what is wrong with a directive's arguments, or "".
func checkDirective(ev Event) string {
	a := ev.Args
	switch ev.Kind {
	case "ctrl-c", "open":
		if len(a) == 0 {
			return "wants " + Verbs[ev.Kind]
		}
	case "again", "answer", "edit", "needs":
		if len(a) != 1 {
			return "wants " + Verbs[ev.Kind]
		}
	case "ready":
		if len(a) != 1 {
			return "wants " + Verbs[ev.Kind]
		}
		if _, err := strconv.Atoi(a[0]); err != nil {
			return "wants a port number, not " + a[0]
		}
	case "reload":
		if len(a) != 1 || !isURL(a[0]) {
			return "wants " + Verbs[ev.Kind]
		}
	case "type":
		if len(a) < 3 || !isURL(a[0]) {
			return "wants " + Verbs[ev.Kind]
		}
	case "click":
		if len(a) < 2 || !isURL(a[0]) {
			return "wants " + Verbs[ev.Kind]
		}
	}
	if ev.Kind == "open" {
		for _, u := range a {
			if !isURL(u) {
				return "wants URLs, not " + u
			}
		}
	}
	return ""
}

func isURL(s string) bool { return strings.HasPrefix(s, "http://") || strings.HasPrefix(s, "https://") }

// ports finds the ports that text names.
func ports(text string) []int {
	var ps []int
	seen := map[int]bool{}
	for _, line := range strings.Split(text, "\n") {
		for _, m := range portRef.FindAllStringSubmatch(line, -1) {
			p, _ := strconv.Atoi(m[1] + m[2])
			if p >= 1024 && p <= 65535 && !seen[p] {
				seen[p] = true
				ps = append(ps, p)
			}
		}
	}
	return ps
}

// A Command is one line of a shell block, as a student types it.
type Command struct {
	Line int
	Text string
}

// Commands splits a shell block into its commands: one a line, without
// blank lines and comment lines; a line that ends in \ goes on on the next.
func Commands(e Event) []Command {
	var cmds []Command
	var cur *Command
	for i, line := range strings.Split(strings.TrimSuffix(e.Text, "\n"), "\n") {
		line = strings.TrimSpace(line)
		if cur != nil {
			cur.Text += " " + strings.TrimSuffix(line, "\\")
			if !strings.HasSuffix(line, "\\") {
				cmds, cur = append(cmds, *cur), nil
			}
			continue
		}
		line = strings.TrimPrefix(line, "$ ")
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		c := Command{Line: e.Line + 1 + i, Text: strings.TrimSuffix(line, "\\")}
		if strings.HasSuffix(line, "\\") {
			cur = &c
			continue
		}
		cmds = append(cmds, c)
	}
	if cur != nil {
		cmds = append(cmds, *cur)
	}
	for i := range cmds {
		cmds[i].Text = strings.TrimSpace(cmds[i].Text)
	}
	return cmds
}

// Program is the program a command runs: its first word after any
// VAR=value assignments.
func Program(cmd string) string {
	for _, w := range strings.Fields(cmd) {
		if !strings.Contains(w, "=") {
			return w
		}
	}
	return ""
}

// Count tells how many blocks the transcript runs or checks, and how many
// of them are marked by hand: a marked shell block's output blocks count
// as marked too.
func Count(events []Event) (blocks, byHand int) {
	handShell := false // the last shell block is marked
	for _, e := range events {
		switch e.Kind {
		case "heading":
			handShell = false
			continue
		case "shell":
			handShell = e.ByHand
		case "output", "page", "console":
		default:
			continue
		}
		blocks++
		if e.ByHand || e.Kind == "output" && len(e.Args) == 0 && handShell {
			byHand++
		}
	}
	return blocks, byHand
}

var (
	date     = regexp.MustCompile(`^\d{4}/\d\d/\d\d$`)
	clock    = regexp.MustCompile(`^\d\d:\d\d:\d\d(\.\d+)?$`)
	duration = regexp.MustCompile(`^\(?(\d+(\.\d+)?(h|m|s|ms|µs|us|ns))+\)?$`)
)

// SameLine reports whether an output or page line, got, is the line that
// the tutorial shows, want. Words are compared one by one, however much
// space is between them; a date, a time of day or a duration that the
// tutorial shows stands for any other (a duration also for "(cached)").
func SameLine(want, got string) bool {
	w, g := strings.Fields(want), strings.Fields(got)
	if len(w) != len(g) {
		return false
	}
	for i := range w {
		switch {
		case w[i] == g[i]:
		case date.MatchString(w[i]) && date.MatchString(g[i]):
		case clock.MatchString(w[i]) && clock.MatchString(g[i]):
		case duration.MatchString(w[i]) && (duration.MatchString(g[i]) || g[i] == "(cached)"):
		default:
			return false
		}
	}
	return true
}

// Match finds the lines that the tutorial shows, want, in got, in order,
// with any other lines between them. It returns how many of want it found,
// and the index in got after the last one found.
func Match(want, got []string) (found, end int) {
	for _, w := range want {
		i := end
		for i < len(got) && !SameLine(w, got[i]) {
			i++
		}
		if i == len(got) {
			return found, end
		}
		found, end = found+1, i+1
	}
	return found, end
}

// Lines splits text into its lines that have something on them.
func Lines(text string) []string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.TrimSpace(l) != "" {
			out = append(out, strings.TrimRight(l, " \t\r"))
		}
	}
	return out
}
