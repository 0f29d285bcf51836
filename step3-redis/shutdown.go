package main

// This file stops an instance cleanly on Ctrl-C. A first read can skip it:
// without it, the process would simply die and its clients would see their
// connections drop (1006). With it, every client gets a close frame that
// says why (1001, going away), and an embedded Redis that other instances
// use stays up until the very end.

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

// shutdownTimeout bounds a graceful shutdown: clients get this long to
// receive their close frame before the process exits anyway.
const shutdownTimeout = 5 * time.Second

// shuttingDown is the close frame every client gets when the server stops.
var shuttingDown = websocket.FormatCloseMessage(websocket.CloseGoingAway, "server shutting down")

// serveUntilSignal serves srv until Ctrl-C (SIGINT) or SIGTERM, then closes
// it and calls stop.
func serveUntilSignal(srv *http.Server, stop func()) {
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	go func() {
		if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
			log.Fatal(err)
		}
	}()
	<-ctx.Done()
	log.Print("shutting down")
	// Close, not Shutdown: the WebSockets left the HTTP server when they
	// were upgraded, and Shutdown would wait up to 5 seconds for a
	// connection that a browser opened ahead of need and never used.
	srv.Close()
	stop()
}

// shutdown says goodbye to every client, then closes the subscription and
// the Redis client, and the embedded broker (if any) last: the other
// instances may use it until this moment.
func (h *hub) shutdown(b *broker) {
	b.stopWatching() // so that this instance does not start a broker on its way out
	ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	h.closeAll(ctx)
	h.ps.Close()
	h.rdb.Close()
	b.close()
}

// closeAll says goodbye (1001) to every client and waits, until ctx ends,
// for their writers to have sent it and hung up.
func (h *hub) closeAll(ctx context.Context) {
	h.mu.Lock()
	h.closing = true
	var leaving []*client
	for c := range h.clients {
		leaving = append(leaving, c)
		h.removeLocked(c, shuttingDown)
	}
	h.mu.Unlock()

	for _, c := range leaving {
		select {
		case <-c.stopped:
		case <-ctx.Done():
			return
		}
	}
}

func (h *hub) isClosing() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.closing
}
