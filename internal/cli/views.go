package cli

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/baton-sched/baton/internal/cli/apiclient"
)

// The API's answers as the CLI reads them: the types generated from the
// OpenAPI document (package apiclient), so a field the document changes
// changes here at the next go generate. -o json prints the answer itself.
type (
	defSummary   = apiclient.DefinitionSummary
	runView      = apiclient.Run
	runDetail    = apiclient.RunDetail
	nodeView     = apiclient.RunNode
	instanceView = apiclient.Instance
	backfillView = apiclient.Backfill
)

// listPage is the envelope of every list (RunList, DefinitionList,
// BackfillList, ...), over their generated item types.
type listPage[T any] struct {
	Items      []T     `json:"items"`
	Total      int64   `json:"total"`
	NextCursor *string `json:"next_cursor"`
}

// deref is *s, "" for nil.
func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// nodeOf is the node id of d, nil when the run has no such node.
func nodeOf(d *runDetail, id string) *nodeView {
	for i := range d.Nodes {
		if d.Nodes[i].ID == id {
			return &d.Nodes[i]
		}
	}
	return nil
}

// opAnswer reads the answers of run and node operations, which differ by
// operation: ControlApplied (applied, the plan and the run), a dry run's
// plan, and rerun-from's re-executed nodes.
type opAnswer struct {
	Applied bool           `json:"applied"`
	DryRun  bool           `json:"dry_run"`
	Plan    apiclient.Plan `json:"plan"`
	Nodes   []string       `json:"nodes"`
	Run     *runDetail     `json:"run"`
}

// detailLines renders the details of an API error: the offending nodes of
// a refusal, the problems of an invalid body, else the details as JSON.
func detailLines(raw json.RawMessage) []string {
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	var problems []struct {
		Path    string `json:"path"`
		Message string `json:"message"`
	}
	if json.Unmarshal(raw, &problems) == nil {
		out := make([]string, 0, len(problems))
		for _, p := range problems {
			out = append(out, fmt.Sprintf("%s: %s", p.Path, p.Message))
		}
		return out
	}
	var obj map[string]json.RawMessage
	if json.Unmarshal(raw, &obj) != nil {
		return []string{string(raw)}
	}
	var out []string
	if o, ok := obj["offending"]; ok {
		var offenders []struct {
			ID     string `json:"id"`
			Status string `json:"status"`
		}
		if json.Unmarshal(o, &offenders) == nil && len(offenders) > 0 {
			parts := make([]string, len(offenders))
			for i, of := range offenders {
				parts[i] = of.ID
				if of.Status != "" {
					parts[i] += " (" + of.Status + ")"
				}
			}
			out = append(out, "offending: "+strings.Join(parts, ", "))
		}
		delete(obj, "offending")
	}
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := string(obj[k])
		var s string
		if json.Unmarshal(obj[k], &s) == nil {
			v = s
		}
		out = append(out, k+": "+truncate(v, 200))
	}
	return out
}
