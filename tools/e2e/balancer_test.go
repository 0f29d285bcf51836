package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/alicebob/miniredis/v2"
	"github.com/chromedp/chromedp"
)

// Step 4 behind a load balancer, as in the chapter "Going to production":
// three instances sharing one Redis, and the pages opened through the
// balancer, which hands each new connection to the next instance in turn.
// The same test runs behind the workshop's own balancer, tools/lb, and
// behind nginx with tools/lb/nginx.conf.

const (
	// defaultNginx is where Debian's nginx package installs it.
	defaultNginx = "/usr/sbin/nginx"

	// nginxEnv names another nginx binary to use.
	nginxEnv = "NGINX"

	// requireNginxEnv set to "1" turns a missing nginx from a skip into a
	// failure, as E2E_REQUIRE_BROWSER does for the browser.
	requireNginxEnv = "E2E_REQUIRE_NGINX"
)

// balancer is a load balancer in front of step-4 instances.
type balancer struct {
	*server
	// wsLog returns the ports of the instances that the balancer's log
	// says user's WebSockets went to, in order. tools/lb logs each one
	// when it opens; nginx, when it closes (opensLogged is false).
	wsLog       func(user string) []string
	opensLogged bool
}

// TestStep4BehindLB runs three step-4 instances behind tools/lb: see
// chatBehind.
func TestStep4BehindLB(t *testing.T) {
	skipUnlessPresent(t, step4)
	skipUnlessPresent(t, lbTool)
	chromium := needChromium(t)
	redis := miniredis.RunT(t)
	instances := startInstances(t, redis)

	// As a person runs it: lb PORT BACKEND_PORT...
	bin := buildStep(t, lbTool)
	port := freePort(t)
	args := []string{fmt.Sprint(port)}
	for _, in := range instances {
		args = append(args, fmt.Sprint(in.port))
	}
	lb := &balancer{server: startCommand(t, fmt.Sprintf("lb :%d", port), port, bin, args), opensLogged: true}
	// One line per connection: "GET /ws?name=bob -> localhost:PORT".
	lb.wsLog = func(user string) []string {
		return matchAll(lb.output.String(), `GET /ws\?name=`+user+` -> localhost:(\d+)\n`)
	}
	chatBehind(t, chromium, lb, instances)
}

// TestStep4BehindNginx runs three step-4 instances behind nginx, started
// with tools/lb/nginx.conf as the chapter says: see chatBehind. The file
// names the ports a person uses (8080 for nginx, 3459 to 3461 for the
// instances); the test runs a copy with its own free ports put in their
// place, so that the file it tests is the one shipped.
func TestStep4BehindNginx(t *testing.T) {
	skipUnlessPresent(t, step4)
	nginx := needNginx(t)
	chromium := needChromium(t)
	redis := miniredis.RunT(t)
	instances := startInstances(t, redis)

	// Read through the link testdata/lb, so that go test's cache sees the
	// file change (see readSources).
	if err := readSources(lbTool); err != nil {
		t.Fatal(err)
	}
	shipped, err := os.ReadFile(filepath.Join(lbTool.link(), "nginx.conf"))
	if err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	conf := string(shipped)
	for from, to := range map[string]string{
		"listen 127.0.0.1:8080;": fmt.Sprintf("listen 127.0.0.1:%d;", port),
		"server 127.0.0.1:3459;": fmt.Sprintf("server 127.0.0.1:%d;", instances[0].port),
		"server 127.0.0.1:3460;": fmt.Sprintf("server 127.0.0.1:%d;", instances[1].port),
		"server 127.0.0.1:3461;": fmt.Sprintf("server 127.0.0.1:%d;", instances[2].port),
	} {
		if n := strings.Count(conf, from); n != 1 {
			t.Fatalf("tools/lb/nginx.conf has %q %d times, want once: the test puts its own port there", from, n)
		}
		conf = strings.Replace(conf, from, to, 1)
	}

	// nginx's folder (-p): its configuration, pid, logs and temporary
	// files. Not t.TempDir, which only its owner may enter: when the test
	// runs as root, nginx's workers run as nobody.
	dir, err := os.MkdirTemp("", "e2e-nginx-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) }) // registered first, so it runs after nginx stops
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	confPath := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			for _, name := range []string{"error.log", "access.log"} {
				data, _ := os.ReadFile(filepath.Join(dir, name))
				t.Logf("nginx's %s:\n%s", name, indent(string(data)))
			}
		}
	})
	// The command README gives, with the test's folder and configuration.
	args := []string{"-p", dir, "-c", confPath, "-e", "stderr", "-g", "daemon off;"}
	front := &balancer{server: startCommand(t, fmt.Sprintf("nginx :%d", port), port, nginx, args)}
	// access.log has one line per request, written when it ends:
	// "... GET /ws?name=bob -> 127.0.0.1:PORT 101", or with every instance
	// tried, "-> 127.0.0.1:PORT1, 127.0.0.1:PORT2 101": the last one took it.
	front.wsLog = func(user string) []string {
		data, err := os.ReadFile(filepath.Join(dir, "access.log"))
		if err != nil {
			t.Fatalf("reading nginx's access.log: %v", err)
		}
		return matchAll(string(data), `GET /ws\?name=`+user+` -> (?:\S+, )*127\.0\.0\.1:(\d+) 101\n`)
	}
	chatBehind(t, chromium, front, instances)
}

// chatBehind opens two tabs, alice and bob, through the balancer in front
// of three instances, on two different instances. They join a room and
// chat. Then bob's instance shuts down: his page says so (the instance's
// goodbye comes through the balancer), reconnects through the balancer to
// another instance, rejoins the room and chats on; alice's page, on an
// instance that stayed up, notices nothing.
func chatBehind(t *testing.T, chromium string, front *balancer, instances []*server) {
	b := newBrowser(t, chromium)
	alice, bob := b.newTab("alice"), b.newTab("bob")
	// The page keeps its name in the browser's storage, one per origin: so
	// bob's tab opens the balancer under the name localhost, alice's under
	// 127.0.0.1. Either Host must reach the instances unchanged.
	alice.openRooms(front.URL+"/", "alice")
	bob.openRooms(strings.Replace(front.URL, "127.0.0.1", "localhost", 1)+"/", "bob")
	const room = "lobby"
	alice.join(room)
	bob.join(room)

	// What each tab must show, in order; as in TestStep4RoomsAcrossInstances.
	var shown []roomMessage
	say := func(from *tab, text string) {
		t.Helper()
		from.sendIn(room, text)
		shown = append(shown, roomMessage{User: from.name, Text: text})
		alice.waitRoomMessages(room, shown)
		bob.waitRoomMessages(room, shown)
	}
	// Which instance a tab is on: the server says, in its hello, and the
	// page shows it beside its own address, the balancer's:
	// "on 127.0.0.1:8080 · instance :3460".
	instanceOf := func(tb *tab) *server {
		t.Helper()
		shown := tb.text("#instance")
		for _, in := range instances {
			if strings.HasSuffix(shown, " · instance :"+port(in)) {
				return in
			}
		}
		t.Fatalf("tab %s: the page says it is %q, want one of the instances behind %s", tb.name, shown, front.name)
		return nil
	}
	// Its own messages say no "via": they came through its own instance.
	say(alice, "where is alice?")
	if vias := alice.roomVias(room); last(vias) != "" {
		t.Errorf("tab alice: its own message says %q, want no via", last(vias))
	}

	aliceOn, bobOn := instanceOf(alice), instanceOf(bob)
	// Round-robin may put both on one instance; bob connects again (the
	// page's Connect button) until he is on another.
	for range len(instances) {
		if bobOn != aliceOn {
			break
		}
		bob.reconnect("bob", room)
		bobOn = instanceOf(bob)
	}
	if bobOn == aliceOn {
		t.Fatalf("alice and bob both on %s after %d connections of bob's", bobOn.name, len(instances)+1)
	}
	t.Logf("alice is on %s, bob on %s", aliceOn.name, bobOn.name)
	if front.opensLogged {
		if got := front.wsLog("bob"); last(got) != port(bobOn) {
			t.Fatalf("%s logged bob's WebSockets to ports %v, want the last to %s, where his messages come from", front.name, got, port(bobOn))
		}
	}
	say(alice, "hello bob, from "+port(aliceOn))
	say(bob, "hello alice, from "+port(bobOn))

	// bob's instance shuts down, as with Ctrl-C.
	alice.recordStatuses()
	bob.recordStatuses()
	bobOn.shutDown(t)
	bob.waitFor("the page to say its instance shut down, then to reconnect", `() =>
		window.__statuses.some((s) => s.startsWith("Disconnected (server shutting down)")) &&
		document.querySelector("#status").textContent === "Connected as bob"`)
	bob.waitJoined(room)
	bob.checkNotice(room, reconnectNotice)
	bobNow := instanceOf(bob)
	if bobNow == bobOn {
		t.Fatalf("bob's page reconnected to %s, which is shut down", bobOn.name)
	}
	t.Logf("bob's page reconnected, to %s", bobNow.name)
	if got := front.wsLog("bob"); front.opensLogged && last(got) != port(bobNow) {
		t.Errorf("%s logged bob's WebSockets to ports %v, want the last to %s", front.name, got, port(bobNow))
	} else if !front.opensLogged && last(got) != port(bobOn) {
		t.Errorf("%s logged bob's closed WebSockets to ports %v, want the last to %s, the instance that shut down", front.name, got, port(bobOn))
	}

	// Both chat on, alice still on her instance, which bob's shutdown did
	// not disturb.
	say(alice, "welcome back, bob")
	say(bob, "back, now via "+port(bobNow))
	if got := instanceOf(alice); got != aliceOn {
		t.Errorf("tab alice moved from %s to %s", aliceOn.name, got.name)
	}
	var statuses []string
	alice.eval("reading alice's status changes", `window.__statuses`, &statuses)
	if len(statuses) != 0 {
		t.Errorf("tab alice: the status line changed to %q while bob's instance shut down, want no change", statuses)
	}
}

// startInstances starts three step-4 instances sharing redis.
func startInstances(t *testing.T, redis *miniredis.Miniredis) []*server {
	t.Helper()
	env := "REDIS_URL=redis://" + redis.Addr()
	return []*server{startServer(t, step4, env), startServer(t, step4, env), startServer(t, step4, env)}
}

// reconnect connects the page again under name, with the Connect button,
// and waits until it has rejoined rooms.
func (tb *tab) reconnect(name string, rooms ...string) {
	tb.t.Helper()
	tb.run("connecting again", chromedp.Click(connectSel, chromedp.ByQuery))
	tb.waitConnected(name, false)
	tb.waitJoined(rooms...)
}

// recordStatuses keeps every text the status line shows from now on in
// window.__statuses: a disconnection can come and go between two looks.
func (tb *tab) recordStatuses() {
	tb.t.Helper()
	tb.eval("recording the status line", `(() => {
		window.__statuses = [];
		const status = document.querySelector("#status");
		new MutationObserver(() => window.__statuses.push(status.textContent))
			.observe(status, { childList: true, characterData: true, subtree: true });
	})()`, nil)
}

// matchAll returns the first group of each match of the regular
// expression re in s.
func matchAll(s, re string) []string {
	var found []string
	for _, m := range regexp.MustCompile(re).FindAllStringSubmatch(s, -1) {
		found = append(found, m[1])
	}
	return found
}

// last returns the last of s, or "" if there is none.
func last(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[len(s)-1]
}

// findNginx returns the nginx to use: $NGINX if set, else Debian's
// /usr/sbin/nginx, else "nginx" on the PATH.
func findNginx() (string, error) {
	if path := os.Getenv(nginxEnv); path != "" {
		if _, err := exec.LookPath(path); err != nil {
			return "", fmt.Errorf("$%s is set but unusable: %v", nginxEnv, err)
		}
		return path, nil
	}
	if _, err := exec.LookPath(defaultNginx); err == nil {
		return defaultNginx, nil
	}
	if path, err := exec.LookPath("nginx"); err == nil {
		return path, nil
	}
	return "", fmt.Errorf("no nginx: no %s, no nginx on the PATH, $%s unset", defaultNginx, nginxEnv)
}

// needNginx returns nginx's path, or skips the test with a one-line reason
// when there is none (fails it instead if E2E_REQUIRE_NGINX=1).
func needNginx(t *testing.T) string {
	t.Helper()
	path, err := findNginx()
	if err != nil {
		if os.Getenv(requireNginxEnv) == "1" {
			t.Fatalf("%v (and %s=1 requires nginx)", err, requireNginxEnv)
		}
		t.Skipf("skipping nginx test: %v", err)
	}
	return path
}
