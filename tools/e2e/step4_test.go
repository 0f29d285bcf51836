package e2e

import (
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/chromedp/chromedp"
)

// Step 4's page adds, to the chat page of the earlier steps, a name form
// (#name, #connect), announcements (#announcements), a join form (#room,
// #join), one tab per room in #rooms (li[data-room=R], with a leave
// button) and one message list per room in #messages (ul[data-room=R]).
// A message is an li: the sender's name in span.user, then the text.
const (
	nameInputSel = "#name"
	connectSel   = "#connect"
	roomInputSel = "#room"
	joinSel      = "#join"
)

// roomsMarkup selects, in step 4's page, any element where only text
// belongs: inside a message besides its span.user and span.via, inside
// those spans, or inside an announcement.
const roomsMarkup = "#messages li > :not(span.user):not(span.text):not(span.via), #messages li span *, #announcements li *"

// announcementChannel is the Redis channel whose messages every step-4
// page shows as announcements.
const announcementChannel = "broadcast"

// withFindRoom lets the JavaScript function fn call findRoom(sel, room),
// which returns the first element that the CSS selector sel matches whose
// data-room is room: compared in JavaScript, so that no room name has to be
// quoted inside a selector.
func withFindRoom(fn string) string {
	return `((findRoom) => ` + fn + `)(
		(sel, room) => Array.from(document.querySelectorAll(sel)).find((el) => el.dataset.room === room))`
}

// TestStep4RoomsAcrossInstances runs two step-4 servers that share one
// Redis, with alice's tab on one and bob's on the other, and goes through
// rooms the way two people would: join, chat, stay out of each other's
// rooms, leave, hear an announcement, and carry on after bob's server
// restarts under him.
func TestStep4RoomsAcrossInstances(t *testing.T) {
	skipUnlessPresent(t, step4)
	chromium := needChromium(t)
	redis := miniredis.RunT(t)
	redisURL := "REDIS_URL=redis://" + redis.Addr()
	one := startServer(t, step4, redisURL)
	two := startServer(t, step4, redisURL)
	b := newBrowser(t, chromium)
	alice, bob := b.newTab("alice"), b.newTab("bob")

	alice.openRooms(one.URL+"/", "alice")
	bob.openRooms(two.URL+"/", "bob")
	alice.checkInstance(one)
	bob.checkInstance(two)

	// What each tab must show in each room, in order: every message is
	// checked in every tab that is in its room before the next is sent.
	shown := map[*tab]map[string][]roomMessage{alice: {}, bob: {}}
	say := func(from *tab, room, text string, to ...*tab) {
		t.Helper()
		from.sendIn(room, text)
		for _, tb := range to {
			shown[tb][room] = append(shown[tb][room], roomMessage{User: from.name, Text: text})
			tb.waitRoomMessages(room, shown[tb][room])
		}
	}

	// Both in red, across the two servers, and alice in blue as well.
	alice.join("red")
	bob.join("red")
	alice.join("blue")
	say(alice, "red", "hello red, from alice", alice, bob)
	say(bob, "red", "hi from bob, naïve café ✓", alice, bob)
	// Each sees the other's message came through the other instance.
	for tb, want := range map[*tab][]string{alice: {"", "via :" + port(two)}, bob: {"via :" + port(one), ""}} {
		if got := tb.roomVias("red"); !slices.Equal(got, want) {
			t.Errorf("tab %s: red's messages came via %q, want %q", tb.name, got, want)
		}
	}

	// Blue is alice's alone: her message there must not reach bob, who is
	// not in it. Once her next message in red has reached him, the blue one
	// would have too.
	const blueText = "blue is just for alice"
	say(alice, "blue", blueText, alice)
	say(alice, "red", "back in red", alice, bob)
	bob.checkNotShown(blueText)
	if bob.hasRoomElement("#messages ul", "blue") {
		t.Errorf("tab bob: a message list for blue, a room bob never joined")
	}
	// Only alice's server listens to blue: bob's has no member in it.
	waitChannelSubscribers(t, redis, "room:blue", 1)

	// Junk that anyone can publish to Redis breaks no page (a page problem
	// fails the test): a browser drops its connection on invalid UTF-8,
	// and step 4's page once threw on null.
	for channel, junk := range map[string]string{"room:red": "null", "room:blue": "\xff\xfe", announcementChannel: "\xff"} {
		redis.Publish(channel, junk)
	}

	// An announcement reaches every tab on every server, as text.
	announce(t, redis, "Break in 5 minutes <b>sharp</b>", alice, bob)

	// bob leaves red: its tab goes, his server stops listening to it, and
	// alice's next message there does not reach him.
	bob.leave("red")
	waitChannelSubscribers(t, redis, "room:red", 1)
	const afterLeave = "red, now without bob"
	say(alice, "red", afterLeave, alice)
	bob.checkNotShown(afterLeave)

	// Before the restart bob is in two rooms again: green, new to both,
	// and red, which he left; his red list starts empty.
	bob.join("green")
	alice.join("green")
	bob.join("red")
	shown[bob]["red"] = nil
	bob.waitRoomMessages("red", nil)

	// bob's server restarts under him. His page says it is disconnected,
	// with his rooms waiting to be joined again, and comes back on its
	// own: connected, in both rooms.
	reconnected := b.expectReconnects(bob, two)
	two.restart(t, func() { bob.waitDisconnected("green", "red") })
	bob.waitConnected("bob", true)
	bob.waitJoined("green", "red")
	reconnected()
	// Step 4 keeps no history: his page says messages may be missing.
	bob.checkNotice("green", reconnectNotice)
	bob.checkNotice("red", reconnectNotice)
	waitChannelSubscribers(t, redis, "room:green", 2)
	waitChannelSubscribers(t, redis, "room:red", 2)

	// Both rooms carry messages to and from bob again, across the
	// servers, and the restarted server hears announcements.
	say(alice, "green", "welcome back, bob", alice, bob)
	say(bob, "red", "bob is back in red", alice, bob)
	announce(t, redis, "Lunch at noon", alice, bob)

	// A message that looks like HTML shows as typed, in both tabs.
	say(alice, "green", xssProbe, alice, bob)
	for _, tb := range []*tab{alice, bob} {
		tb.checkNoXSS(roomsMarkup)
		if got := tb.text("#error"); got != "" {
			t.Errorf("tab %s: error line %q, want none", tb.name, got)
		}
	}

	// Redis stops: both servers lose their subscription, and each tab says
	// which of its rooms may miss messages. When Redis is back, each of
	// those rooms shows a notice, styled apart from chat, with the times in
	// between, and the status is as before.
	redis.Close()
	alice.waitStatus("Connected as alice · Redis down: messages to blue, green, red may be missing until it is back")
	bob.waitStatus("Connected as bob · Redis down: messages to green, red may be missing until it is back")
	if err := redis.Restart(); err != nil {
		t.Fatal(err)
	}
	for tb, rooms := range map[*tab][]string{alice: {"blue", "green", "red"}, bob: {"green", "red"}} {
		tb.waitConnected(tb.name, false)
		for _, room := range rooms {
			tb.checkNotice(room, gapNotice)
		}
	}
}

// gapNotice is what the page says in a room once Redis is back.
var gapNotice = regexp.MustCompile(`^Redis was down: messages sent between \d\d:\d\d:\d\d and \d\d:\d\d:\d\d may be missing\.$`)

// reconnectNotice is what the page says in a room it has joined again
// after its connection was lost, unless the server recovered what it missed.
var reconnectNotice = regexp.MustCompile(`^Reconnected: messages sent between \d\d:\d\d:\d\d and \d\d:\d\d:\d\d may be missing\.$`)

// checkNotice fails the test unless room's last line is a notice (an
// li.notice, not a message) that want matches.
func (tb *tab) checkNotice(room string, want *regexp.Regexp) {
	tb.t.Helper()
	var got struct {
		Notice bool
		Text   string
	}
	tb.call("reading the last line in "+room, withFindRoom(`(room) => {
		const last = findRoom("#messages ul", room).lastElementChild;
		return { Notice: last.matches("li.notice") && last.children.length === 0, Text: last.textContent };
	}`), &got, room)
	if !got.Notice || !want.MatchString(got.Text) {
		tb.t.Errorf("tab %s: the last line in %s is %q (a notice: %v); want a notice %q",
			tb.name, room, got.Text, got.Notice, want)
	}
}

// roomMessage is one message as step 4's page shows it.
type roomMessage struct {
	User string `json:"user"`
	Text string `json:"text"`
}

func (m roomMessage) String() string { return m.User + ": " + m.Text }

// openRooms opens step 4's page, which connects by itself under a guest
// name it makes up, and then connects as name through the name form, as a
// person would.
func (tb *tab) openRooms(url, name string) {
	tb.t.Helper()
	tb.open(url)
	tb.waitConnected(guestNamePattern, false)
	tb.run("connecting as "+name,
		chromedp.SendKeys(nameInputSel, name, chromedp.ByQuery),
		chromedp.Click(connectSel, chromedp.ByQuery),
	)
	tb.waitConnected(name, false)
}

// guestNamePattern matches the name the page makes up when none is typed.
const guestNamePattern = `guest-[0-9a-f]{4}`

// waitConnected waits until the status line says "Connected as WHO" (WHO
// is a regular expression: a name, or guestNamePattern) and
// fails the test if it does not. A page that cannot connect says
// "Disconnected…" at once, so the wait stops there and the test fails fast
// with what the page says, unless the page is reconnecting after its
// server went away: then it says "Disconnected…" until the server is back.
func (tb *tab) waitConnected(who string, reconnecting bool) {
	tb.t.Helper()
	want := "^Connected as " + who + "$"
	err := tb.try(waitTimeout, poll(`(want, reconnecting) => {
		const status = document.querySelector("#status");
		return (status.classList.contains("connected") && new RegExp(want).test(status.textContent)) ||
			(!reconnecting && status.textContent.startsWith("Disconnected"));
	}`, want, reconnecting))
	got := tb.text(statusSel)
	if err != nil {
		tb.t.Fatalf("tab %s: waiting for status %q: %v; it says %q", tb.name, want, err, got)
	}
	if !regexp.MustCompile(want).MatchString(got) {
		tb.t.Fatalf("tab %s: status %q, want %q", tb.name, got, want)
	}
}

// waitDisconnected waits until the page says it is disconnected, with each
// of rooms back to joining and the send form disabled.
func (tb *tab) waitDisconnected(rooms ...string) {
	tb.t.Helper()
	tb.waitFor("the page to show it is disconnected", withFindRoom(`(rooms) => {
		const status = document.querySelector("#status");
		return status.textContent.startsWith("Disconnected") && !status.classList.contains("connected") &&
			document.querySelector("#send").disabled &&
			rooms.every((room) => {
				const li = findRoom("#rooms li", room);
				return li && li.classList.contains("joining");
			});
	}`), rooms)
}

// join joins room through the join form and waits until the server has
// confirmed it.
func (tb *tab) join(room string) {
	tb.t.Helper()
	tb.run("joining "+room,
		chromedp.SendKeys(roomInputSel, room, chromedp.ByQuery),
		chromedp.Click(joinSel, chromedp.ByQuery),
	)
	tb.waitJoined(room)
}

// waitJoined waits until each of rooms has its tab in #rooms, no longer
// marked as joining.
func (tb *tab) waitJoined(rooms ...string) {
	tb.t.Helper()
	tb.waitFor("joining "+strings.Join(rooms, ", "), withFindRoom(`(rooms) => rooms.every((room) => {
		const li = findRoom("#rooms li", room);
		return li && !li.classList.contains("joining");
	})`), rooms)
}

// leave clicks the leave button on room's tab, and waits until the tab and
// the room's messages are gone from the page.
func (tb *tab) leave(room string) {
	tb.t.Helper()
	tb.run("leaving "+room, chromedp.Click(`#rooms li[data-room="`+room+`"] button.leave`, chromedp.ByQuery))
	tb.waitFor("the tab of "+room+" to go",
		withFindRoom(`(room) => !findRoom("#rooms li", room) && !findRoom("#messages ul", room)`), room)
}

// selectRoom clicks on room's name in its tab, as a person would to write
// there, and waits until the room is selected. It clicks the name, not the
// middle of the tab, which may be its leave button.
func (tb *tab) selectRoom(room string) {
	tb.t.Helper()
	var at struct{ X, Y float64 }
	tb.call("finding the tab of "+room, withFindRoom(`(room) => {
		const li = findRoom("#rooms li", room);
		li.scrollIntoView({ block: "center" });
		const name = document.createRange();
		name.selectNodeContents(li.firstChild);
		const box = name.getBoundingClientRect();
		return { X: box.x + box.width / 2, Y: box.y + box.height / 2 };
	}`), &at, room)
	tb.run("clicking the tab of "+room, chromedp.MouseClickXY(at.X, at.Y))
	tb.waitFor(room+" to be selected", withFindRoom(`(room) => {
		const li = findRoom("#rooms li", room);
		return li && li.classList.contains("selected");
	}`), room)
}

// sendIn selects room and sends text there once the send form is enabled,
// which it is when the room is joined.
func (tb *tab) sendIn(room, text string) {
	tb.t.Helper()
	tb.selectRoom(room)
	tb.waitFor("the send form to be enabled", `() => !document.querySelector("#send").disabled`)
	tb.send(text)
}

// waitRoomMessages waits until room's list shows at least len(want)
// messages, and fails the test unless they are exactly want.
func (tb *tab) waitRoomMessages(room string, want []roomMessage) {
	tb.t.Helper()
	err := tb.try(waitTimeout, poll(withFindRoom(`(room, n) => {
		const list = findRoom("#messages ul", room);
		return list && list.querySelectorAll("li:not(.notice)").length >= n;
	}`), room, len(want)))
	got := tb.roomMessages(room)
	if err != nil {
		tb.t.Fatalf("tab %s: waiting for %d messages in %s: %v; it shows %v", tb.name, len(want), room, err, got)
	}
	if !slices.Equal(got, want) {
		tb.t.Fatalf("tab %s shows %v in %s, want %v", tb.name, got, room, want)
	}
}

// roomMessages returns the messages room's list shows, in order: for each,
// the sender in span.user and the text beside it.
func (tb *tab) roomMessages(room string) []roomMessage {
	tb.t.Helper()
	var got []roomMessage
	tb.call("reading the messages in "+room, withFindRoom(`(room) => {
		const list = findRoom("#messages ul", room);
		return list ? Array.from(list.querySelectorAll("li:not(.notice)"), (li) => ({
			user: li.querySelector("span.user")?.textContent ?? "",
			text: li.querySelector("span.text")?.textContent ?? "",
		})) : [];
	}`), &got, room)
	return got
}

// hasRoomElement reports whether an element that the CSS selector sel
// matches has data-room set to room.
func (tb *tab) hasRoomElement(sel, room string) bool {
	tb.t.Helper()
	var found bool
	tb.call("looking for "+sel+" of "+room, withFindRoom(`(sel, room) => findRoom(sel, room) !== undefined`), &found, sel, room)
	return found
}

// checkNotShown fails the test if text appears anywhere in the page,
// hidden message lists included.
func (tb *tab) checkNotShown(text string) {
	tb.t.Helper()
	var found bool
	tb.call("looking for "+text, `(text) => Array.from(document.body.children)
		.some((el) => el.tagName !== "SCRIPT" && el.textContent.includes(text))`, &found, text)
	if found {
		tb.t.Errorf("tab %s shows %q, which was not meant for it", tb.name, text)
	}
}

// announce publishes text on the announcement channel, checks that both
// servers received it, and waits until every tab shows it as its latest
// announcement, as text.
func announce(t *testing.T, redis *miniredis.Miniredis, text string, tabs ...*tab) {
	t.Helper()
	if n := redis.Publish(announcementChannel, text); n != 2 {
		t.Errorf("announcement reached %d subscribers, want 2 (both servers)", n)
	}
	want := "📣 " + text
	for _, tb := range tabs {
		err := tb.try(waitTimeout, poll(`(want) => {
			const last = document.querySelector("#announcements li:last-child");
			return last && last.textContent === want;
		}`, want))
		if err != nil {
			var got []string
			tb.eval("reading the announcements",
				`Array.from(document.querySelectorAll("#announcements li"), (li) => li.textContent)`, &got)
			t.Fatalf("tab %s: waiting for announcement %q: %v; it shows %q", tb.name, want, err, got)
		}
	}
}

// waitChannelSubscribers waits until exactly n clients of Redis, here
// servers, subscribe to channel. A server subscribes to a room's channel
// while one of its clients is in the room.
func waitChannelSubscribers(t *testing.T, redis *miniredis.Miniredis, channel string, n int) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		got := redis.PubSubNumSub(channel)[channel]
		if got == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("Redis channel %s has %d subscribers after %v, want %d", channel, got, waitTimeout, n)
		}
		time.Sleep(subscriberPollInterval)
	}
}

// roomVias returns, for each message in room's list, what it says about
// the instance it came through ("" if nothing: it came through this one).
func (tb *tab) roomVias(room string) []string {
	tb.t.Helper()
	var got []string
	tb.call("reading the instances in "+room, withFindRoom(`(room) => {
		const list = findRoom("#messages ul", room);
		return list ? Array.from(list.querySelectorAll("li:not(.notice)"), (li) => li.querySelector("span.via")?.textContent ?? "") : [];
	}`), &got, room)
	return got
}
