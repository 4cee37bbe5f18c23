package cli

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"
)

// The API's answers as the CLI reads them. Only what tables show is
// decoded; -o json prints the answer itself, so fields the API adds later
// reach scripts without a CLI change.

type listPage[T any] struct {
	Items      []T    `json:"items"`
	Total      int64  `json:"total"`
	NextCursor string `json:"next_cursor"`
}

type defSummary struct {
	ID          string     `json:"id"`
	Name        string     `json:"name"`
	Group       string     `json:"group"`
	Version     int        `json:"version"`
	Enabled     bool       `json:"enabled"`
	TriggerType string     `json:"trigger_type"`
	UpdatedAt   *time.Time `json:"updated_at"`
	DeletedAt   *time.Time `json:"deleted_at"`
}

type runView struct {
	ID             string            `json:"id"`
	Kind           string            `json:"kind"`
	DefinitionID   string            `json:"definition_id"`
	DefinitionName string            `json:"definition_name"`
	Version        int               `json:"version"`
	Group          string            `json:"group"`
	Status         string            `json:"status"`
	Trigger        string            `json:"trigger"`
	Bizdate        string            `json:"bizdate"`
	Params         map[string]string `json:"params"`
	Initiator      string            `json:"initiator"`
	ParentRunID    string            `json:"parent_run_id"`
	Message        string            `json:"message"`
	CreatedAt      *time.Time        `json:"created_at"`
	StartedAt      *time.Time        `json:"started_at"`
	FinishedAt     *time.Time        `json:"finished_at"`
}

type runDetail struct {
	runView
	Nodes []nodeView `json:"nodes"`
}

type nodeView struct {
	ID         string         `json:"id"`
	Status     string         `json:"status"`
	Forced     bool           `json:"forced"`
	Attempts   int            `json:"attempts"`
	Message    string         `json:"message"`
	StartedAt  *time.Time     `json:"started_at"`
	FinishedAt *time.Time     `json:"finished_at"`
	Instances  []instanceView `json:"instances"`
}

type instanceView struct {
	ID         string     `json:"id"`
	NodeID     string     `json:"node_id"`
	ShardIndex int        `json:"shard_index"`
	Attempt    int        `json:"attempt"`
	WorkerID   string     `json:"worker_id"`
	Status     string     `json:"status"`
	ExitCode   *int       `json:"exit_code"`
	Message    string     `json:"message"`
	StartedAt  *time.Time `json:"started_at"`
	FinishedAt *time.Time `json:"finished_at"`
	LogSize    int64      `json:"log_size"`
}

func (d *runDetail) node(id string) *nodeView {
	for i := range d.Nodes {
		if d.Nodes[i].ID == id {
			return &d.Nodes[i]
		}
	}
	return nil
}

// opAnswer is the answer of a run or node operation.
type opAnswer struct {
	Applied bool `json:"applied"`
	DryRun  bool `json:"dry_run"`
	Plan    struct {
		Nodes     []string `json:"nodes"`
		Instances []string `json:"instances"`
	} `json:"plan"`
	// Nodes is what rerun-from re-executes.
	Nodes []string   `json:"nodes"`
	Run   *runDetail `json:"run"`
}

type backfillView struct {
	ID             string     `json:"id"`
	Kind           string     `json:"kind"`
	DefinitionID   string     `json:"definition_id"`
	DefinitionName string     `json:"definition_name"`
	Version        int        `json:"version"`
	Status         string     `json:"status"`
	Total          int        `json:"total"`
	Done           int        `json:"done"`
	Failed         int        `json:"failed"`
	Running        int        `json:"running"`
	Waiting        int        `json:"waiting"`
	Initiator      string     `json:"initiator"`
	CreatedAt      *time.Time `json:"created_at"`
	Dates          []struct {
		Bizdate   string `json:"bizdate"`
		RunID     string `json:"run_id"`
		Attempt   int    `json:"attempt"`
		Status    string `json:"status"`
		RunStatus string `json:"run_status"`
	} `json:"dates"`
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
