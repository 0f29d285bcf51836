// Command solution puts a step's reference answer to an exercise in place,
// keeping your own attempt aside, and gives your attempt back afterwards.
// From the repository root:
//
//	go run ./tools/solution step1-http TestExerciseHealthCheck   the answer in, your attempt aside
//	go run ./tools/solution -back step1-http                      your attempt back, the answer out
//
// It uses git: your attempt (changed and new files of that step only) goes
// into a stash named after the step, and -back takes exactly that stash,
// never another step's. A step with no changes of yours stashes nothing,
// and -back then just puts the step back as it came. Applying a second
// answer to the same step replaces the first; your attempt stays aside.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

func main() {
	os.Exit(run(os.Args[1:], ".", os.Stdout, os.Stderr))
}

const usage = `usage: go run ./tools/solution STEP TEST   (the reference answer to TEST in STEP; your attempt aside)
       go run ./tools/solution -back STEP  (your attempt back in STEP; the answer out)`

// run is the command, in dir; it returns the exit status.
func run(args []string, dir string, out, errOut io.Writer) int {
	fs := flag.NewFlagSet("solution", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	back := fs.Bool("back", false, "")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(out, usage)
			return 0
		}
		fmt.Fprintln(errOut, usage)
		return 2
	}
	if (*back && fs.NArg() != 1) || (!*back && fs.NArg() != 2) {
		fmt.Fprintln(errOut, usage)
		return 2
	}
	g, err := newRepo(dir)
	if err == nil {
		step := strings.Trim(filepath.ToSlash(filepath.Clean(fs.Arg(0))), "/")
		if *back {
			err = g.back(step, out)
		} else {
			err = g.apply(step, strings.TrimSuffix(filepath.Base(fs.Arg(1)), ".patch"), out)
		}
	}
	if err != nil {
		fmt.Fprintln(errOut, "solution:", err)
		return 1
	}
	return 0
}

// repo is the git checkout the command works in.
type repo struct{ root string }

func newRepo(dir string) (*repo, error) {
	root, err := git(dir, "rev-parse", "--show-toplevel")
	if err != nil {
		return nil, errors.New("this needs git, and a clone of the workshop (from a zip: copy the step's folder aside yourself, then apply the patch by hand)")
	}
	return &repo{root: root}, nil
}

func (g *repo) git(args ...string) (string, error) { return git(g.root, args...) }

// stashName names the stash that holds a step's attempt.
func stashName(step string) string { return "pubsub-chat attempt: " + step }

// marker is a file, inside .git, that says which answer this command put in a step.
func (g *repo) marker(step string) (string, error) {
	p, err := g.git("rev-parse", "--git-path", "pubsub-chat-solution-"+strings.ReplaceAll(step, "/", "-"))
	if err == nil && !filepath.IsAbs(p) {
		p = filepath.Join(g.root, p)
	}
	return p, err
}

func (g *repo) apply(step, test string, out io.Writer) error {
	patch := filepath.Join(step, "solutions", test+".patch")
	if _, err := os.Stat(filepath.Join(g.root, patch)); err != nil {
		return fmt.Errorf("no %s (the patches are named after the exercises' tests: ls %s/solutions)", patch, step)
	}
	marker, err := g.marker(step)
	if err != nil {
		return err
	}
	if prev, err := os.ReadFile(marker); err == nil {
		// The step holds an answer this command put there: drop it.
		if err := g.reset(step); err != nil {
			return err
		}
		fmt.Fprintf(out, "%s: the answer to %s is out\n", step, strings.TrimSpace(string(prev)))
	} else if changed, err := g.git("status", "--porcelain", "--", step); err != nil {
		return err
	} else if changed != "" {
		if _, err := g.git("stash", "push", "--include-untracked", "-m", stashName(step), "--", step); err != nil {
			return err
		}
		fmt.Fprintf(out, "%s: your attempt is kept aside (git stash %q)\n", step, stashName(step))
	}
	if _, err := g.git("apply", patch); err != nil {
		return fmt.Errorf("%v\n(%s is as it came; get your attempt back with: go run ./tools/solution -back %s)", err, step, step)
	}
	if err := os.WriteFile(marker, []byte(test+"\n"), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(out, "%s: the reference answer to %s is in; your attempt comes back with: go run ./tools/solution -back %s\n", step, test, step)
	return nil
}

func (g *repo) back(step string, out io.Writer) error {
	marker, err := g.marker(step)
	if err != nil {
		return err
	}
	if _, err := os.Stat(marker); err != nil {
		if changed, _ := g.git("status", "--porcelain", "--", step); changed != "" {
			return fmt.Errorf("%s holds changes that are not an answer this command put there: nothing done", step)
		}
	}
	if err := g.reset(step); err != nil {
		return err
	}
	os.Remove(marker)
	list, err := g.git("stash", "list", "--format=%gd %s")
	if err != nil {
		return err
	}
	for _, line := range strings.Split(list, "\n") {
		ref, subject, _ := strings.Cut(line, " ")
		if strings.HasSuffix(subject, ": "+stashName(step)) {
			if _, err := g.git("stash", "pop", ref); err != nil {
				return err
			}
			fmt.Fprintf(out, "%s: your attempt is back\n", step)
			return nil
		}
	}
	fmt.Fprintf(out, "%s: as it came (you had no attempt aside)\n", step)
	return nil
}

// reset puts the step back as it came: changed files restored, new ones removed.
func (g *repo) reset(step string) error {
	if _, err := g.git("checkout", "--", step); err != nil {
		return err
	}
	_, err := g.git("clean", "-fdq", "--", step)
	return err
}

func git(dir string, args ...string) (string, error) {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("git %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return strings.TrimSpace(string(out)), nil
}
