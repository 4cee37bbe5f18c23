package workflows

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/workflow"
)

// fixture is what one recorded history in testdata/ records.
type fixture struct {
	workflowType string
	versions     map[string]workflow.Version // change id -> recorded version
	newest       int                         // the newest version recorded, 0 for none
}

// readFixture reads the workflow type and the version markers of a
// recorded history. A run continued as new records no marker: its version
// is the one carried in its input.
func readFixture(t *testing.T, path string) fixture {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h, err := client.HistoryFromJSON(f, client.HistoryJSONOptions{})
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	dc := converter.GetDefaultDataConverter()
	fx := fixture{versions: map[string]workflow.Version{}}
	for _, e := range h.GetEvents() {
		switch e.GetEventType() {
		case enums.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
			a := e.GetWorkflowExecutionStartedEventAttributes()
			fx.workflowType = a.GetWorkflowType().GetName()
			if fx.workflowType == RunWorkflowName {
				var in RunInput
				if err := dc.FromPayloads(a.GetInput(), &in); err != nil {
					t.Fatalf("%s: run input: %v", path, err)
				}
				if in.Carry != nil && in.Carry.Version > fx.newest {
					fx.newest = in.Carry.Version
				}
			}
		case enums.EVENT_TYPE_MARKER_RECORDED:
			a := e.GetMarkerRecordedEventAttributes()
			if a.GetMarkerName() != "Version" {
				continue
			}
			var id string
			var v workflow.Version
			if err := dc.FromPayloads(a.GetDetails()["change-id"], &id); err != nil {
				t.Fatalf("%s: version marker: %v", path, err)
			}
			if err := dc.FromPayloads(a.GetDetails()["version"], &v); err != nil {
				t.Fatalf("%s: version marker: %v", path, err)
			}
			fx.versions[id] = v
			if int(v) > fx.newest {
				fx.newest = int(v)
			}
		}
	}
	return fx
}

// TestEveryVersionHasAFixture fails when a version of a workflow change has
// no recorded history in testdata/ (so TestReplayRecordedHistories would
// not guard it), when a fixture's name does not say the workflow type and
// version it records, or when workflow.GetVersion is called outside
// change.get (a change not declared with newChange would escape this
// test). Record the missing histories with `make record-histories`.
func TestEveryVersionHasAFixture(t *testing.T) {
	assertVersionsOnlyThroughChanges(t)
	if len(changes) == 0 {
		t.Fatal("no change declared with newChange: the registry is not being filled")
	}
	files, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	name := regexp.MustCompile(`^([a-z]+)-v([0-9]+)-[a-z0-9-]+\.json$`)
	recorded := map[string]map[string]map[workflow.Version]bool{} // type -> change -> version
	for _, f := range files {
		fx := readFixture(t, f)
		base := filepath.Base(f)
		m := name.FindStringSubmatch(base)
		if m == nil {
			t.Errorf("%s: fixture names are <type>-v<version>-<name>.json", base)
			continue
		}
		if prefix := fixturePrefixes[fx.workflowType]; m[1] != prefix {
			t.Errorf("%s records workflow type %q: its name must start with %q", base, fx.workflowType, prefix+"-")
		}
		if v, _ := strconv.Atoi(m[2]); v != fx.newest {
			t.Errorf("%s records version %d (%v): its name must say v%d", base, fx.newest, fx.versions, fx.newest)
		}
		if recorded[fx.workflowType] == nil {
			recorded[fx.workflowType] = map[string]map[workflow.Version]bool{}
		}
		for id, v := range fx.versions {
			if recorded[fx.workflowType][id] == nil {
				recorded[fx.workflowType][id] = map[workflow.Version]bool{}
			}
			recorded[fx.workflowType][id][v] = true
		}
	}
	for _, c := range changes {
		if _, ok := fixturePrefixes[c.workflow]; !ok {
			t.Errorf("change %s: workflow type %q has no fixture prefix", c.id, c.workflow)
		}
		for v := workflow.Version(1); v <= c.max; v++ {
			if why, ok := c.reserved[v]; ok {
				if recorded[c.workflow][c.id][v] {
					t.Errorf("%s change %q version %d is reserved (%s) but has a fixture: remove the reservation", c.workflow, c.id, v, why)
				}
				continue
			}
			if !recorded[c.workflow][c.id][v] {
				t.Errorf("%s change %q version %d has no recorded history in testdata/: run `make record-histories`",
					c.workflow, c.id, v)
			}
		}
	}
}

// assertVersionsOnlyThroughChanges reads this package's sources: the only
// call of workflow.GetVersion must be the one in change.get.
func assertVersionsOnlyThroughChanges(t *testing.T) {
	t.Helper()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	var calls []string
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(fset, f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range file.Decls {
			fn, ok := d.(*ast.FuncDecl)
			if !ok {
				continue
			}
			ast.Inspect(fn, func(n ast.Node) bool {
				call, ok := n.(*ast.CallExpr)
				if !ok {
					return true
				}
				if sel, ok := call.Fun.(*ast.SelectorExpr); ok && sel.Sel.Name == "GetVersion" {
					where := fn.Name.Name
					if fn.Recv != nil && len(fn.Recv.List) == 1 {
						if star, ok := fn.Recv.List[0].Type.(*ast.StarExpr); ok {
							if id, ok := star.X.(*ast.Ident); ok {
								where = id.Name + "." + where
							}
						}
					}
					calls = append(calls, where+" ("+fset.Position(call.Pos()).String()+")")
				}
				return true
			})
		}
	}
	if len(calls) != 1 || !strings.HasPrefix(calls[0], "change.get ") {
		t.Errorf("workflow.GetVersion must be called only in change.get (declare changes with newChange); calls: %v", calls)
	}
}
