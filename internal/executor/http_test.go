package executor

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/baton-sched/baton/internal/dag"
	"github.com/baton-sched/baton/internal/status"
)

// watchConnects records every address the guard lets through and, so that
// a broken guard cannot send test traffic off this machine, refuses any that
// is not loopback.
func watchConnects(t *testing.T) func() []string {
	t.Helper()
	var mu sync.Mutex
	var seen []string
	connectHook = func(address string) error {
		mu.Lock()
		seen = append(seen, address)
		mu.Unlock()
		ap, err := netip.ParseAddrPort(address)
		if err != nil || !ap.Addr().Unmap().IsLoopback() {
			return fmt.Errorf("test safety net: connection to %s blocked", address)
		}
		return nil
	}
	t.Cleanup(func() { connectHook = nil })
	return func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), seen...)
	}
}

// countingServer is a loopback server that counts the requests it gets.
func countingServer(t *testing.T, h http.HandlerFunc) (*httptest.Server, *atomic.Int64) {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		h(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, &hits
}

func httpTask(spec dag.HTTPSpec) dag.Task {
	return dag.Task{Kind: dag.KindHTTP, HTTP: &spec}
}

func port(t *testing.T, srv *httptest.Server) string {
	_, p, err := net.SplitHostPort(srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestHTTPAllowlistedLoopbackServer(t *testing.T) {
	connects := watchConnects(t)
	var got struct {
		method, token, body, host string
	}
	srv, hits := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got.method, got.token, got.body, got.host = r.Method, r.Header.Get("X-Token"), string(b), r.Host
		w.WriteHeader(http.StatusAccepted)
		fmt.Fprint(w, "hello from the server")
	})
	log := &syncBuffer{}
	res := Execute(context.Background(), Request{
		Task: httpTask(dag.HTTPSpec{Method: "post", URL: srv.URL + "/hook?x=1",
			Headers: map[string]string{"X-Token": "t0k", "Host": "api.example"}, Body: `{"a":1}`}),
		Log:       log,
		HTTPAllow: []string{"127.0.0.0/8"},
	})
	if res.Status != status.InstanceSuccess || res.ExitCode != -1 {
		t.Fatalf("result = %+v; log:\n%s", res, log)
	}
	if hits.Load() != 1 || got.method != "POST" || got.token != "t0k" || got.body != `{"a":1}` || got.host != "api.example" {
		t.Errorf("server saw %d request(s): %+v", hits.Load(), got)
	}
	for _, want := range []string{"HTTP/1.1 202 Accepted", "hello from the server"} {
		if !strings.Contains(log.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
	if c := connects(); len(c) != 1 || c[0] != srv.Listener.Addr().String() {
		t.Errorf("connections = %v, want one to %s", c, srv.Listener.Addr())
	}
}

func TestHTTPStatusExpectations(t *testing.T) {
	watchConnects(t)
	srv, _ := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
		var code int
		if _, err := fmt.Sscanf(r.URL.Query().Get("code"), "%d", &code); err != nil {
			code = http.StatusBadRequest
		}
		w.WriteHeader(code)
	})
	allow := []string{"127.0.0.1"}
	for _, tc := range []struct {
		code   int
		expect []int
		want   status.Instance
		msg    string
	}{
		{200, nil, status.InstanceSuccess, ""},
		{204, nil, status.InstanceSuccess, ""},
		{404, nil, status.InstanceFailed, "unexpected status 404 Not Found (expected 2xx)"},
		{500, nil, status.InstanceFailed, "unexpected status 500 Internal Server Error (expected 2xx)"},
		{200, []int{201}, status.InstanceFailed, "unexpected status 200 OK (expected 201)"},
		{404, []int{200, 404}, status.InstanceSuccess, ""},
	} {
		res := Execute(context.Background(), Request{
			Task:      httpTask(dag.HTTPSpec{URL: fmt.Sprintf("%s/?code=%d", srv.URL, tc.code), ExpectStatus: tc.expect}),
			HTTPAllow: allow,
		})
		if res.Status != tc.want || (tc.msg != "" && res.Message != tc.msg) {
			t.Errorf("code %d expect %v: %+v, want %s %q", tc.code, tc.expect, res, tc.want, tc.msg)
		}
	}
}

func TestHTTPBodyLogCapped(t *testing.T) {
	watchConnects(t)
	srv, _ := countingServer(t, func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprint(w, strings.Repeat("b", 200<<10))
	})
	log := &syncBuffer{}
	res := Execute(context.Background(), Request{Task: httpTask(dag.HTTPSpec{URL: srv.URL}), Log: log, HTTPAllow: []string{"127.0.0.1"}})
	if res.Status != status.InstanceSuccess {
		t.Fatalf("result = %+v", res)
	}
	body := strings.Repeat("b", MaxLoggedBody)
	if !strings.Contains(log.String(), body) || strings.Contains(log.String(), body+"b") {
		t.Errorf("log does not hold exactly %d body bytes (log is %d bytes)", MaxLoggedBody, len(log.String()))
	}
	if !strings.Contains(log.String(), "response body truncated") {
		t.Error("truncation not noted")
	}
}

func TestHTTPRefusesInternalDestinations(t *testing.T) {
	connects := watchConnects(t)
	srv, hits := countingServer(t, func(http.ResponseWriter, *http.Request) {})
	p := port(t, srv)
	for _, tc := range []struct{ url, reason string }{
		{"http://127.0.0.1:" + p + "/", "refused: 127.0.0.1 is a loopback address (add it to the group's HTTP allowlist to permit)"},
		{"http://[::1]:" + p + "/", "refused: ::1 is a loopback address"},
		{"http://169.254.169.254/latest/meta-data/", "refused: 169.254.169.254 is a link-local address"},
		{"http://2130706433:" + p + "/", "refused: 2130706433 (127.0.0.1) is a loopback address"},
		{"http://0x7f000001:" + p + "/", "refused: 0x7f000001 (127.0.0.1) is a loopback address"},
		{"http://127.1:" + p + "/", "refused: 127.1 (127.0.0.1) is a loopback address"},
		{"http://0177.0.0.1:" + p + "/", "refused: 0177.0.0.1 (127.0.0.1) is a loopback address"},
		{"http://[::ffff:127.0.0.1]:" + p + "/", "refused: ::ffff:127.0.0.1 is an IPv4-mapped form of a loopback address"},
		{"http://[::ffff:169.254.169.254]/", "is an IPv4-mapped form of a link-local address"},
		{"http://[::127.0.0.1]:" + p + "/", "is an IPv4-compatible form of a loopback address"},
		{"http://localhost:" + p + "/", "is a loopback address"},
		{"http://LocalHost:" + p + "/", "is a loopback address"},
		{"http://10.1.2.3/", "refused: 10.1.2.3 is a private address"},
		{"http://172.16.0.1/", "is a private address"},
		{"http://192.168.1.1/", "is a private address"},
		{"http://100.64.0.1/", "is a carrier-grade NAT address"},
		{"http://0.0.0.0:" + p + "/", "is an unspecified address"},
		{"http://[::]:" + p + "/", "is an unspecified address"},
		{"http://[fe80::1]/", "is a link-local address"},
		{"http://[fd00::1]/", "is a private address"},
		{"http://[64:ff9b::a9fe:a9fe]/", "is a NAT64 form of a link-local address"},
	} {
		start := time.Now()
		log := &syncBuffer{}
		res := Execute(context.Background(), Request{Task: httpTask(dag.HTTPSpec{URL: tc.url}), Log: log})
		if res.Status != status.InstanceFailed || !strings.Contains(res.Message, tc.reason) {
			t.Errorf("%s: %+v, want failed with %q", tc.url, res, tc.reason)
		}
		if !strings.Contains(log.String(), "refused") {
			t.Errorf("%s: refusal not in the log: %q", tc.url, log)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("%s: refusal took %s", tc.url, d)
		}
	}
	if c := connects(); len(c) != 0 {
		t.Errorf("the guard let connections through: %v", c)
	}
	if hits.Load() != 0 {
		t.Errorf("the loopback server got %d request(s)", hits.Load())
	}
}

// TestHTTPMetadataRefusedBeforeConnecting proves the refusal of the cloud
// metadata address happens before connect(2): no address reached the point
// where connections are made, while the same hook does see allowed ones.
func TestHTTPMetadataRefusedBeforeConnecting(t *testing.T) {
	connects := watchConnects(t)
	res := Execute(context.Background(), Request{Task: httpTask(dag.HTTPSpec{URL: "http://169.254.169.254/latest/meta-data/iam/"})})
	if res.Status != status.InstanceFailed || !strings.HasPrefix(res.Message, "refused: 169.254.169.254") {
		t.Fatalf("result = %+v", res)
	}
	// The dial-time check on its own, as after DNS resolution.
	g, _ := newHTTPGuard(nil)
	if err := g.control("tcp4", "169.254.169.254:80", nil); err == nil || !strings.Contains(err.Error(), "link-local") {
		t.Errorf("control = %v", err)
	}
	if c := connects(); len(c) != 0 {
		t.Fatalf("connection attempted to %v", c)
	}
	srv, _ := countingServer(t, func(http.ResponseWriter, *http.Request) {})
	Execute(context.Background(), Request{Task: httpTask(dag.HTTPSpec{URL: srv.URL}), HTTPAllow: []string{"127.0.0.1"}})
	if c := connects(); len(c) != 1 {
		t.Fatalf("the hook did not see an allowed connection: %v", c)
	}
}

func TestHTTPRedirects(t *testing.T) {
	watchConnects(t)
	target, targetHits := countingServer(t, func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, "internal secret") })
	tp := port(t, target)
	redirectTo := func(loc string) *httptest.Server {
		srv, _ := countingServer(t, func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, loc, http.StatusFound) })
		return srv
	}

	t.Run("to a name resolving to loopback", func(t *testing.T) {
		first := redirectTo("http://localhost:" + tp + "/")
		log := &syncBuffer{}
		res := Execute(context.Background(), Request{Task: httpTask(dag.HTTPSpec{URL: first.URL}), Log: log,
			HTTPAllow: []string{first.Listener.Addr().String()}})
		if res.Status != status.InstanceFailed || !strings.Contains(res.Message, "is a loopback address") {
			t.Errorf("result = %+v; log:\n%s", res, log)
		}
		if !strings.Contains(log.String(), "redirected to http://localhost:"+tp) {
			t.Errorf("redirect not logged:\n%s", log)
		}
	})
	t.Run("to a literal loopback address", func(t *testing.T) {
		first := redirectTo("http://127.0.0.1:" + tp + "/")
		res := Execute(context.Background(), Request{Task: httpTask(dag.HTTPSpec{URL: first.URL}),
			HTTPAllow: []string{first.Listener.Addr().String()}})
		if res.Status != status.InstanceFailed || !strings.Contains(res.Message, "refused: 127.0.0.1 is a loopback address") {
			t.Errorf("result = %+v", res)
		}
	})
	if n := targetHits.Load(); n != 0 {
		t.Fatalf("redirect target reached %d time(s)", n)
	}
	t.Run("allowlisted name and port", func(t *testing.T) {
		first := redirectTo("http://localhost:" + tp + "/")
		log := &syncBuffer{}
		res := Execute(context.Background(), Request{Task: httpTask(dag.HTTPSpec{URL: first.URL}), Log: log,
			HTTPAllow: []string{first.Listener.Addr().String(), "localhost:" + tp}})
		if res.Status != status.InstanceSuccess || !strings.Contains(log.String(), "internal secret") || targetHits.Load() != 1 {
			t.Errorf("result = %+v, target hits %d; log:\n%s", res, targetHits.Load(), log)
		}
	})
	t.Run("too many redirects", func(t *testing.T) {
		var loop *httptest.Server
		loop, hits := countingServer(t, func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, loop.URL+"/again", http.StatusFound) })
		res := Execute(context.Background(), Request{Task: httpTask(dag.HTTPSpec{URL: loop.URL}), HTTPAllow: []string{"127.0.0.0/8"}})
		if res.Status != status.InstanceFailed || !strings.Contains(res.Message, "stopped after 10 redirects") || hits.Load() != 10 {
			t.Errorf("result = %+v after %d hits", res, hits.Load())
		}
	})
}

func TestHTTPTimeoutAndStop(t *testing.T) {
	watchConnects(t)
	srv, _ := countingServer(t, func(_ http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(30 * time.Second):
		}
	})
	allow := []string{"127.0.0.1"}

	start := time.Now()
	res := Execute(context.Background(), Request{Task: httpTask(dag.HTTPSpec{URL: srv.URL, Timeout: "300ms"}), HTTPAllow: allow})
	if res.Status != status.InstanceTimeout || res.Message != "timed out after 300ms" {
		t.Errorf("spec timeout: %+v", res)
	}
	task := httpTask(dag.HTTPSpec{URL: srv.URL})
	task.Timeout = "400ms"
	if res := Execute(context.Background(), Request{Task: task, HTTPAllow: allow}); res.Status != status.InstanceTimeout || res.Message != "timed out after 400ms" {
		t.Errorf("task timeout: %+v", res)
	}
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(300*time.Millisecond, cancel)
	if res := Execute(ctx, Request{Task: httpTask(dag.HTTPSpec{URL: srv.URL}), HTTPAllow: allow}); res.Status != status.InstanceStopped {
		t.Errorf("cancelled: %+v", res)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("took %s", d)
	}
}

func TestHTTPBadSpecs(t *testing.T) {
	watchConnects(t)
	for _, u := range []string{"file:///etc/passwd", "gopher://x/", "http://", "::not a url", "http://[::1"} {
		res := Execute(context.Background(), Request{Task: httpTask(dag.HTTPSpec{URL: u})})
		if res.Status != status.InstanceFailed || res.Message == "" {
			t.Errorf("%q: %+v", u, res)
		}
	}
	res := Execute(context.Background(), Request{Task: httpTask(dag.HTTPSpec{URL: "http://134744072/"})})
	if res.Status != status.InstanceFailed || !strings.Contains(res.Message, "numeric form of 8.8.8.8") {
		t.Errorf("ambiguous numeric host: %+v", res)
	}
}

func TestParseInetAton(t *testing.T) {
	for in, want := range map[string]string{
		"2130706433": "127.0.0.1", "0x7f000001": "127.0.0.1", "0X7F000001": "127.0.0.1",
		"127.1": "127.0.0.1", "127.0.1": "127.0.0.1", "0177.0.0.1": "127.0.0.1",
		"0": "0.0.0.0", "10.0x10.1": "10.16.0.1", "4294967295": "255.255.255.255",
	} {
		got, ok := parseInetAton(in)
		if !ok || got.String() != want {
			t.Errorf("parseInetAton(%q) = %v, %v; want %s", in, got, ok, want)
		}
	}
	for _, in := range []string{"4294967296", "256.1", "1.2.3.4.5", "example.com", "1..2", "08", "0x", "", "1.2.3.256", "-1", "+1"} {
		if got, ok := parseInetAton(in); ok {
			t.Errorf("parseInetAton(%q) = %v, want not numeric", in, got)
		}
	}
}

func TestGuardAllowEntries(t *testing.T) {
	g, bad := newHTTPGuard([]string{" 10.0.0.0/8 ", "192.168.1.5", "[::1]:8080", "127.0.0.1:9000", "Internal.Example:8443", "metadata.internal", "300.1.1.1/8", ""})
	if len(bad) != 1 || bad[0] != "300.1.1.1/8" {
		t.Errorf("bad entries = %q", bad)
	}
	for _, tc := range []struct {
		addr string
		ok   bool
	}{
		{"10.9.8.7:1", true}, {"[::ffff:10.9.8.7]:1", true}, {"192.168.1.5:22", true}, {"192.168.1.6:22", false},
		{"[::1]:8080", true}, {"[::1]:8081", false}, {"127.0.0.1:9000", true}, {"127.0.0.1:9001", false},
		{"8.8.8.8:53", true}, {"[2001:db8::1]:443", true}, {"[2002:7f00:1::]:80", false},
	} {
		if err := g.checkAddress(tc.addr); (err == nil) != tc.ok {
			t.Errorf("checkAddress(%s) = %v, want allowed=%v", tc.addr, err, tc.ok)
		}
	}
	if !g.nameAllowed("internal.example.", "8443") || g.nameAllowed("internal.example", "443") || !g.nameAllowed("METADATA.internal", "80") {
		t.Error("name entries not matched as documented")
	}
}
