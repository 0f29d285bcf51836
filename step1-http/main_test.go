package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestServesThePage(t *testing.T) {
	srv := httptest.NewServer(newMux())
	defer srv.Close()

	res, err := http.Get(srv.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)

	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET / status = %d, want 200", res.StatusCode)
	}
	if got := res.Header.Get("Content-Type"); got != "text/html; charset=utf-8" {
		t.Errorf("Content-Type = %q, want text/html; charset=utf-8", got)
	}
	if !strings.Contains(string(body), `<ul id="messages">`) {
		t.Errorf("body is not the chat page:\n%s", body)
	}
}

func TestUnknownPathIs404(t *testing.T) {
	srv := httptest.NewServer(newMux())
	defer srv.Close()

	for _, path := range []string{"/nope", "/index.html", "/ws"} {
		res, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s status = %d, want 404", path, res.StatusCode)
		}
	}
}

func TestParsePort(t *testing.T) {
	t.Setenv("PORT", "") // an exercise has parsePort read it
	valid := []struct {
		args []string
		want int
	}{
		{nil, 3459},
		{[]string{"3460"}, 3460},
		{[]string{"1"}, 1},
		{[]string{"65535"}, 65535},
	}
	for _, tc := range valid {
		got, err := parsePort(tc.args)
		if err != nil || got != tc.want {
			t.Errorf("parsePort(%q) = %d, %v; want %d, nil", tc.args, got, err, tc.want)
		}
	}

	invalid := [][]string{
		{"abc"}, {"34x9"}, {""}, {"-1"}, {"0"}, {"65536"}, {"99999999999999999999"}, {"3459", "3460"},
	}
	for _, args := range invalid {
		if got, err := parsePort(args); err == nil {
			t.Errorf("parsePort(%q) = %d, nil; want an error", args, got)
		}
	}
}
