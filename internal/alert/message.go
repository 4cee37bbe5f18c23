package alert

import (
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"text/template"
	"time"

	"github.com/baton-sched/baton/internal/dag"
	"github.com/baton-sched/baton/workflows"
)

// EventTest is the event of a channel's send test.
const EventTest dag.AlertEvent = "test"

// maxErrorLine bounds the error shown per failed node: a chat message
// is read on a phone.
const maxErrorLine = 300

// Message is an event rendered for people; it is also the data of body
// templates ({{.Title}}, {{.Text}}, {{.Alert.RunID}}, ...).
type Message struct {
	Event string `json:"event"`
	// Title is one line: "[Baton] Run failed: daily-settlement (2026-01-31)".
	Title string `json:"title"`
	// Text is the plain-text message, several lines, ending with the link.
	Text string `json:"text"`
	// Markdown is Text for chats that render Markdown (DingTalk, WeCom).
	Markdown string `json:"markdown"`
	// Link opens the run in the console; empty for events without a run.
	Link string `json:"link,omitempty"`
	// Alert is the event as the workflow reported it.
	Alert workflows.AlertEvent `json:"alert"`
}

var eventTitles = map[dag.AlertEvent]string{
	dag.AlertRunFailed:        "Run failed",
	dag.AlertRunTimeout:       "Run timed out",
	dag.AlertRunStopped:       "Run stopped",
	dag.AlertRollbackFailed:   "Rollback failed",
	dag.AlertStopFailed:       "An instance survived a stop",
	dag.AlertNodeFailed:       "Node failed",
	dag.AlertSLAMiss:          "SLA missed",
	dag.AlertRecovered:        "Run recovered",
	dag.AlertBackfillFinished: "Backfill finished",
	dag.AlertSchedulePaused:   "Schedule paused",
	EventTest:                 "Test message",
}

// RunLink is the console's page of a run under consoleURL.
func RunLink(consoleURL, runID string) string {
	if consoleURL == "" || runID == "" {
		return ""
	}
	return strings.TrimRight(consoleURL, "/") + "/runs/" + url.PathEscape(runID)
}

// FirstLine is the first non-empty line of an error, bounded.
func FirstLine(s string) string {
	for line := range strings.SplitSeq(s, "\n") {
		if line = strings.TrimSpace(line); line != "" {
			if r := []rune(line); len(r) > maxErrorLine {
				return string(r[:maxErrorLine]) + "…"
			}
			return line
		}
	}
	return ""
}

// Render makes the message of ev; consoleURL is where the console is
// served (BATON_CONSOLE_URL).
func Render(ev workflows.AlertEvent, consoleURL string) Message {
	label := eventTitles[ev.Event]
	if label == "" {
		label = string(ev.Event)
	}
	what := ev.DefinitionName
	if what == "" {
		what = ev.DefinitionID
	}
	title := "[Baton] " + label
	if what != "" {
		title += ": " + what
	}
	if ev.Bizdate != "" {
		title += " (" + ev.Bizdate + ")"
	}
	m := Message{Event: string(ev.Event), Title: title, Link: RunLink(consoleURL, ev.RunID), Alert: ev}

	type field struct{ name, value string }
	var fields []field
	add := func(name, value string) {
		if value != "" {
			fields = append(fields, field{name, value})
		}
	}
	if ev.RunID != "" {
		run := ev.RunID
		var about []string
		if ev.Kind != "" && what != "" {
			about = append(about, fmt.Sprintf("%s %s v%d", ev.Kind, what, ev.Version))
		}
		if ev.Trigger != "" {
			about = append(about, "trigger "+ev.Trigger)
		}
		if ev.Group != "" {
			about = append(about, "group "+ev.Group)
		}
		if len(about) > 0 {
			run += " (" + strings.Join(about, ", ") + ")"
		}
		add("Run", run)
	}
	add("Status", ev.Status)
	add("Node", ev.Node)
	add("Instance", ev.Instance)
	if ev.Deadline != nil {
		add("Deadline", ev.Deadline.UTC().Format(time.RFC3339))
	}
	add("Backfill", ev.BackfillID)
	if len(ev.Counts) > 0 {
		keys := make([]string, 0, len(ev.Counts))
		for k := range ev.Counts {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = fmt.Sprintf("%s %d", k, ev.Counts[k])
		}
		add("Runs", strings.Join(parts, ", "))
	}
	add("Schedule", ev.ScheduleID)
	if !ev.At.IsZero() {
		add("At", ev.At.UTC().Format(time.RFC3339))
	}

	var text, md strings.Builder
	text.WriteString(title + "\n")
	md.WriteString("### " + title + "\n\n")
	for _, f := range fields {
		fmt.Fprintf(&text, "%s: %s\n", f.name, f.value)
		fmt.Fprintf(&md, "- **%s**: %s\n", f.name, f.value)
	}
	if len(ev.Failed) > 0 {
		text.WriteString("Failed nodes:\n")
		md.WriteString("\n**Failed nodes**\n\n")
		for _, n := range ev.Failed {
			name := n.Node
			if n.Name != "" && n.Name != n.Node {
				name += " (" + n.Name + ")"
			}
			line := name
			if e := FirstLine(n.Error); e != "" {
				line += ": " + e
			}
			fmt.Fprintf(&text, "- %s\n", line)
			fmt.Fprintf(&md, "- %s\n", line)
		}
	}
	if m.Link != "" {
		fmt.Fprintf(&text, "Open: %s\n", m.Link)
		fmt.Fprintf(&md, "\n[Open the run in the console](%s)\n", m.Link)
	}
	m.Text = strings.TrimRight(text.String(), "\n")
	m.Markdown = strings.TrimRight(md.String(), "\n")
	return m
}

// builtinTemplates are the webhook bodies Baton ships. Each renders
// JSON: {{json x}} writes x as a JSON value.
var builtinTemplates = map[string]string{
	"generic":  `{"event":{{json .Event}},"title":{{json .Title}},"text":{{json .Text}},"link":{{json .Link}},"alert":{{json .Alert}}}`,
	"dingtalk": `{"msgtype":"markdown","markdown":{"title":{{json .Title}},"text":{{json .Markdown}}}}`,
	"wecom":    `{"msgtype":"markdown","markdown":{"content":{{json .Markdown}}}}`,
	"feishu":   `{"msg_type":"text","content":{"text":{{json .Text}}}}`,
	"slack":    `{"text":{{json .Text}}}`,
}

// Templates lists the built-in template names.
func Templates() []string {
	names := make([]string, 0, len(builtinTemplates))
	for n := range builtinTemplates {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

var templateFuncs = template.FuncMap{
	"json": func(v any) (string, error) {
		b, err := json.Marshal(v)
		return string(b), err
	},
}

// compile parses the webhook's body template: its custom body, else its
// built-in template (generic by default).
func compile(w *Webhook) (*template.Template, error) {
	src := w.Body
	if src == "" {
		name := w.Template
		if name == "" {
			name = "generic"
		}
		var ok bool
		if src, ok = builtinTemplates[name]; !ok {
			return nil, fmt.Errorf("no built-in template %q", name)
		}
	}
	t, err := template.New("body").Funcs(templateFuncs).Option("missingkey=error").Parse(src)
	if err != nil {
		return nil, fmt.Errorf("template: %w", err)
	}
	return t, nil
}

// RenderBody is the request body the webhook sends for m.
func RenderBody(w *Webhook, m Message) ([]byte, error) {
	t, err := compile(w)
	if err != nil {
		return nil, err
	}
	var b strings.Builder
	if err := t.Execute(&b, m); err != nil {
		return nil, fmt.Errorf("template: %w", err)
	}
	return []byte(b.String()), nil
}

// sampleEvent is what a custom body is tried on when it is saved.
func sampleEvent() workflows.AlertEvent {
	at := time.Date(2026, 1, 31, 22, 30, 0, 0, time.UTC)
	return workflows.AlertEvent{Event: dag.AlertRunFailed, Key: "1", Channels: []string{"sample"}, RunID: "00000000-0000-0000-0000-000000000000",
		Kind: "flow", DefinitionID: "daily-settlement", DefinitionName: "daily-settlement", Version: 3, Group: "default",
		Trigger: "cron", Bizdate: "2026-01-31", Status: "failed",
		Failed: []workflows.AlertNode{{Node: "load", Error: "exit status 1"}}, Deadline: &at, Counts: map[string]int{"failed": 1},
		At: at}
}

// checkBody renders a custom body on a sample event: a template that
// does not parse, names a field a Message lacks, or (without a
// Content-Type of its own) renders no JSON is refused at save, not at
// 2 a.m.
func checkBody(w *Webhook) error {
	body, err := RenderBody(w, Render(sampleEvent(), "http://127.0.0.1:8080"))
	if err != nil {
		return err
	}
	if !hasHeader(w.Headers, "Content-Type") && !json.Valid(body) {
		return fmt.Errorf("renders %q, which is not JSON (set a Content-Type header to send something else)", truncateRunes(string(body), 120))
	}
	return nil
}

func hasHeader(h map[string]string, name string) bool {
	for k := range h {
		if strings.EqualFold(k, name) {
			return true
		}
	}
	return false
}

func truncateRunes(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n]) + "…"
	}
	return s
}

// TestEvent is the event a channel's send test delivers.
func TestEvent(channel string, at time.Time) workflows.AlertEvent {
	return workflows.AlertEvent{Event: EventTest, Channels: []string{channel}, DefinitionName: "channel " + channel,
		Status: "test", At: at}
}
