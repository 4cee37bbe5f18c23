package executor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/baton-sched/baton/internal/dag"
	"github.com/baton-sched/baton/internal/status"
)

const (
	// DefaultHTTPTimeout bounds a request when neither the spec nor the task
	// sets a timeout: an http task must never hang a worker slot forever.
	DefaultHTTPTimeout = 30 * time.Second
	// MaxLoggedBody is how much of a response body goes to the log.
	MaxLoggedBody = 64 << 10
	maxRedirects  = 10
)

// connectHook, when set by tests, sees every address the guard lets through,
// right before connect(2); an error aborts the connection.
var connectHook func(address string) error

// RefusedError is returned when the SSRF guard blocks a destination.
type RefusedError struct {
	Addr   string // the address as it would have been connected to
	Reason string // "a loopback address", …
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("refused: %s is %s (add it to the group's HTTP allowlist to permit)", e.Addr, e.Reason)
}

func runHTTP(ctx context.Context, req Request, lw *logWriter, taskTimeout time.Duration) Result {
	spec := req.Task.HTTP
	if spec == nil {
		return notProcess(status.InstanceFailed, "http task without an http spec")
	}
	timeout, err := httpTimeout(spec.Timeout, taskTimeout)
	if err != nil {
		return notProcess(status.InstanceFailed, err.Error())
	}
	guard, bad := newHTTPGuard(req.HTTPAllow)
	for _, e := range bad {
		lw.notef("ignoring invalid HTTP allowlist entry %q", e)
	}

	u, err := url.Parse(spec.URL)
	if err != nil {
		return notProcess(status.InstanceFailed, fmt.Sprintf("invalid URL: %v", err))
	}
	if err := guard.checkURL(u); err != nil {
		lw.notef("%v", err)
		return notProcess(status.InstanceFailed, err.Error())
	}
	method := strings.ToUpper(strings.TrimSpace(spec.Method))
	if method == "" {
		method = http.MethodGet
	}

	reqCtx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var body io.Reader
	if spec.Body != "" {
		body = strings.NewReader(spec.Body)
	}
	hreq, err := http.NewRequestWithContext(reqCtx, method, u.String(), body)
	if err != nil {
		return notProcess(status.InstanceFailed, fmt.Sprintf("build request: %v", err))
	}
	for k, v := range spec.Headers {
		if strings.EqualFold(k, "Host") {
			hreq.Host = v
			continue
		}
		hreq.Header.Set(k, v)
	}

	transport := guard.transport()
	defer transport.CloseIdleConnections()
	client := &http.Client{
		Transport: transport,
		CheckRedirect: func(r *http.Request, via []*http.Request) error {
			if len(via) >= maxRedirects {
				return fmt.Errorf("stopped after %d redirects", maxRedirects)
			}
			lw.notef("redirected to %s", r.URL.Redacted())
			return guard.checkURL(r.URL)
		},
	}

	lw.notef("%s %s", method, u.Redacted())
	resp, err := client.Do(hreq)
	if err != nil {
		return httpError(ctx, reqCtx, err, timeout, lw)
	}
	defer resp.Body.Close()
	fmt.Fprintf(lw, "%s %s\n", resp.Proto, resp.Status)
	n, err := io.Copy(lw, io.LimitReader(resp.Body, MaxLoggedBody))
	if err != nil {
		return httpError(ctx, reqCtx, fmt.Errorf("read response body: %w", err), timeout, lw)
	}
	if n == MaxLoggedBody {
		lw.notef("response body truncated at %d bytes", MaxLoggedBody)
	}

	if !statusExpected(resp.StatusCode, spec.ExpectStatus) {
		return notProcess(status.InstanceFailed,
			fmt.Sprintf("unexpected status %s (expected %s)", resp.Status, describeExpected(spec.ExpectStatus)))
	}
	return notProcess(status.InstanceSuccess, resp.Status)
}

// httpTimeout is the spec's timeout, else the task's, else the default;
// when both are set the shorter wins because the task timeout bounds the
// whole instance.
func httpTimeout(spec dag.Duration, task time.Duration) (time.Duration, error) {
	d, err := spec.Std()
	if err != nil {
		return 0, fmt.Errorf("http timeout: %w", err)
	}
	switch {
	case d > 0 && task > 0:
		return min(d, task), nil
	case d > 0:
		return d, nil
	case task > 0:
		return task, nil
	}
	return DefaultHTTPTimeout, nil
}

func httpError(ctx, reqCtx context.Context, err error, timeout time.Duration, lw *logWriter) Result {
	var refused *RefusedError
	switch {
	case errors.As(err, &refused):
		lw.notef("%v", refused)
		return notProcess(status.InstanceFailed, refused.Error())
	case ctx.Err() != nil:
		return notProcess(status.InstanceStopped, "stopped")
	case errors.Is(reqCtx.Err(), context.DeadlineExceeded):
		return notProcess(status.InstanceTimeout, fmt.Sprintf("timed out after %s", timeout))
	}
	lw.notef("%v", err)
	return notProcess(status.InstanceFailed, err.Error())
}

func statusExpected(code int, expect []int) bool {
	if len(expect) == 0 {
		return code >= 200 && code <= 299
	}
	for _, c := range expect {
		if c == code {
			return true
		}
	}
	return false
}

func describeExpected(expect []int) string {
	if len(expect) == 0 {
		return "2xx"
	}
	parts := make([]string, len(expect))
	for i, c := range expect {
		parts[i] = strconv.Itoa(c)
	}
	return strings.Join(parts, ", ")
}

// transport dials only through the guard. No proxy: a proxy would make the
// dialed address the proxy's and the guard would check the wrong thing.
func (g *httpGuard) transport() *http.Transport {
	guarded := &net.Dialer{Timeout: 30 * time.Second, Control: g.control}
	open := &net.Dialer{Timeout: 30 * time.Second}
	return &http.Transport{
		Proxy: nil,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			host, port, err := net.SplitHostPort(addr)
			if err != nil {
				return nil, fmt.Errorf("dial %s: %w", addr, err)
			}
			// An allowlisted name is trusted with whatever it resolves to;
			// everything else is checked on the address actually dialed.
			if g.nameAllowed(host, port) {
				return open.DialContext(ctx, network, addr)
			}
			return guarded.DialContext(ctx, network, addr)
		},
		ForceAttemptHTTP2:      true,
		TLSHandshakeTimeout:    10 * time.Second,
		MaxResponseHeaderBytes: 1 << 20,
	}
}

// control runs after the socket exists and before connect(2), with the
// resolved address: DNS rebinding and odd numeric host forms cannot slip by.
func (g *httpGuard) control(_, address string, _ syscall.RawConn) error {
	if err := g.checkAddress(address); err != nil {
		return err
	}
	if connectHook != nil {
		return connectHook(address)
	}
	return nil
}

// GuardedClient is an HTTP client whose every connection, redirects
// included, passes the SSRF guard of http tasks with allow as its
// allowlist (BATON_HTTP_ALLOW). Alert webhooks go through it so that a
// channel reaches nothing an http task could not.
func GuardedClient(allow []string, timeout time.Duration) *http.Client {
	guard, _ := newHTTPGuard(allow) // config.Validate refuses bad entries at start
	return &http.Client{
		Transport: guard.transport(),
		Timeout:   timeout,
		CheckRedirect: func(r *http.Request, via []*http.Request) error {
			if len(via) >= maxRedirects {
				return fmt.Errorf("stopped after %d redirects", maxRedirects)
			}
			return guard.checkURL(r.URL)
		},
	}
}

// CheckURL refuses, before any connection, a URL the guard of http tasks
// refuses (scheme, an internal IP host in any spelling); names are checked
// on what they resolve to when dialled.
func CheckURL(allow []string, raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("invalid URL: %w", err)
	}
	guard, _ := newHTTPGuard(allow)
	return guard.checkURL(u)
}
