package api

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
)

// registeredRoutes is the router's own route table.
func registeredRoutes(t *testing.T, e *env) gin.RoutesInfo {
	t.Helper()
	eng, ok := New(Options{Store: e.store, Engine: e.engine}).Handler().(*gin.Engine)
	if !ok {
		t.Fatal("Handler is not a *gin.Engine")
	}
	return eng.Routes()
}

// concrete fills a route's parameters with ids that exist nowhere.
func concrete(path string) string {
	r := strings.NewReplacer(":id", "no-such-id", ":node", "no-such-node", ":version", "1", ":group", "no-such-group")
	return r.Replace(path)
}

// probe sends a read and returns once the answer's status and headers are
// in: a live stream (the runs events) never ends, and only its status
// matters here.
func probe(t *testing.T, e *env, method, path, token string) response {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, e.url+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	return response{status: resp.StatusCode, header: resp.Header}
}

// TestRoutesRolesAndAudit walks every registered route, so a new route is
// covered without editing this test: "mutating" comes from the method and
// "admin" from adminRoutes, the list the auth middleware enforces.
func TestRoutesRolesAndAudit(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	plain, tok, err := e.store.CreateToken(ctx, "gone", RoleAdmin)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.store.RevokeToken(ctx, tok.ID); err != nil {
		t.Fatal(err)
	}
	routes := registeredRoutes(t, e)
	if len(routes) < 40 {
		t.Fatalf("only %d routes registered", len(routes))
	}
	seen := map[string]bool{}
	for _, rt := range routes {
		key := rt.Method + " " + rt.Path
		seen[key] = true
		if !strings.HasPrefix(rt.Path, "/api/v1/") {
			continue
		}
		// Token management and schedule resync are the admin's (design
		// §5); any route added there must be admin too.
		// Alert channels hold webhook URLs and mail settings, and setting
		// a group's default rules pages for every run of the group.
		adminOnly := strings.HasPrefix(rt.Path, "/api/v1/tokens") || strings.HasPrefix(rt.Path, "/api/v1/schedules") ||
			strings.HasPrefix(rt.Path, "/api/v1/alert-channels") || (strings.HasPrefix(rt.Path, "/api/v1/alert-rules") && !readOnly(rt.Method))
		if adminOnly && !adminRoutes[key] {
			t.Errorf("%s is not in adminRoutes", key)
		}
		mutating := !readOnly(rt.Method)
		ra, named := routeActions[key]
		if mutating && !named {
			t.Errorf("%s has no audit action in routeActions", key)
			continue
		}
		if !mutating && named {
			t.Errorf("%s is read-only but has an audit action", key)
		}
		path := concrete(rt.Path)
		// calls sends one request and checks it left exactly one audit
		// entry, with the route's action.
		call := func(token, who string) response {
			t.Helper()
			if !mutating {
				return probe(t, e, rt.Method, path, token)
			}
			before := len(e.audit("action=" + ra.action))
			r := e.do(rt.Method, path, token, map[string]any{})
			if mutating {
				got := e.audit("action=" + ra.action)
				if len(got) != before+1 {
					t.Errorf("%s as %s: %d audit entries for one call (status %d)", key, who, len(got)-before, r.status)
				} else if a := got[0]; a.Method != rt.Method || a.Path != path || a.Status != r.status || a.Target.Kind != ra.target {
					t.Errorf("%s as %s: audit entry %+v for status %d", key, who, a, r.status)
				}
			}
			return r
		}
		for who, token := range map[string]string{"no token": "", "a wrong token": "bt_nope", "a revoked token": plain} {
			if r := call(token, who); r.status != http.StatusUnauthorized {
				t.Errorf("%s with %s: status %d, want 401", key, who, r.status)
			}
		}
		if mutating {
			if r := call(e.viewer, RoleViewer); r.status != http.StatusForbidden {
				t.Errorf("%s as viewer: status %d, want 403", key, r.status)
			}
		}
		if adminRoutes[key] {
			if r := call(e.operator, RoleOperator); r.status != http.StatusForbidden {
				t.Errorf("%s as operator: status %d, want 403", key, r.status)
			}
			if r := call(e.admin, RoleAdmin); r.status == http.StatusForbidden || r.status == http.StatusUnauthorized {
				t.Errorf("%s as admin: status %d", key, r.status)
			}
		} else if r := call(e.operator, RoleOperator); r.status == http.StatusForbidden || r.status == http.StatusUnauthorized {
			t.Errorf("%s as operator: status %d", key, r.status)
		}
	}
	// The lists name only routes that exist, so a renamed route cannot
	// leave its old entry behind.
	for key := range routeActions {
		if !seen[key] {
			t.Errorf("routeActions names %s, which is not registered", key)
		}
	}
	for key := range adminRoutes {
		if !seen[key] {
			t.Errorf("adminRoutes names %s, which is not registered", key)
		}
	}
	if t.Failed() {
		fmt.Println("registered routes:")
		for _, rt := range routes {
			fmt.Println(" ", rt.Method, rt.Path)
		}
	}
}
