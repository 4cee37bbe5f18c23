package config

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

func lookupFrom(env map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := env[k]
		return v, ok
	}
}

// valid is a configuration every role accepts, so that each case below
// fails for its own variable only.
func valid() Config {
	c := Default()
	c.DBDSN = "sqlite:/tmp/x.db"
	c.WorkerID = "w1"
	return c
}

func TestFromEnvReadsEveryVariable(t *testing.T) {
	env := map[string]string{
		"BATON_DATA_DIR":              "/var/lib/baton",
		"BATON_HTTP_ADDR":             "0.0.0.0:9090",
		"BATON_ADMIN_TOKEN":           "bt_secret",
		"BATON_TEMPORAL_ADDRESS":      "temporal:7233",
		"BATON_TEMPORAL_NAMESPACE":    "prod",
		"BATON_TEMPORAL_PORT":         "7300",
		"BATON_TEMPORAL_UI_ADDR":      "127.0.0.1:9233",
		"BATON_DB_DSN":                "baton:pw@tcp(db:3306)/baton",
		"BATON_WORKER_GROUP":          "etl",
		"BATON_WORKER_ID":             "etl-7",
		"BATON_WORKER_CONCURRENCY":    "4",
		"BATON_OPERABLE_WINDOW":       "2d",
		"BATON_RETENTION":             "36h",
		"BATON_RECONCILE_INTERVAL":    "30s",
		"BATON_RECONCILE_START_GRACE": "5m",
		"BATON_LOG_LEVEL":             "debug",
		"BATON_HTTP_ALLOW":            " 10.0.0.0/8, hooks.internal:8443,,[::1]:8080 ,",
		"BATON_METRICS_ADDR":          "0.0.0.0:9464",
		"BATON_TASK_USER":             "etl",
		"BATON_TASK_WORK_DIR":         "/srv/baton-work",
		"BATON_TASK_CGROUP":           "off",
		"BATON_TASK_ENV":              "JAVA_HOME, HADOOP_CONF_DIR",
	}
	c, err := fromLookup(lookupFrom(env))
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		DataDir: "/var/lib/baton", HTTPAddr: "0.0.0.0:9090", AdminToken: "bt_secret",
		TemporalAddress: "temporal:7233", TemporalNamespace: "prod", TemporalUIAddr: "127.0.0.1:9233",
		TemporalPort: 7300, DBDSN: "baton:pw@tcp(db:3306)/baton", Group: "etl", WorkerID: "etl-7", Concurrency: 4,
		OperableWindow: 48 * time.Hour, Retention: 36 * time.Hour, LogLevel: "debug",
		ReconcileInterval: 30 * time.Second, ReconcileStartGrace: 5 * time.Minute,
		HTTPAllow:   []string{"10.0.0.0/8", "hooks.internal:8443", "[::1]:8080"},
		MetricsAddr: "0.0.0.0:9464",
		TaskUser:    "etl", TaskWorkDir: "/srv/baton-work", TaskCgroup: "off", TaskEnv: []string{"JAVA_HOME", "HADOOP_CONF_DIR"},
	}
	if !equalConfig(c, want) {
		t.Fatalf("got  %+v\nwant %+v", c, want)
	}
	for _, role := range []Role{RoleDev, RoleAPI, RoleWorker, RoleMigrate} {
		if err := c.Validate(role); err != nil {
			t.Errorf("Validate(%s): %v", role, err)
		}
	}
}

func equalConfig(a, b Config) bool {
	return reflect.DeepEqual(a, b)
}

func TestFromEnvDefaults(t *testing.T) {
	// Empty values mean "not set", as they do in compose files.
	c, err := fromLookup(lookupFrom(map[string]string{"BATON_HTTP_ADDR": "", "BATON_HTTP_ALLOW": ""}))
	if err != nil {
		t.Fatal(err)
	}
	d := Default()
	d.WorkerID = c.WorkerID
	if !equalConfig(c, d) || len(c.HTTPAllow) != 0 {
		t.Fatalf("got %+v, want defaults %+v", c, d)
	}
	if want := filepath.Join(os.TempDir(), "baton-work", c.WorkerID); c.TaskWorkRoot() != want || c.TaskCgroup != "auto" {
		t.Errorf("task work root %s (want %s), cgroup %q", c.TaskWorkRoot(), want, c.TaskCgroup)
	}
	if c.TemporalHostPort() != "127.0.0.1:7233" || c.DevDBDSN() != "sqlite:.baton/baton.db" {
		t.Errorf("derived: %s %s", c.TemporalHostPort(), c.DevDBDSN())
	}
}

func TestFromEnvReportsEveryParseError(t *testing.T) {
	_, err := fromLookup(lookupFrom(map[string]string{
		"BATON_WORKER_CONCURRENCY": "many",
		"BATON_OPERABLE_WINDOW":    "a week",
		"BATON_RETENTION":          "-1h",
	}))
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{
		`BATON_WORKER_CONCURRENCY: "many" is not a number`,
		`BATON_OPERABLE_WINDOW: invalid duration "a week"`,
		`BATON_RETENTION: invalid duration "-1h"`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}

func TestParseDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{"7d": 7 * 24 * time.Hour, "0d": 0, "90s": 90 * time.Second, "1h30m": 90 * time.Minute} {
		if got, err := ParseDuration(in); err != nil || got != want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "d", "-1d", "1.5d", "7days", "-5s", "soon"} {
		if _, err := ParseDuration(in); err == nil {
			t.Errorf("ParseDuration(%q): no error", in)
		}
	}
}

func TestValidateErrors(t *testing.T) {
	cases := []struct {
		name  string
		roles []Role // roles that must refuse it; the others must accept it
		edit  func(*Config)
		want  string
	}{
		{"data dir", []Role{RoleDev}, func(c *Config) { c.DataDir = "" }, "BATON_DATA_DIR: must not be empty"},
		{"http addr", []Role{RoleDev, RoleAPI}, func(c *Config) { c.HTTPAddr = "8080" }, `BATON_HTTP_ADDR: "8080" is not host:port`},
		{"temporal address", []Role{RoleDev, RoleAPI, RoleWorker, RoleMigrate}, func(c *Config) { c.TemporalAddress = "temporal" }, `BATON_TEMPORAL_ADDRESS: "temporal" is not host:port`},
		{"temporal port", []Role{RoleDev, RoleAPI, RoleWorker, RoleMigrate}, func(c *Config) { c.TemporalPort = 70000 }, "BATON_TEMPORAL_PORT: 70000 must be a port"},
		{"temporal port 0", []Role{RoleAPI, RoleWorker, RoleMigrate}, func(c *Config) { c.TemporalPort = 0 }, "BATON_TEMPORAL_PORT: 0 must be a port"},
		{"namespace", []Role{RoleDev, RoleAPI, RoleWorker, RoleMigrate}, func(c *Config) { c.TemporalNamespace = "" }, "BATON_TEMPORAL_NAMESPACE: must not be empty"},
		{"ui addr", []Role{RoleDev}, func(c *Config) { c.TemporalUIAddr = "localhost" }, `BATON_TEMPORAL_UI_ADDR: "localhost" is not host:port`},
		{"db dsn", []Role{RoleAPI, RoleWorker, RoleMigrate}, func(c *Config) { c.DBDSN = "" }, "BATON_DB_DSN: required for"},
		{"group", []Role{RoleDev, RoleWorker}, func(c *Config) { c.Group = "etl group" }, `BATON_WORKER_GROUP: "etl group" must match`},
		{"worker id", []Role{RoleDev, RoleWorker}, func(c *Config) { c.WorkerID = strings.Repeat("w", 65) }, "BATON_WORKER_ID:"},
		{"concurrency", []Role{RoleDev, RoleWorker}, func(c *Config) { c.Concurrency = 0 }, "BATON_WORKER_CONCURRENCY: 0 must be at least 1"},
		{"operable window", []Role{RoleDev, RoleAPI, RoleWorker, RoleMigrate}, func(c *Config) { c.OperableWindow = 0 }, "BATON_OPERABLE_WINDOW: must be positive"},
		{"metrics addr", []Role{RoleWorker}, func(c *Config) { c.MetricsAddr = "9464" }, `BATON_METRICS_ADDR: "9464" is not host:port`},
		{"retention", []Role{RoleDev, RoleAPI, RoleWorker, RoleMigrate}, func(c *Config) { c.Retention = 0 }, "BATON_RETENTION: must be positive"},
		{"reconcile interval", []Role{RoleDev, RoleAPI, RoleWorker, RoleMigrate}, func(c *Config) { c.ReconcileInterval = 0 }, "BATON_RECONCILE_INTERVAL: must be positive"},
		{"reconcile grace", []Role{RoleDev, RoleAPI, RoleWorker, RoleMigrate}, func(c *Config) { c.ReconcileStartGrace = 0 }, "BATON_RECONCILE_START_GRACE: must be positive"},
		{"reconcile grace below start timeout", []Role{RoleDev, RoleAPI, RoleWorker, RoleMigrate}, func(c *Config) { c.ReconcileStartGrace = 5 * time.Second }, "BATON_RECONCILE_START_GRACE: 5s must be longer than the API's 30s run start timeout"},
		{"log level", []Role{RoleDev, RoleAPI, RoleWorker, RoleMigrate}, func(c *Config) { c.LogLevel = "verbose" }, `BATON_LOG_LEVEL: "verbose" is not debug`},
		{"task work dir relative", []Role{RoleDev, RoleWorker}, func(c *Config) { c.TaskWorkDir = "work" }, `BATON_TASK_WORK_DIR: "work" is not an absolute path`},
		{"task work dir in data dir", []Role{RoleDev}, func(c *Config) { c.DataDir, c.TaskWorkDir = "/var/lib/baton", "/var/lib/baton/work" }, "is inside BATON_DATA_DIR"},
		{"task work dir is data dir", []Role{RoleDev}, func(c *Config) { c.DataDir, c.TaskWorkDir = "/var/lib/baton", "/var/lib/baton/" }, "is inside BATON_DATA_DIR"},
		{"task cgroup", []Role{RoleDev, RoleWorker}, func(c *Config) { c.TaskCgroup = "yes" }, `BATON_TASK_CGROUP: "yes" is not auto, off`},
		{"task env baton", []Role{RoleDev, RoleWorker}, func(c *Config) { c.TaskEnv = []string{"JAVA_HOME", "BATON_DB_DSN"} }, "BATON_TASK_ENV: BATON_DB_DSN: BATON_* variables"},
		{"task env name", []Role{RoleDev, RoleWorker}, func(c *Config) { c.TaskEnv = []string{"A=B"} }, `BATON_TASK_ENV: "A=B" is not a variable name`},
		{"http allow", []Role{RoleDev, RoleAPI, RoleWorker}, func(c *Config) { c.HTTPAllow = []string{"10.0.0.0/8", "http://hooks:80"} }, `BATON_HTTP_ALLOW: "http://hooks:80" is a URL`},
		{"secret key", []Role{RoleDev, RoleAPI, RoleWorker, RoleMigrate}, func(c *Config) { c.SecretKey = "c2hvcnQ=" }, "BATON_SECRET_KEY: the key decodes to 5 bytes, want 32"},
		{"console url", []Role{RoleDev, RoleAPI, RoleWorker, RoleMigrate}, func(c *Config) { c.ConsoleURL = "baton.example:8080" }, `BATON_CONSOLE_URL: "baton.example:8080" is not an absolute`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := valid()
			tc.edit(&c)
			for _, role := range []Role{RoleDev, RoleAPI, RoleWorker, RoleMigrate} {
				err := c.Validate(role)
				if !slices.Contains(tc.roles, role) {
					if err != nil {
						t.Errorf("Validate(%s) refused it: %v", role, err)
					}
					continue
				}
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Errorf("Validate(%s) = %v, want an error containing %q", role, err, tc.want)
				}
			}
		})
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	c := valid()
	c.HTTPAddr, c.LogLevel, c.Concurrency = "nope", "loud", -1
	err := c.Validate(RoleDev)
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"BATON_HTTP_ADDR", "BATON_LOG_LEVEL", "BATON_WORKER_CONCURRENCY"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
}

func TestHTTPAllowEntries(t *testing.T) {
	good := []string{
		"127.0.0.0/8", "10.1.2.3/32", "::1/128", "fd00::/8",
		"127.0.0.1", "::1", "169.254.169.254",
		"127.0.0.1:8080", "[::1]:8080", "[fd00::1]:443",
		"localhost", "hooks.internal", "hooks.internal.", "my_service", "api.example.com:8443",
	}
	for _, e := range good {
		if err := checkAllowEntry(e); err != nil {
			t.Errorf("%q refused: %v", e, err)
		}
	}
	bad := map[string]string{
		"http://hooks.internal/": "is a URL",
		"10.0.0.0/33":            "not a valid CIDR",
		"10.0.0.0/8/9":           "not a valid CIDR",
		"hooks.internal/path":    "not a valid CIDR",
		"10.0.0.256":             "not a CIDR, IP, host or host:port",
		"hooks:0":                `port "0"`,
		"hooks:65536":            `port "65536"`,
		"hooks:http":             `port "http"`,
		"hooks:":                 `port ""`,
		"[hooks]:80":             "in brackets is not an IP address",
		"[::1]":                  "not a CIDR, IP, host or host:port",
		"-hooks":                 "not a CIDR, IP, host or host:port",
		"hooks..internal":        "not a CIDR, IP, host or host:port",
		"hooks internal":         "not a CIDR, IP, host or host:port",
		"*.example.com":          "not a CIDR, IP, host or host:port",
		":8080":                  "not a CIDR, IP, host or host:port",
	}
	for e, want := range bad {
		err := checkAllowEntry(e)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: got %v, want an error containing %q", e, err, want)
		}
	}
}

func TestSecretKeyAndConsoleLink(t *testing.T) {
	k, err := GenerateSecretKey()
	if err != nil {
		t.Fatal(err)
	}
	for _, form := range []string{k, strings.TrimRight(k, "="), strings.Repeat("ab", 32)} {
		if b, err := ParseSecretKey(form); err != nil || len(b) != SecretKeySize {
			t.Errorf("%q: %d bytes, %v", form, len(b), err)
		}
	}
	if _, err := ParseSecretKey("not a key"); err == nil {
		t.Error("garbage parsed as a key")
	}
	c := Default()
	if got := c.ConsoleLink(); got != "http://127.0.0.1:8080" {
		t.Errorf("default console link %q", got)
	}
	c.ConsoleURL = "https://baton.example/"
	if got := c.ConsoleLink(); got != "https://baton.example" {
		t.Errorf("configured console link %q", got)
	}
	c.ConsoleURL, c.HTTPAddr = "", "0.0.0.0:9000"
	if got := c.ConsoleLink(); strings.Contains(got, "0.0.0.0") || !strings.HasSuffix(got, ":9000") {
		t.Errorf("wildcard listen address gives %q", got)
	}
}
