package api

import (
	"bufio"
	"io"
	"log/slog"
	"net"
	"net/http"
	"testing"
	"time"
)

// TestSlowClientsAreCut: an unauthenticated client that sends its headers
// or its body a byte at a time does not hold a connection for good. The
// server runs with HTTPServer's settings, the read timeouts scaled down so
// the test is short; what it checks is that nothing between the listener
// and the handlers (body limit, auth, audit) lifts the read deadline.
func TestSlowClientsAreCut(t *testing.T) {
	prod := HTTPServer(http.NotFoundHandler())
	if prod.ReadHeaderTimeout <= 0 || prod.ReadTimeout <= 0 || prod.IdleTimeout <= 0 || prod.WriteTimeout <= 0 {
		t.Fatalf("HTTPServer has an unbounded timeout: header %s, read %s, idle %s, write %s",
			prod.ReadHeaderTimeout, prod.ReadTimeout, prod.IdleTimeout, prod.WriteTimeout)
	}
	e := newEnv(t)
	srv := HTTPServer(New(Options{Store: e.store, Engine: &fakeEngine{}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}).Handler())
	srv.ReadHeaderTimeout, srv.ReadTimeout, srv.IdleTimeout = 300*time.Millisecond, 600*time.Millisecond, 600*time.Millisecond
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })

	cases := map[string]string{
		"headers": "POST /api/v1/tasks HTTP/1.1\r\nHost: x\r\nX-Slow: ",
		"body":    "POST /api/v1/tasks HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{\"name\":\"",
	}
	for name, head := range cases {
		t.Run(name, func(t *testing.T) {
			conn, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = conn.Close() }()
			if _, err := io.WriteString(conn, head); err != nil {
				t.Fatal(err)
			}
			// Dribble a byte every 100 ms, far longer than the timeouts.
			start := time.Now()
			cut := make(chan struct{})
			go func() {
				// Returns when the server closes the connection.
				_, _ = bufio.NewReader(conn).ReadString(0)
				close(cut)
			}()
			for time.Since(start) < 5*time.Second {
				select {
				case <-cut:
					if d := time.Since(start); d > 3*time.Second {
						t.Fatalf("cut only after %s", d)
					}
					return
				case <-time.After(100 * time.Millisecond):
				}
				if _, err := io.WriteString(conn, "a"); err != nil {
					return // the server closed the connection
				}
			}
			t.Fatalf("a client dribbling its %s held the connection for %s", name, time.Since(start))
		})
	}
}
