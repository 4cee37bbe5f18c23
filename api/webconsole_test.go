package api

import (
	"encoding/json"
	"io"
	"io/fs"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/baton-sched/baton/web"
)

// The console is served for client routes, from the bundle embedded in the
// binary, while the API's own paths keep their JSON errors.
func TestConsoleFallback(t *testing.T) {
	e := startEnv(t, &fakeEngine{}, Options{Now: func() time.Time { return fixedNow }, Console: web.Handler(web.Files())})

	index := func(path string) {
		t.Helper()
		r := e.page(path)
		if r.status != http.StatusOK || !strings.Contains(string(r.body), `<div id="root">`) {
			t.Fatalf("GET %s: %d %.200s, want the console's index.html", path, r.status, r.body)
		}
		if got := r.header.Get("Cache-Control"); got != "no-cache" {
			t.Errorf("GET %s: Cache-Control %q, want no-cache", path, got)
		}
		if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
			t.Errorf("GET %s: Content-Type %q", path, ct)
		}
	}
	index("/")
	index("/index.html")
	index("/runs/0b7c2d0e-5a55-4d3a-9a0b-000000000000") // a deep client route
	index("/flows/new")

	// A hashed bundle is cached for good.
	assets, err := fs.Glob(web.Files(), "assets/*.js")
	if err != nil || len(assets) == 0 {
		t.Fatalf("no assets/*.js in the embedded bundle (%v): build it with cd web && npm run build", err)
	}
	r := e.page("/" + assets[0])
	if r.status != http.StatusOK || !strings.Contains(r.header.Get("Cache-Control"), "immutable") {
		t.Fatalf("GET /%s: %d, Cache-Control %q; want 200 immutable", assets[0], r.status, r.header.Get("Cache-Control"))
	}
	if ct := r.header.Get("Content-Type"); !strings.Contains(ct, "javascript") {
		t.Errorf("GET /%s: Content-Type %q", assets[0], ct)
	}

	// The API's paths never fall back to HTML.
	for _, c := range []struct{ method, path string }{
		{http.MethodGet, "/api/v1/nope"},
		{http.MethodGet, "/api/nope"},
		{http.MethodGet, "/api"},
		{http.MethodPost, "/runs"}, // writes are never the console's
	} {
		r := e.do(c.method, c.path, e.admin, nil)
		var body errorBody
		if r.status != http.StatusNotFound || json.Unmarshal(r.body, &body) != nil || body.Error == nil || body.Error.Code != CodeNotFound {
			t.Errorf("%s %s: %d %.200s, want a JSON 404", c.method, c.path, r.status, r.body)
		}
	}
	if r := e.do(http.MethodGet, "/healthz", "", nil); r.status != http.StatusOK || !strings.Contains(string(r.body), `"ok"`) {
		t.Errorf("GET /healthz: %d %s", r.status, r.body)
	}
}

// Without a console the server answers every unknown path with JSON.
func TestNoConsoleIsJSON404(t *testing.T) {
	e := newEnv(t)
	r := e.do(http.MethodGet, "/", "", nil)
	if r.status != http.StatusNotFound || !strings.Contains(string(r.body), CodeNotFound) {
		t.Fatalf("GET /: %d %s, want a JSON 404", r.status, r.body)
	}
}

func TestMe(t *testing.T) {
	e := startEnv(t, &fakeEngine{}, Options{TemporalUIURL: "http://127.0.0.1:8233"})
	for _, c := range []struct{ token, role string }{{e.admin, RoleAdmin}, {e.operator, RoleOperator}, {e.viewer, RoleViewer}} {
		var me struct {
			Name, Role    string
			TemporalUIURL string `json:"temporal_ui_url"`
		}
		e.must(http.StatusOK, http.MethodGet, "/api/v1/me", c.token, nil, &me)
		if me.Role != c.role || me.Name != c.role || me.TemporalUIURL != "http://127.0.0.1:8233" {
			t.Errorf("GET /me as %s: %+v", c.role, me)
		}
	}
	if r := e.do(http.MethodGet, "/api/v1/me", "wrong", nil); r.status != http.StatusUnauthorized || !strings.Contains(string(r.body), "invalid or revoked token") {
		t.Errorf("GET /me with a wrong token: %d %s, want 401 invalid or revoked token", r.status, r.body)
	}
}

// page GETs one of the console's own files. They are not the API's, so the
// OpenAPI document does not describe them and the exchange is not checked.
func (e *env) page(path string) response {
	e.t.Helper()
	resp, err := http.Get(e.url + path)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: data}
}
