package dag

import (
	"reflect"
	"strings"
	"testing"
)

func TestValidateAlertRules(t *testing.T) {
	good := []AlertRule{
		{Events: []AlertEvent{AlertRunFailed, AlertNodeFailed}, Channels: []string{"oncall"}},
		{Events: []AlertEvent{AlertSLAMiss}, Channels: []string{"oncall", "mail"}, SLA: &SLA{At: "06:30", TZ: "Asia/Shanghai"}},
		{Events: []AlertEvent{AlertSLAMiss, AlertRecovered}, Channels: []string{"mail"}, SLA: &SLA{After: "2h"}},
	}
	if p := ValidateAlerts("alerts", good); len(p) != 0 {
		t.Fatalf("good rules refused: %v", p)
	}
	cases := []struct {
		name string
		rule AlertRule
		want []string // paths
		msg  string   // in the first message
	}{
		{"unknown event", AlertRule{Events: []AlertEvent{"run_exploded"}, Channels: []string{"c"}}, []string{"alerts[0].events[0]"}, `not "run_exploded"`},
		{"no events", AlertRule{Channels: []string{"c"}}, []string{"alerts[0].events"}, "at least one event"},
		{"twice", AlertRule{Events: []AlertEvent{AlertRunFailed, AlertRunFailed}, Channels: []string{"c"}}, []string{"alerts[0].events[1]"}, "twice"},
		{"no channels", AlertRule{Events: []AlertEvent{AlertRunFailed}}, []string{"alerts[0].channels"}, "at least one channel"},
		{"blank channel", AlertRule{Events: []AlertEvent{AlertRunFailed}, Channels: []string{" "}}, []string{"alerts[0].channels[0]"}, "required"},
		{"sla missing", AlertRule{Events: []AlertEvent{AlertSLAMiss}, Channels: []string{"c"}}, []string{"alerts[0].sla"}, "needs an sla"},
		{"sla without sla_miss", AlertRule{Events: []AlertEvent{AlertRunFailed}, Channels: []string{"c"}, SLA: &SLA{After: "1h"}}, []string{"alerts[0].sla"}, "only a rule"},
		{"sla empty", AlertRule{Events: []AlertEvent{AlertSLAMiss}, Channels: []string{"c"}, SLA: &SLA{}}, []string{"alerts[0].sla"}, "at (a time of day"},
		{"sla both", AlertRule{Events: []AlertEvent{AlertSLAMiss}, Channels: []string{"c"}, SLA: &SLA{At: "06:00", After: "1h"}}, []string{"alerts[0].sla"}, "not both"},
		{"sla bad at", AlertRule{Events: []AlertEvent{AlertSLAMiss}, Channels: []string{"c"}, SLA: &SLA{At: "6:00"}}, []string{"alerts[0].sla.at"}, "HH:MM"},
		{"sla at out of range", AlertRule{Events: []AlertEvent{AlertSLAMiss}, Channels: []string{"c"}, SLA: &SLA{At: "24:00"}}, []string{"alerts[0].sla.at"}, "HH:MM"},
		{"sla zero after", AlertRule{Events: []AlertEvent{AlertSLAMiss}, Channels: []string{"c"}, SLA: &SLA{After: "0s"}}, []string{"alerts[0].sla.after"}, "greater than zero"},
		{"sla negative after", AlertRule{Events: []AlertEvent{AlertSLAMiss}, Channels: []string{"c"}, SLA: &SLA{After: "-5m"}}, []string{"alerts[0].sla.after"}, "negative"},
		{"sla bad after", AlertRule{Events: []AlertEvent{AlertSLAMiss}, Channels: []string{"c"}, SLA: &SLA{After: "soon"}}, []string{"alerts[0].sla.after"}, "Go syntax"},
		{"sla bad zone", AlertRule{Events: []AlertEvent{AlertSLAMiss}, Channels: []string{"c"}, SLA: &SLA{At: "06:00", TZ: "Mars/Olympus"}}, []string{"alerts[0].sla.tz"}, "IANA"},
		{"sla Local", AlertRule{Events: []AlertEvent{AlertSLAMiss}, Channels: []string{"c"}, SLA: &SLA{At: "06:00", TZ: "Local"}}, []string{"alerts[0].sla.tz"}, "not allowed"},
		{"sla tz with after", AlertRule{Events: []AlertEvent{AlertSLAMiss}, Channels: []string{"c"}, SLA: &SLA{After: "1h", TZ: "UTC"}}, []string{"alerts[0].sla.tz"}, "zone of at"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := ValidateAlerts("alerts", []AlertRule{c.rule})
			if got := paths(p); !reflect.DeepEqual(got, c.want) {
				t.Fatalf("paths %v, want %v (%v)", got, c.want, p)
			}
			if !strings.Contains(p[0].Message, c.msg) {
				t.Errorf("message %q does not say %q", p[0].Message, c.msg)
			}
		})
	}
}

func TestValidateFlowAndTaskCheckAlerts(t *testing.T) {
	f := goodFlow()
	f.Alerts = []AlertRule{{Events: []AlertEvent{"nope"}, Channels: []string{"c"}}}
	p := ValidateFlow(f, Options{})
	if got := paths(p); !reflect.DeepEqual(got, []string{"alerts[0].events[0]"}) {
		t.Errorf("flow: %v", p)
	}
	f = goodFlow()
	f.Nodes[0].Task.Alerts = []AlertRule{{Events: []AlertEvent{AlertSLAMiss}, Channels: []string{"c"}}}
	if got := paths(ValidateFlow(f, Options{})); !reflect.DeepEqual(got, []string{"nodes[0].task.alerts[0].sla"}) {
		t.Errorf("inline task: %v", got)
	}
	tk := goodTask()
	tk.Alerts = []AlertRule{{Events: []AlertEvent{AlertRunFailed}}}
	if got := paths(ValidateTask(tk)); !reflect.DeepEqual(got, []string{"alerts[0].channels"}) {
		t.Errorf("task: %v", got)
	}
	tk = goodTask()
	tk.Rollback.Alerts = []AlertRule{{Events: []AlertEvent{AlertRunFailed}, Channels: []string{"c"}}}
	if got := paths(ValidateTask(tk)); !reflect.DeepEqual(got, []string{"rollback.alerts"}) {
		t.Errorf("rollback: %v", got)
	}
	tk = goodTask()
	tk.Alerts = make([]AlertRule, maxAlertRules+1)
	if got := paths(ValidateTask(tk)); !reflect.DeepEqual(got, []string{"alerts"}) {
		t.Errorf("too many: %v", got)
	}
}

func TestParseSLAAt(t *testing.T) {
	for in, want := range map[string]string{"00:00": "0s", "06:30": "6h30m0s", "23:59": "23h59m0s"} {
		d, err := ParseSLAAt(in)
		if err != nil || d.String() != want {
			t.Errorf("%s: %v %v, want %s", in, d, err, want)
		}
	}
	for _, bad := range []string{"", "6:30", "06:30:00", "25:00", "ab:cd", "06:60"} {
		if _, err := ParseSLAAt(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
