package main

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
)

func TestCommandsAnswerAsRedisDoes(t *testing.T) {
	m := miniredis.RunT(t)
	url := "redis://" + m.Addr()
	ctx := context.Background()

	var out bytes.Buffer
	if err := run(ctx, url, []string{"PUBSUB", "NUMSUB", "chat"}, &out); err != nil || out.String() != "1) \"chat\"\n2) (integer) 0\n" {
		t.Errorf("PUBSUB NUMSUB chat: %q, %v", out.String(), err)
	}
	out.Reset()
	if err := run(ctx, url, []string{"PUBLISH", "chat", "hello from redis-cli"}, &out); err != nil || out.String() != "(integer) 0\n" {
		t.Errorf("PUBLISH: %q, %v", out.String(), err)
	}
}

func TestSubscribePrintsWhatArrives(t *testing.T) {
	m := miniredis.RunT(t)
	ctx, cancel := context.WithCancel(context.Background())
	out := &lockedBuffer{}
	done := make(chan error, 1)
	go func() { done <- run(ctx, "redis://"+m.Addr(), []string{"SUBSCRIBE", "chat"}, out) }()
	for deadline := time.Now().Add(5 * time.Second); m.PubSubNumSub("chat")["chat"] == 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no subscriber after 5 s")
		}
	}
	m.Publish("chat", "hello")
	for deadline := time.Now().Add(5 * time.Second); !strings.Contains(out.String(), "1) \"message\"\n2) \"chat\"\n3) \"hello\"\n"); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("printed %q, want the message", out.String())
		}
	}
	cancel() // Ctrl-C
	if err := <-done; err != nil {
		t.Errorf("after Ctrl-C: %v, want no error", err)
	}
}

func TestNoRedisIsSaidPlainly(t *testing.T) {
	m := miniredis.RunT(t)
	addr := m.Addr()
	m.Close()
	err := run(context.Background(), "redis://"+addr, []string{"PUBSUB", "NUMSUB", "chat"}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "no Redis at "+addr) {
		t.Errorf("err = %v, want it to say there is no Redis", err)
	}
	if err := run(context.Background(), "", nil, &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "usage") {
		t.Errorf("no command: %v, want the usage", err)
	}
}

type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
