package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// requestTimeout bounds one ordinary API call. Control operations wait for
// the run to confirm, which the API itself bounds well below this.
const requestTimeout = 2 * time.Minute

// APIError is an error answer of the API: its status and the code and
// message of the error envelope.
type APIError struct {
	Status  int
	Code    string
	Message string
	Details json.RawMessage
}

func (e *APIError) Error() string {
	return fmt.Sprintf("%d %s: %s", e.Status, e.Code, e.Message)
}

// Client calls the REST API with a bearer token.
type Client struct {
	Addr  string // base URL, e.g. http://127.0.0.1:8080
	Token string
	HTTP  *http.Client
	// IdempotencyKey is sent with the first mutating call of the
	// invocation; later ones get it with a suffix, since the API refuses a
	// key reused on another route.
	IdempotencyKey string
	mutations      int
}

// answer is a whole successful answer.
type answer struct {
	status int
	header http.Header
	body   []byte
}

// apiPath joins path segments under base, each escaped: ids and node ids
// may hold characters a URL path must not carry raw.
func apiPath(base string, parts ...string) string {
	for _, s := range parts {
		base += "/" + url.PathEscape(s)
	}
	return base
}

func (c *Client) url(path string, q url.Values) string {
	u := strings.TrimRight(c.Addr, "/") + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	return u
}

// newRequest builds an authorised request; body is sent as JSON unless it
// is already []byte (a file the user gave, converted to JSON).
func (c *Client) newRequest(ctx context.Context, method, path string, q url.Values, body any) (*http.Request, error) {
	var rd io.Reader
	if body != nil {
		raw, ok := body.([]byte)
		if !ok {
			var err error
			if raw, err = json.Marshal(body); err != nil {
				return nil, fmt.Errorf("encode request body: %w", err)
			}
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.url(path, q), rd)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if method != http.MethodGet && c.IdempotencyKey != "" {
		key := c.IdempotencyKey
		if c.mutations > 0 {
			key = fmt.Sprintf("%s.%d", key, c.mutations)
		}
		c.mutations++
		req.Header.Set("Idempotency-Key", key)
	}
	return req, nil
}

func (c *Client) httpClient() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	return http.DefaultClient
}

// do sends one request and reads the whole answer; an error status becomes
// an *APIError.
func (c *Client) do(ctx context.Context, method, path string, q url.Values, body any) (answer, error) {
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	req, err := c.newRequest(ctx, method, path, q, body)
	if err != nil {
		return answer{}, err
	}
	resp, err := c.httpClient().Do(req)
	if err != nil {
		return answer{}, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer func() { _ = resp.Body.Close() }()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return answer{}, fmt.Errorf("%s %s: read answer: %w", method, path, err)
	}
	if resp.StatusCode >= 300 {
		return answer{}, apiError(resp.StatusCode, raw)
	}
	return answer{status: resp.StatusCode, header: resp.Header, body: raw}, nil
}

// call does one request and decodes a JSON answer into out (when not nil);
// it returns the raw answer for -o json.
func (c *Client) call(ctx context.Context, method, path string, q url.Values, body, out any) ([]byte, error) {
	a, err := c.do(ctx, method, path, q, body)
	if err != nil {
		return nil, err
	}
	if out != nil && len(bytes.TrimSpace(a.body)) > 0 {
		if err := json.Unmarshal(a.body, out); err != nil {
			return nil, fmt.Errorf("%s %s: decode answer: %w", method, path, err)
		}
	}
	return a.body, nil
}

// stream opens a streaming GET (a followed log); the caller closes the body.
func (c *Client) stream(ctx context.Context, path string, q url.Values) (*http.Response, error) {
	return c.streamAs(ctx, path, q, "text/plain", nil)
}

// streamAs is stream with the Accept header and extra headers given (an
// event stream's Last-Event-ID).
func (c *Client) streamAs(ctx context.Context, path string, q url.Values, accept string, hdr http.Header) (*http.Response, error) {
	req, err := c.newRequest(ctx, http.MethodGet, path, q, nil)
	if err != nil {
		return nil, err
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	req.Header.Set("Accept", accept)
	resp, err := c.httpClient().Do(req)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", path, err)
	}
	if resp.StatusCode >= 300 {
		defer func() { _ = resp.Body.Close() }()
		raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		return nil, apiError(resp.StatusCode, raw)
	}
	return resp, nil
}

// apiError reads the error envelope; an answer without one (a proxy's
// page) keeps its status and a piece of its body.
func apiError(status int, raw []byte) error {
	var env struct {
		Error *struct {
			Code    string          `json:"code"`
			Message string          `json:"message"`
			Details json.RawMessage `json:"details"`
		} `json:"error"`
	}
	if json.Unmarshal(raw, &env) == nil && env.Error != nil {
		return &APIError{Status: status, Code: env.Error.Code, Message: env.Error.Message, Details: env.Error.Details}
	}
	msg := strings.TrimSpace(string(raw))
	if len(msg) > 200 {
		msg = msg[:200] + "..."
	}
	if msg == "" {
		msg = http.StatusText(status)
	}
	return &APIError{Status: status, Code: "http_" + strconv.Itoa(status), Message: msg}
}

// isStatus reports whether err is an API answer with that status.
func isStatus(err error, status int) bool {
	var e *APIError
	return errors.As(err, &e) && e.Status == status
}
