//go:build unix

package tutorialcheck

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"
)

// fakeT records what the runner reports; Fatalf stops the run, as it
// stops a test.
type fakeT struct {
	t    *testing.T
	errs []string
}

type stopped struct{}

func (f *fakeT) Helper()                      {}
func (f *fakeT) Log(args ...any)              { f.t.Log(args...) }
func (f *fakeT) Logf(format string, a ...any) { f.t.Logf(format, a...) }
func (f *fakeT) Errorf(format string, a ...any) {
	f.errs = append(f.errs, fmt.Sprintf(format, a...))
}
func (f *fakeT) Fatalf(format string, a ...any) {
	f.Errorf(format, a...)
	panic(stopped{})
}
func (f *fakeT) TempDir() string { return f.t.TempDir() }

// runDoc runs the transcript of doc in a folder of its own, and returns
// what it reported.
func runDoc(t *testing.T, doc string) []string {
	t.Helper()
	events, problems := Transcript(doc)
	if len(problems) > 0 {
		return problems
	}
	f := &fakeT{t: t}
	r := newRunner(f, t.TempDir(), events)
	r.outputWait, r.pageWait = 3*time.Second, 3*time.Second
	func() {
		defer func() {
			if v := recover(); v != nil {
				if _, ok := v.(stopped); !ok {
					panic(v)
				}
			}
		}()
		defer r.stopAll()
		r.run(events)
	}()
	return append(f.errs, r.skips...)
}

// The runner must catch every kind of drift, each at the line that
// drifted: a tutorial that agrees with what runs, then the same tutorial
// changed in one place at a time.
func TestTranscriptCatchesDrift(t *testing.T) {
	// A page to look at; the port is the test server's own.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `<!DOCTYPE html><title>x</title><h1>Hello <small>there</small></h1>
<form><input id="text"></form><ul id="said"></ul>
<script>
document.forms[0].onsubmit = (e) => { e.preventDefault();
  const li = document.createElement("li"); li.textContent = "you said " + text.value; said.append(li); };
</script>`)
	}))
	defer srv.Close()
	url := srv.URL
	withPage := true
	if _, err := findChromium(); err != nil {
		withPage = false
		t.Logf("the page's part is left out: %v", err)
	}

	terminal := "# T\n\n" +
		"```sh\nprintf '2026/01/02 03:04:05 hello\\nok  \\tx\\t1.5s\\n'\n```\n\n" + // line 3
		"```text\n2026/12/02 09:00:00 hello\nok  \tx\t5.9s\n```\n\n" + // line 7
		"```sh\ntrue\n```\n\n" + // line 12
		"```sh\nsh -c 'trap \"echo bye; exit 0\" INT; echo Ready to accept connections; while :; do sleep 0.1; done' fakeserver\n```\n\n" + // line 16
		"Stop it.<!--ctrl-c fakeserver-->\n\n" + // line 20
		"```text\nbye\n```\n" // line 22
	page := "\n## Page\n\n" + // line 26
		"Open it.<!--open " + url + "--> Say hi.<!--type " + url + " #text hi-->\n\n" + // line 28
		"```text " + url + "\nHello there\nyou said hi\n```\n" // line 30
	good := terminal
	if withPage {
		good += page
	}
	if errs := runDoc(t, good); len(errs) != 0 {
		t.Fatalf("a tutorial that agrees with what runs:\n%s", strings.Join(errs, "\n"))
	}

	// Each drift changes the first old in the tutorial to new, and must be
	// reported at line. The page is left out where it plays no part: each
	// run with a page starts a browser.
	drifts := []struct {
		what, old, new, line string
		page                 bool
	}{
		{"a changed output line", "09:00:00 hello\n", "09:00:00 hullo\n", "tutorial.md:8:", false},
		{"a changed command", "03:04:05 hello", "03:04:05 hullo", "tutorial.md:8:", false},
		{"a duration for a word", "\t5.9s\n", "\tfast\n", "tutorial.md:9:", false},
		{"output after Ctrl-C", "bye\n```", "bye bye\n```", "tutorial.md:23:", false},
		{"a server with another name", "ctrl-c fakeserver", "ctrl-c fake", "tutorial.md:20:", false},
		{"a command that fails, its output not shown", "```sh\ntrue\n", "```sh\nfalse\n", "tutorial.md:13:", false},
		{"an unknown directive", "<!--ctrl-c fakeserver-->", "<!--stop fakeserver-->", "line 20:", false},
		{"a changed page line", "you said hi\n", "you said hello\n", "tutorial.md:32:", true},
		{"a page line cut short", "Hello there\n", "Hello\n", "tutorial.md:31:", true},
	}
	for _, d := range drifts {
		t.Run(d.what, func(t *testing.T) {
			doc := terminal
			if d.page {
				if !withPage {
					t.Skip("no browser")
				}
				doc += page
			}
			if !strings.Contains(doc, d.old) {
				t.Fatalf("the tutorial has no %q", d.old)
			}
			errs := runDoc(t, strings.Replace(doc, d.old, d.new, 1))
			all := strings.Join(errs, "\n")
			if len(errs) == 0 {
				t.Fatalf("went unnoticed")
			}
			if !regexp.MustCompile(d.line).MatchString(all) {
				t.Errorf("reported, but not at %s:\n%s", d.line, all)
			}
		})
	}
}
