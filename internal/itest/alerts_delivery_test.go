package itest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/baton-sched/baton/internal/engine"
	"github.com/baton-sched/baton/internal/status"
	"github.com/baton-sched/baton/workflows"
)

// page is one alert a receiver took: the generic webhook body, or a mail
// (its subject as Title, its body as Text).
type page struct {
	Event string               `json:"event"`
	Title string               `json:"title"`
	Text  string               `json:"text"`
	Link  string               `json:"link"`
	Alert workflows.AlertEvent `json:"alert"`
	at    time.Time
}

// hookReceiver is a webhook channel's far end: it answers 500 to its
// first failFirst requests, then 200, recording what it took.
type hookReceiver struct {
	srv       *httptest.Server
	mu        sync.Mutex
	failFirst int
	hits      int
	got       []page
}

func newHookReceiver(t *testing.T, failFirst int) *hookReceiver {
	h := &hookReceiver{failFirst: failFirst}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.mu.Lock()
		defer h.mu.Unlock()
		h.hits++
		if h.hits <= h.failFirst {
			http.Error(w, "receiver down", http.StatusInternalServerError)
			return
		}
		var p page
		if err := json.NewDecoder(r.Body).Decode(&p); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		p.at = time.Now()
		h.got = append(h.got, p)
	}))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *hookReceiver) pages() []page {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.got)
}

// mailReceiver is a real SMTP server (go-smtp) taking mail in clear on
// loopback, as a local relay would.
type mailReceiver struct {
	addr string
	mu   sync.Mutex
	got  []page
}

type mailSession struct{ r *mailReceiver }

func (s mailSession) Mail(string, *smtp.MailOptions) error { return nil }
func (s mailSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (s mailSession) Reset()                               {}
func (s mailSession) Logout() error                        { return nil }
func (s mailSession) Data(r io.Reader) error {
	msg, err := mail.ReadMessage(r)
	if err != nil {
		return err
	}
	subject, err := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	if err != nil {
		return err
	}
	body, err := io.ReadAll(msg.Body)
	if err != nil {
		return err
	}
	s.r.mu.Lock()
	defer s.r.mu.Unlock()
	s.r.got = append(s.r.got, page{Title: subject, Text: strings.ReplaceAll(string(body), "\r\n", "\n"), at: time.Now()})
	return nil
}

func newMailReceiver(t *testing.T) *mailReceiver {
	r := &mailReceiver{}
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return mailSession{r}, nil }))
	srv.Domain = "localhost"
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r.addr = ln.Addr().String()
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return r
}

func (r *mailReceiver) pages() []page {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.got)
}

// about is the pages of one run, by the run id the message carries.
func about(ps []page, runID string) []page {
	var out []page
	for _, p := range ps {
		if strings.Contains(p.Text, "Run: "+runID+" ") || strings.Contains(p.Text, "Run: "+runID+"\n") {
			out = append(out, p)
		}
	}
	return out
}

// alertRow is one row of GET /api/v1/alerts.
type alertRow struct {
	RunID     string     `json:"run_id"`
	Event     string     `json:"event"`
	Key       string     `json:"key"`
	Channel   string     `json:"channel"`
	Status    string     `json:"status"`
	Attempts  int        `json:"attempts"`
	LastError string     `json:"last_error"`
	SentAt    *time.Time `json:"sent_at"`
}

func alertHistory(t *testing.T, s *stack, runID string) []alertRow {
	t.Helper()
	var l struct{ Items []alertRow }
	if code := call(t, s.api.URL, "GET", "/api/v1/alerts?run_id="+runID, nil, &l); code != http.StatusOK {
		t.Fatalf("GET alerts: %d", code)
	}
	return l.Items
}

// historyIs reports whether the run's history is exactly want
// ("event/key/channel/status/attempts"), in any order.
func historyIs(rows []alertRow, want ...string) (bool, string) {
	got := make([]string, len(rows))
	for i, r := range rows {
		got[i] = fmt.Sprintf("%s/%s/%s/%s/%d", r.Event, r.Key, r.Channel, r.Status, r.Attempts)
	}
	slices.Sort(got)
	want = slices.Clone(want)
	slices.Sort(want)
	return slices.Equal(got, want), strings.Join(got, " ")
}

// alertFlow is a flow's create body with rules.
func alertFlow(name string, nodes []map[string]any, edges []map[string]any, rules ...map[string]any) map[string]any {
	f := map[string]any{"name": name, "nodes": nodes, "alerts": rules}
	if edges != nil {
		f["edges"] = edges
	}
	return f
}

func rule(channels []string, events ...string) map[string]any {
	return map[string]any{"events": events, "channels": channels}
}

// TestAlertsDelivered runs alerts end to end with the real parts: channels
// created through the API (a webhook on a loopback HTTP receiver, email
// through a real SMTP server), rules on flows created and run through the
// API, delivery by the worker's real activity, the history read back
// through the API. One Temporal server; the cases run one after another.
func TestAlertsDelivered(t *testing.T) {
	hook, mailbox, flaky := newHookReceiver(t, 0), newMailReceiver(t), newHookReceiver(t, 2)
	s := newStackOpts(t, databases(t)["sqlite"], stackOptions{HTTPAllow: []string{"127.0.0.0/8"}, OperableWindow: 5 * time.Second})
	host, port, _ := net.SplitHostPort(mailbox.addr)
	p, _ := strconv.Atoi(port)
	for _, ch := range []map[string]any{
		{"name": "hook", "kind": "webhook", "webhook": map[string]any{"url": hook.srv.URL + "/page"}},
		{"name": "mail", "kind": "email", "email": map[string]any{"host": host, "port": p, "tls": "none",
			"from": "Baton <baton@example.com>", "to": []string{"oncall@example.com"}}},
		{"name": "flaky", "kind": "webhook", "webhook": map[string]any{"url": flaky.srv.URL + "/send?access_token=TOKEN123"}},
	} {
		if code := call(t, s.api.URL, "POST", "/api/v1/alert-channels", ch, nil); code != http.StatusCreated {
			t.Fatalf("create channel %s: %d", ch["name"], code)
		}
	}
	both := []string{"hook", "mail"}
	dir := t.TempDir()

	t.Run("a failure pages once across a worker restart", func(t *testing.T) {
		f := alertFlow("fails", []map[string]any{shellNodeJSON("a", "echo 'disk full' >&2; exit 3"), shellNodeJSON("b", "true")},
			[]map[string]any{{"from": "a", "to": "b"}}, rule(both, "run_failed", "node_failed"))
		id := startFlow(t, s.api.URL, f, nil)
		want := []string{"node_failed/a#1/hook/sent/1", "node_failed/a#1/mail/sent/1",
			"run_failed/end-1/hook/sent/1", "run_failed/end-1/mail/sent/1"}
		eventually(t, 30*time.Second, "each event sent once to each channel", func() (bool, string) {
			return historyIs(alertHistory(t, s, id), want...)
		})
		// The run is open (its window): its closing workflow task goes to a
		// new worker with no cache, which replays the whole history.
		s.restartWorker()
		if res := runResultOf(t, s, id, 60*time.Second); res.Status != "failed" {
			t.Fatalf("run %s", res.Status)
		}
		time.Sleep(time.Second) // a second page would be here by now
		if ok, got := historyIs(alertHistory(t, s, id), want...); !ok {
			t.Fatalf("history after the restart %s", got)
		}
		hooks, mails := about(hook.pages(), id), about(mailbox.pages(), id)
		if len(hooks) != 2 || len(mails) != 2 {
			t.Fatalf("pages: %d webhook, %d mail, want 2 each", len(hooks), len(mails))
		}
		link := s.consoleURL + "/runs/" + id
		for _, pg := range append(hooks, mails...) {
			if !strings.Contains(pg.Text, "Open: "+link) {
				t.Errorf("page %q has no console link %s:\n%s", pg.Title, link, pg.Text)
			}
		}
		var failed *page
		for i := range hooks {
			if hooks[i].Event == "run_failed" {
				failed = &hooks[i]
			}
		}
		if failed == nil || failed.Link != link || failed.Alert.RunID != id || !strings.HasPrefix(failed.Title, "[Baton] Run failed: fails (") {
			t.Fatalf("run_failed webhook page %+v", failed)
		}
		// The failed node and its first error line, in the text a chat
		// shows and in the mail.
		for _, txt := range []string{failed.Text, mailText(t, mails, "[Baton] Run failed: fails (")} {
			if !strings.Contains(txt, "Failed nodes:\n- a: exit status 3") || !strings.Contains(txt, "Status: failed") {
				t.Errorf("run_failed message lacks the failed node and its error:\n%s", txt)
			}
		}
	})

	t.Run("a reset derives the same keys and pages nothing new", func(t *testing.T) {
		ctx := context.Background()
		eng := &engine.Engine{Client: s.client, Namespace: "default"}
		f := alertFlow("reset", []map[string]any{shellNodeJSON("a", "exit 3")}, nil, rule([]string{"hook"}, "run_failed", "node_failed"))
		id := startFlow(t, s.api.URL, f, nil)
		runResultOf(t, s, id, 60*time.Second)
		want := []string{"node_failed/a#1/hook/sent/1", "run_failed/end-1/hook/sent/1"}
		if ok, got := historyIs(alertHistory(t, s, id), want...); !ok {
			t.Fatalf("history before the reset %s", got)
		}
		// rerun-from-node: the new Temporal run executes a again, fails the
		// same way and delivers the same events under the same keys, which
		// the activity finds sent.
		p, err := eng.FindResetPoint(ctx, id, "a")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := eng.Reset(ctx, id, p, "itest", "reset-1"); err != nil {
			t.Fatal(err)
		}
		if res := runResultOf(t, s, id, 60*time.Second); res.Status != "failed" {
			t.Fatalf("reset run %s", res.Status)
		}
		if ok, got := historyIs(alertHistory(t, s, id), want...); !ok {
			t.Fatalf("history after the reset %s", got)
		}
		if got := about(hook.pages(), id); len(got) != 2 {
			t.Fatalf("%d pages across the reset, want 2", len(got))
		}
	})

	t.Run("sla fires at its deadline and not for a run in time", func(t *testing.T) {
		sla := func(after string) map[string]any {
			return map[string]any{"events": []string{"sla_miss"}, "channels": []string{"hook"}, "sla": map[string]any{"after": after}}
		}
		slow := map[string]any{"id": "slow", "type": "task", "task": map[string]any{"kind": "sleep", "sleep": map[string]any{"duration": "6s"}}}
		late := startFlow(t, s.api.URL, alertFlow("late", []map[string]any{slow}, nil, sla("2s")), nil)
		onTime := startFlow(t, s.api.URL, alertFlow("ontime", []map[string]any{shellNodeJSON("quick", "true")}, nil, sla("4s")), nil)
		// Ended in time, unsuccessfully: it stays open in its window (5s)
		// past its deadline, and is not late (its failure is another page).
		failedInTime := startFlow(t, s.api.URL, alertFlow("failed-in-time", []map[string]any{shellNodeJSON("x", "exit 1")}, nil, sla("2s")), nil)
		if v := waitRun(t, s.api.URL, onTime, 30*time.Second); v.Status != "success" {
			t.Fatalf("on-time run %s", v.Status)
		}
		v := waitRun(t, s.api.URL, late, 30*time.Second)
		if v.Status != "success" {
			t.Fatalf("late run %s", v.Status)
		}
		got := about(hook.pages(), late)
		if len(got) != 1 || got[0].Event != "sla_miss" || got[0].Alert.Deadline == nil || got[0].Alert.Status != "running" {
			t.Fatalf("late run's pages %+v, want one sla_miss while running", got)
		}
		deadline := *got[0].Alert.Deadline
		if want := v.StartedAt.Add(2 * time.Second); deadline.Sub(want).Abs() > time.Second {
			t.Errorf("deadline %s, want 2s after the start %s", deadline, v.StartedAt)
		}
		// Received at the deadline: not before, and within what a timer
		// and an activity take on this stack.
		lag := got[0].at.Sub(deadline)
		t.Logf("sla_miss received %s after its deadline", lag)
		if lag < 0 || lag > 3*time.Second {
			t.Errorf("sla_miss received %s after its deadline", lag)
		}
		if !strings.Contains(got[0].Text, "Deadline: "+deadline.UTC().Format(time.RFC3339)) {
			t.Errorf("sla_miss text has no deadline:\n%s", got[0].Text)
		}
		time.Sleep(time.Until(v.StartedAt.Add(4*time.Second + 2*time.Second))) // past the on-time run's deadline
		if p := about(hook.pages(), onTime); len(p) != 0 {
			t.Fatalf("on-time run paged %+v", p)
		}
		if rows := alertHistory(t, s, onTime); len(rows) != 0 {
			t.Fatalf("on-time run's history %+v", rows)
		}
		if res := runResultOf(t, s, failedInTime, 30*time.Second); res.Status != "failed" {
			t.Fatalf("failed-in-time run %s", res.Status)
		}
		if rows := alertHistory(t, s, failedInTime); len(rows) != 0 {
			t.Fatalf("a run that failed before its deadline paged %+v", rows)
		}
	})

	t.Run("stop_failed pages", func(t *testing.T) {
		// The escapee leaves the process group, so the stop's signal misses
		// it and the stop ends stop_failed (the itest worker tracks process
		// groups: it has no cgroup of its own to kill).
		f := alertFlow("stuck", []map[string]any{shellNodeJSON("a", "setsid sleep 60 & echo started; sleep 60")}, nil,
			rule(both, "stop_failed", "run_stopped"))
		id := startFlow(t, s.api.URL, f, nil)
		waitState(t, s, id, "running")
		time.Sleep(1500 * time.Millisecond) // the script has forked its escapee
		control(t, s, id, ctlReq("stop", status.OpStop))
		inst := workflows.InstanceID(id, "a", 0, 1)
		eventually(t, 30*time.Second, "stop_failed and run_stopped sent", func() (bool, string) {
			return historyIs(alertHistory(t, s, id), "stop_failed/"+inst+"/hook/sent/1", "stop_failed/"+inst+"/mail/sent/1",
				"run_stopped/end-1/hook/sent/1", "run_stopped/end-1/mail/sent/1")
		})
		var stopFailed []page
		for _, pg := range about(hook.pages(), id) {
			if pg.Event == "stop_failed" {
				stopFailed = append(stopFailed, pg)
			}
		}
		if len(stopFailed) != 1 || !strings.Contains(stopFailed[0].Text, "Node: a") || !strings.Contains(stopFailed[0].Text, "Instance: "+inst) {
			t.Fatalf("stop_failed pages %+v", stopFailed)
		}
	})

	t.Run("recovered pages after a retry", func(t *testing.T) {
		f := alertFlow("flaky", []map[string]any{shellNodeJSON("fl", fmt.Sprintf(`test -f %[1]s/fl || { touch %[1]s/fl; exit 1; }`, dir)),
			shellNodeJSON("after", "true")}, []map[string]any{{"from": "fl", "to": "after"}}, rule([]string{"hook"}, "run_failed", "recovered"))
		id := startFlow(t, s.api.URL, f, nil)
		waitState(t, s, id, "failed")
		control(t, s, id, ctlReq("retry", status.OpRetryFailed))
		if v := waitRun(t, s.api.URL, id, 60*time.Second); v.Status != "success" {
			t.Fatalf("run %s", v.Status)
		}
		eventually(t, 30*time.Second, "run_failed then recovered", func() (bool, string) {
			return historyIs(alertHistory(t, s, id), "run_failed/end-1/hook/sent/1", "recovered/end-2/hook/sent/1")
		})
		got := about(hook.pages(), id)
		if len(got) != 2 || got[0].Event != "run_failed" || got[1].Event != "recovered" || !strings.Contains(got[1].Text, "Status: success") {
			t.Fatalf("pages %+v", got)
		}
	})

	t.Run("a failing channel is retried and its history shows the attempts", func(t *testing.T) {
		// One rule, two channels: the retries go to the failing one only,
		// and a worker restart between attempts changes nothing.
		f := alertFlow("to-flaky", []map[string]any{shellNodeJSON("x", "exit 1")}, nil, rule([]string{"flaky", "hook"}, "run_failed"))
		id := startFlow(t, s.api.URL, f, nil)
		var seen alertRow
		eventually(t, 30*time.Second, "a failed attempt recorded", func() (bool, string) {
			rows := alertHistory(t, s, id)
			for _, r := range rows {
				if r.Channel == "flaky" && r.Status == "failed" {
					seen = r
					return true, ""
				}
			}
			return false, fmt.Sprintf("%+v", rows)
		})
		if seen.Attempts < 1 || !strings.Contains(seen.LastError, "500") || strings.Contains(seen.LastError, "TOKEN123") {
			t.Errorf("failed attempt %+v: want its count and a 500 that does not quote the hook's token", seen)
		}
		s.restartWorker()
		// Two 500s, then the third attempt (after 1s and 2s of backoff) is
		// taken; the good channel was sent on the first and never again.
		eventually(t, 30*time.Second, "sent on the third attempt", func() (bool, string) {
			return historyIs(alertHistory(t, s, id), "run_failed/end-1/flaky/sent/3", "run_failed/end-1/hook/sent/1")
		})
		for _, r := range alertHistory(t, s, id) {
			if r.SentAt == nil || r.LastError != "" {
				t.Errorf("sent row %+v", r)
			}
		}
		flaky.mu.Lock()
		hits := flaky.hits
		flaky.mu.Unlock()
		if got := about(flaky.pages(), id); len(got) != 1 || hits != 3 {
			t.Fatalf("failing channel: %d requests, %d pages taken; want 3 and 1", hits, len(got))
		}
		if got := about(hook.pages(), id); len(got) != 1 {
			t.Fatalf("good channel paged %d times, want once", len(got))
		}
	})
}

// runResultOf waits for the run's workflow to close and returns its result.
func runResultOf(t *testing.T, s *stack, runID string, within time.Duration) workflows.RunResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	var res workflows.RunResult
	if err := s.client.GetWorkflow(ctx, workflows.WorkflowID(runID), "").Get(ctx, &res); err != nil {
		t.Fatalf("run %s: %v", runID, err)
	}
	return res
}

// mailText is the body of the mail whose title starts with title.
func mailText(t *testing.T, ps []page, title string) string {
	t.Helper()
	for _, p := range ps {
		if strings.HasPrefix(p.Title, title) {
			return p.Text
		}
	}
	t.Fatalf("no mail titled %q…", title)
	return ""
}
