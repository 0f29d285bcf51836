package main

// This file stops an instance cleanly on Ctrl-C; a first read can skip it.
// Without it, the process would just die, and its clients would see their
// connections drop (1006). With it, every client hears why (1001, going
// away), and an embedded Redis that others use stays up to the very end.

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

// shuttingDown is the close frame every client gets when the server stops.
var shuttingDown = websocket.FormatCloseMessage(websocket.CloseGoingAway, "server shutting down")

// serveUntilSignal serves srv until Ctrl-C (SIGINT) or SIGTERM, then shuts
// down: srv first, then the hub and Redis.
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
	// Close, not Shutdown: the WebSockets left the HTTP server when they were
	// upgraded, and Shutdown would wait up to 5 seconds for a connection that
	// a browser opened ahead of need and never used.
	srv.Close()
	h.shutdown(b)
}

// shutdown says goodbye (1001) to every client and waits, at most
// shutdownTimeout, until their writers have said it. Then it closes the
// subscription and the client, and the broker last: the other instances
// may use it until this moment.
func (h *hub) shutdown(b *broker) {
	b.close(false) // so that this instance does not host a broker on its way out
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
	b.close(true)
}
