package main

// This file stops an instance cleanly on Ctrl-C; a first read can skip it.
// Without it, clients would see their connections drop (1006); with it,
// each hears why (1001), and an embedded Redis stays up to the very end.

import (
	"context"
	"errors"
	"log"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/gorilla/websocket"
)

// shutdownTimeout bounds the goodbyes: after it, the process exits anyway.
const shutdownTimeout = 5 * time.Second

var shuttingDown = websocket.FormatCloseMessage(websocket.CloseGoingAway, "server shutting down")

// serveUntilSignal serves srv until Ctrl-C (SIGINT) or SIGTERM, then stops.
func (h *hub) serveUntilSignal(srv *http.Server, b *broker) {
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	go func() {
		if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
			log.Fatal(err)
		}
	}()
	<-ctx.Done()
	log.Print("shutting down")
	srv.Close() // not Shutdown, which waits 5 s for connections a browser opened unused
	h.shutdown(b)
}

// shutdown says goodbye to every client, waits (shutdownTimeout at most) until
// their writers have, then closes Redis, and the broker last: others use it.
func (h *hub) shutdown(b *broker) {
	h.mu.Lock()
	var leaving []*client
	for c := range h.clients {
		leaving = append(leaving, c)
		h.removeLocked(c, shuttingDown)
	}
	h.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	for _, c := range leaving {
		select {
		case <-c.stopped:
		case <-ctx.Done():
		}
	}
	h.ps.Close()
	h.rdb.Close()
	b.close()
}
