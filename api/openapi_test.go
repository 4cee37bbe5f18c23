package api

import (
	"context"
	"go/ast"
	"go/parser"
	"go/token"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/baton-sched/baton/api/apitest"
	"github.com/baton-sched/baton/internal/dag"
	"github.com/baton-sched/baton/internal/engine"
	"github.com/baton-sched/baton/internal/status"
)

// openAPIChecker is the checker every test request goes through (see
// env.send), loaded once from the document the server serves.
var openAPIChecker = apitest.Loader(OpenAPIDocument)

func TestOpenAPIServed(t *testing.T) {
	e := newEnv(t)
	// No token: like /healthz, the document is public.
	r := e.do("GET", "/api/openapi.json", "", nil)
	if r.status != http.StatusOK {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("content type %q", ct)
	}
	c, err := apitest.Load(context.Background(), r.body)
	if err != nil {
		t.Fatal(err)
	}
	if v := c.Doc().OpenAPI; v != "3.1.0" {
		t.Fatalf("openapi %q, want 3.1.0", v)
	}
	if _, ok := c.Doc().Components.SecuritySchemes["bearerAuth"]; !ok {
		t.Fatal("no bearerAuth security scheme")
	}
}

// ginParam turns Gin's :name and *name segments into OpenAPI's {name}.
var ginParam = regexp.MustCompile(`[:*]([A-Za-z0-9_]+)`)

// TestOpenAPIRoutes walks the router's real route table: every
// registered route must be documented, and every documented one
// registered.
func TestOpenAPIRoutes(t *testing.T) {
	engine, ok := New(Options{}).Handler().(*gin.Engine)
	if !ok {
		t.Fatal("Server.Handler is no longer the *gin.Engine: read the route table another way")
	}
	registered := map[string]bool{}
	for _, r := range engine.Routes() {
		registered[r.Method+" "+ginParam.ReplaceAllString(r.Path, "{$1}")] = true
	}
	c, err := openAPIChecker()
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	for path, item := range c.Doc().Paths.Map() {
		for method := range item.Operations() {
			documented[method+" "+path] = true
		}
	}
	if len(registered) < 50 {
		t.Fatalf("only %d routes registered: is the route table read right?", len(registered))
	}
	for _, r := range slices.Sorted(maps.Keys(registered)) {
		if !documented[r] {
			t.Errorf("route %s is registered but not in api/openapi.yaml", r)
		}
	}
	for _, r := range slices.Sorted(maps.Keys(documented)) {
		if !registered[r] {
			t.Errorf("api/openapi.yaml documents %s, which is not registered", r)
		}
	}
}

// TestOpenAPIEnums holds the document's enums to the Go constants they
// come from, so that a new status, kind, trigger or error code cannot be
// missing from the typed client.
func TestOpenAPIEnums(t *testing.T) {
	c, err := openAPIChecker()
	if err != nil {
		t.Fatal(err)
	}
	enum := func(name string) []string {
		s := c.Doc().Components.Schemas[name]
		if s == nil || s.Value == nil {
			t.Fatalf("no schema %s", name)
		}
		var out []string
		for _, v := range s.Value.Enum {
			out = append(out, v.(string))
		}
		return out
	}
	byType := func(typ string) func(string, string) bool {
		return func(_, t string) bool { return t == typ }
	}
	byPrefix := func(prefix string) func(string, string) bool {
		return func(n, _ string) bool { return strings.HasPrefix(n, prefix) }
	}
	var runs []string
	for _, r := range status.Runs {
		runs = append(runs, string(r))
	}
	var alertEvents []string
	for _, e := range dag.AlertEvents {
		alertEvents = append(alertEvents, string(e))
	}
	codes := append(constValues(t, "errors.go", byPrefix("Code")), constValues(t, "../internal/control/control.go", byPrefix("Code"))...)
	codes = append(codes, "worker_gone") // workflows/control.go, passed through
	for _, tc := range []struct {
		schema string
		want   []string
	}{
		{"RunStatus", runs},
		{"RunStatus", constValues(t, "../internal/status/status.go", byType("Run"))},
		{"NodeStatus", constValues(t, "../internal/status/status.go", byType("Node"))},
		{"InstanceStatus", constValues(t, "../internal/status/status.go", byType("Instance"))},
		{"TaskKind", constValues(t, "../internal/dag/types.go", byPrefix("Kind"))},
		{"TaskMode", constValues(t, "../internal/dag/types.go", byPrefix("Mode"))},
		{"TriggerType", constValues(t, "../internal/dag/types.go", byPrefix("Trigger"))},
		{"NodeType", append([]string{""}, constValues(t, "../internal/dag/types.go", byType("NodeType"))...)},
		{"EdgeOn", constValues(t, "../internal/dag/types.go", byType("EdgeOn"))},
		{"OverlapPolicy", engine.OverlapPolicies},
		{"Role", constValues(t, "middleware.go", byPrefix("Role"))},
		{"BackfillStatus", constValues(t, "../internal/status/backfill.go", byType("Backfill"))},
		{"ErrorCode", codes},
		{"AlertEvent", alertEvents},
	} {
		got, want := enum(tc.schema), slices.Clone(tc.want)
		slices.Sort(got)
		slices.Sort(want)
		want = slices.Compact(want)
		if !slices.Equal(got, want) {
			t.Errorf("schema %s: enum %q, the code has %q", tc.schema, got, want)
		}
	}
}

// constValues reads the string constants of a Go file whose name and
// declared type keep accepts.
func constValues(t *testing.T, file string, keep func(name, typ string) bool) []string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), file, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.CONST {
			continue
		}
		for _, spec := range g.Specs {
			vs := spec.(*ast.ValueSpec)
			typ := ""
			if id, ok := vs.Type.(*ast.Ident); ok {
				typ = id.Name
			}
			for i, name := range vs.Names {
				if i >= len(vs.Values) || !keep(name.Name, typ) {
					continue
				}
				lit, ok := vs.Values[i].(*ast.BasicLit)
				if !ok || lit.Kind != token.STRING {
					continue
				}
				v, err := strconv.Unquote(lit.Value)
				if err != nil {
					t.Fatal(err)
				}
				out = append(out, v)
			}
		}
	}
	if len(out) == 0 {
		t.Fatalf("%s: no constants matched", file)
	}
	return out
}
