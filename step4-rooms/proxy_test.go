package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
)

// proxy is a TCP proxy in front of a test's own Redis, through which a test
// makes Redis fail the ways it fails for real, without touching a Redis
// that other tests share: cut (every connection closed, new ones
// refused), freeze (every command held, unread, as by a hung Redis, until
// thawed), stall (what Redis sends held, unread, as by a client that has
// stopped reading, until released), and loseNextAnswer (the next PUBLISH
// reaches Redis, and its answer is lost with the connection).
type proxy struct {
	l      net.Listener
	target string

	mu       sync.Mutex
	down     bool
	thawed   chan struct{} // closed while not frozen
	flowing  chan struct{} // closed while not stalled
	loseNext bool
	conns    []net.Conn
}

func newProxy(t testing.TB, target string) *proxy {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{l: l, target: target, thawed: make(chan struct{}), flowing: make(chan struct{})}
	close(p.thawed)
	close(p.flowing)
	t.Cleanup(func() {
		l.Close()
		p.freeze(false)
		p.stall(false)
		p.cut(true)
	})
	go p.serve()
	return p
}

func (p *proxy) addr() string { return p.l.Addr().String() }

func (p *proxy) serve() {
	for {
		in, err := p.l.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		down := p.down
		p.mu.Unlock()
		out, err := net.Dial("tcp", p.target)
		if down || err != nil {
			in.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, in, out)
		p.mu.Unlock()
		var lose atomic.Bool
		go p.pipe(out, in, true, &lose)
		go p.pipe(in, out, false, &lose)
	}
}

// pipe copies from src to dst, holding the commands it reads while the proxy
// is frozen, reading nothing from Redis while it is stalled, and dropping
// the connection instead of an answer that is lost.
func (p *proxy) pipe(dst, src net.Conn, toRedis bool, lose *atomic.Bool) {
	defer dst.Close()
	defer src.Close()
	buf := make([]byte, 64<<10)
	for {
		if !toRedis {
			p.mu.Lock()
			flowing := p.flowing
			p.mu.Unlock()
			<-flowing
		}
		n, err := src.Read(buf)
		if err != nil {
			return
		}
		p.mu.Lock()
		thawed := p.thawed
		if toRedis && p.loseNext && bytes.Contains(bytes.ToLower(buf[:n]), []byte("publish")) {
			p.loseNext = false
			lose.Store(true)
		}
		p.mu.Unlock()
		if toRedis {
			<-thawed
		}
		if !toRedis && lose.Load() {
			return
		}
		if _, err := dst.Write(buf[:n]); err != nil {
			return
		}
	}
}

// cut(true) closes every connection and refuses new ones; cut(false) ends that.
func (p *proxy) cut(down bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = down
	if down {
		for _, c := range p.conns {
			c.Close()
		}
		p.conns = nil
	}
}

// freeze(true) holds every command until freeze(false), as a hung Redis
// does (kill -STOP): connections stay open, and nothing is answered. (What
// Redis had sent before still arrives.)
func (p *proxy) freeze(on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.thawed:
		if on {
			p.thawed = make(chan struct{})
		}
	default:
		if !on {
			close(p.thawed)
		}
	}
}

// stall(true) stops reading what Redis sends, until stall(false), as a
// client does that has stopped reading: what Redis sends waits in its
// output buffer for the client, which Redis limits. (A read already under
// way still passes on what it gets.)
func (p *proxy) stall(on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.flowing:
		if on {
			p.flowing = make(chan struct{})
		}
	default:
		if !on {
			close(p.flowing)
		}
	}
}

// loseNextAnswer makes the next PUBLISH reach Redis, and its answer be lost
// with the connection: go-redis cannot tell whether Redis carried it out.
func (p *proxy) loseNextAnswer() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.loseNext = true
}

// proxies are a test's proxies in front of its Redis: one for a single
// Redis, one per node for a cluster. What a test does to them, it does to
// every node at once.
type proxies []*proxy

func newProxies(t testing.TB, targets []string) proxies {
	var p proxies
	for _, target := range targets {
		p = append(p, newProxy(t, target))
	}
	return p
}

func (p proxies) addr() string { return p[0].addr() }

func (p proxies) cut(down bool) {
	for _, q := range p {
		q.cut(down)
	}
}

func (p proxies) freeze(on bool) {
	for _, q := range p {
		q.freeze(on)
	}
}

// loseNextAnswer arms every node's proxy: the next PUBLISH through each loses its answer.
func (p proxies) loseNextAnswer() {
	for _, q := range p {
		q.loseNextAnswer()
	}
}

// dial is a cluster client's Dialer: it takes each node's address, as
// the cluster names it, to the node's proxy.
func (p proxies) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	for _, q := range p {
		if q.target == addr {
			var d net.Dialer
			return d.DialContext(ctx, network, q.addr())
		}
	}
	return nil, fmt.Errorf("no proxy for %s", addr)
}
