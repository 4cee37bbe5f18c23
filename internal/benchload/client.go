package benchload

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"time"
)

// client calls the API with the admin token and keeps every call's
// latency by class, so the report can give the API's p99 under load.
type apiClient struct {
	base, token string
	http        *http.Client

	mu        sync.Mutex
	latencies map[string][]time.Duration
	errors    map[string]int
}

func newClient(base, token string) *apiClient {
	return &apiClient{base: base, token: token, http: &http.Client{Timeout: 60 * time.Second},
		latencies: map[string][]time.Duration{}, errors: map[string]int{}}
}

// do sends body (JSON) and decodes the answer into out; it returns the
// HTTP status. Transport errors count as status 0.
func (c *apiClient) do(ctx context.Context, class, method, path string, body, out any) (int, error) {
	return c.doKey(ctx, class, method, path, "", body, out)
}

// doKey is do with an Idempotency-Key (none when key is empty).
func (c *apiClient) doKey(ctx context.Context, class, method, path, key string, body, out any) (int, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, fmt.Errorf("%s %s: %w", method, path, err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return 0, fmt.Errorf("%s %s: %w", method, path, err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	start := time.Now()
	resp, err := c.http.Do(req)
	if err != nil {
		c.record(class, time.Since(start), true)
		return 0, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer func() { _ = resp.Body.Close() }()
	raw, err := io.ReadAll(resp.Body)
	c.record(class, time.Since(start), err != nil || resp.StatusCode >= 500)
	if err != nil {
		return resp.StatusCode, fmt.Errorf("%s %s: %w", method, path, err)
	}
	if resp.StatusCode >= 300 {
		return resp.StatusCode, fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, bytes.TrimSpace(raw))
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return resp.StatusCode, fmt.Errorf("%s %s: decode: %w", method, path, err)
		}
	}
	return resp.StatusCode, nil
}

func (c *apiClient) record(class string, d time.Duration, failed bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.latencies[class] = append(c.latencies[class], d)
	if failed {
		c.errors[class]++
	}
}

// take returns and clears the latencies and server errors kept so far.
func (c *apiClient) take() (map[string][]time.Duration, map[string]int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	l, e := c.latencies, c.errors
	c.latencies, c.errors = map[string][]time.Duration{}, map[string]int{}
	return l, e
}

// quantile is the q-quantile (nearest rank) of ds; zero for none.
func quantile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(float64(len(s))*q+0.999999) - 1
	return s[max(0, min(i, len(s)-1))]
}
