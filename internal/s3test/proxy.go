package s3test

import (
	"io"
	"net"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// Proxy forwards TCP connections to a server and, while it has cuts left,
// drops a connection once the server has sent it After bytes: a download
// broken mid-object, as a flaky network does it.
type Proxy struct {
	Addr  string
	After int64

	cuts atomic.Int64 // cuts left; negative: every connection
	from atomic.Int64 // bytes all connections send before the cuts start
	done atomic.Int64 // connections cut so far
	sent atomic.Int64 // bytes the server sent through the proxy

	mu       sync.Mutex
	requests []string // "METHOD target" of each request, in order
}

// NewProxy listens on 127.0.0.1 and forwards to upstream until the test ends.
func NewProxy(t *testing.T, upstream string, after int64) *Proxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{Addr: l.Addr().String(), After: after}
	var wg sync.WaitGroup
	t.Cleanup(func() { l.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				p.serve(c, upstream)
			}()
		}
	}()
	return p
}

// Cut sets how many connections to drop from now on (negative: all).
func (p *Proxy) Cut(n int64) { p.CutFrom(0, n) }

// CutFrom is Cut once the server has sent total bytes more, through any
// connection: the reads before pass whole (a hashing read, say), and the
// cuts break the ones after (the loading read).
func (p *Proxy) CutFrom(total, n int64) {
	p.from.Store(p.sent.Load() + total)
	p.cuts.Store(n)
}

// Sent reports how many bytes the server has sent to clients.
func (p *Proxy) Sent() int64 { return p.sent.Load() }

// Cuts reports how many connections were dropped.
func (p *Proxy) Cuts() int64 { return p.done.Load() }

func (p *Proxy) serve(c net.Conn, upstream string) {
	defer c.Close()
	u, err := net.Dial("tcp", upstream)
	if err != nil {
		return
	}
	defer u.Close()
	go io.Copy(u, &requestLog{r: c, p: p})
	var sent int64
	buf := make([]byte, 32<<10)
	for {
		n, err := u.Read(buf)
		if n > 0 {
			if sent+int64(n) > p.After && p.sent.Load() >= p.from.Load() && p.take() {
				c.Write(buf[:p.After-sent])
				return // drop the connection mid-response
			}
			if _, werr := c.Write(buf[:n]); werr != nil {
				return
			}
			sent += int64(n)
			p.sent.Add(int64(n))
		}
		if err != nil {
			return
		}
	}
}

func (p *Proxy) take() bool {
	for {
		left := p.cuts.Load()
		if left == 0 {
			return false
		}
		if left < 0 || p.cuts.CompareAndSwap(left, left-1) {
			p.done.Add(1)
			return true
		}
	}
}

// Gets reports how many GET requests asked for a path starting with
// prefix (/bucket/key…): the downloads of those objects, apart from the
// listings (/bucket?list-type=2…).
func (p *Proxy) Gets(prefix string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, r := range p.requests {
		method, target, _ := strings.Cut(r, " ")
		path, _, _ := strings.Cut(target, "?")
		if method == "GET" && strings.HasPrefix(path, prefix) {
			n++
		}
	}
	return n
}

var requestLine = regexp.MustCompile(`^([A-Z]+) (\S+) HTTP/1\.[01]$`)

// requestLog reads what a client sends and notes its request lines. The
// client is the loader, which sends no bodies through the proxy but
// requests' headers.
type requestLog struct {
	r    io.Reader
	p    *Proxy
	line []byte
}

func (l *requestLog) Read(b []byte) (int, error) {
	n, err := l.r.Read(b)
	for _, c := range b[:n] {
		if c != '\n' {
			if len(l.line) < 4096 {
				l.line = append(l.line, c)
			}
			continue
		}
		if m := requestLine.FindSubmatch([]byte(strings.TrimSuffix(string(l.line), "\r"))); m != nil {
			l.p.mu.Lock()
			l.p.requests = append(l.p.requests, string(m[1])+" "+string(m[2]))
			l.p.mu.Unlock()
		}
		l.line = l.line[:0]
	}
	return n, err
}
