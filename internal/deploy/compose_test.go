package deploy

import (
	"bufio"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
)

const repoRoot = "../.."

// testEnv is the environment the compose file is interpolated with: only
// what an operator must provide. Everything else must have a default.
var testEnv = []string{"BATON_ADMIN_TOKEN=test-admin-token"}

func loadProject(t *testing.T, env []string) (*types.Project, error) {
	t.Helper()
	opts, err := cli.NewProjectOptions(
		[]string{filepath.Join(repoRoot, "docker-compose.yml")},
		cli.WithWorkingDirectory(repoRoot),
		cli.WithName("baton"),
		cli.WithEnv(env),
		cli.WithInterpolation(true),
		cli.WithResolvedPaths(true),
		cli.WithConsistency(true),
	)
	if err != nil {
		t.Fatalf("compose options: %v", err)
	}
	return opts.LoadProject(context.Background())
}

func mustLoad(t *testing.T) *types.Project {
	t.Helper()
	p, err := loadProject(t, testEnv)
	if err != nil {
		t.Fatalf("load docker-compose.yml: %v", err)
	}
	return p
}

func service(t *testing.T, p *types.Project, name string) types.ServiceConfig {
	t.Helper()
	s, err := p.GetService(name)
	if err != nil {
		t.Fatalf("service %q: %v", name, err)
	}
	return s
}

var (
	infraServices = []string{"mysql", "temporal", "temporal-ui"}
	batonServices = []string{"migrate", "api", "worker"}
	batonEnv      = []string{"BATON_DB_DSN", "BATON_TEMPORAL_ADDRESS", "BATON_TEMPORAL_NAMESPACE"}
	searchAttrs   = []string{"BatonStatus", "BatonDefinitionID", "BatonBizdate"}
)

func TestComposeServicesExist(t *testing.T) {
	p := mustLoad(t)
	names := p.ServiceNames()
	for _, want := range append(slices.Clone(infraServices), batonServices...) {
		if !slices.Contains(names, want) {
			t.Errorf("docker-compose.yml has no service %q (has %v)", want, names)
		}
	}
}

func TestComposeInfraUsesImages(t *testing.T) {
	p := mustLoad(t)
	prefixes := map[string][]string{
		"mysql":       {"mysql:"},
		"temporal":    {"temporalio/server:", "temporalio/auto-setup:"},
		"temporal-ui": {"temporalio/ui:"},
	}
	for _, name := range infraServices {
		s := service(t, p, name)
		if s.Build != nil {
			t.Errorf("%s: must use a published image, not build", name)
		}
		ok := false
		for _, pre := range prefixes[name] {
			if strings.HasPrefix(s.Image, pre) && len(s.Image) > len(pre) {
				ok = true
			}
		}
		if !ok {
			t.Errorf("%s: image %q, want one of %v with a tag", name, s.Image, prefixes[name])
		}
	}
	if s := service(t, p, "mysql"); s.HealthCheck == nil || s.HealthCheck.Disable || len(s.HealthCheck.Test) == 0 {
		t.Errorf("mysql: needs a healthcheck (temporal and migrate wait for service_healthy)")
	}
}

func TestComposeBatonServicesBuildDockerfile(t *testing.T) {
	p := mustLoad(t)
	root, err := filepath.Abs(repoRoot)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range batonServices {
		s := service(t, p, name)
		if s.Build == nil {
			t.Errorf("%s: must build the repository's Dockerfile", name)
			continue
		}
		if filepath.Clean(s.Build.Context) != filepath.Clean(root) {
			t.Errorf("%s: build context %q, want the repository root %q", name, s.Build.Context, root)
		}
		if df := s.Build.Dockerfile; df != "" && filepath.Base(df) != "Dockerfile" {
			t.Errorf("%s: build dockerfile %q, want Dockerfile", name, df)
		}
	}
}

func TestComposePublishedPorts(t *testing.T) {
	p := mustLoad(t)
	for name, want := range map[string]string{"api": "8080", "temporal-ui": "8233"} {
		s := service(t, p, name)
		found := false
		for _, port := range s.Ports {
			if port.Published == want {
				found = true
			}
		}
		if !found {
			t.Errorf("%s: must publish host port %s (ports: %+v)", name, want, s.Ports)
		}
	}
	api := service(t, p, "api")
	for _, port := range api.Ports {
		if port.Published == "8080" && port.Target != 8080 {
			t.Errorf("api: host 8080 maps to container %d, but BATON_HTTP_ADDR listens on 8080", port.Target)
		}
	}
	if got := env(api, "BATON_HTTP_ADDR"); got != "0.0.0.0:8080" {
		t.Errorf("api: BATON_HTTP_ADDR=%q, want 0.0.0.0:8080 (the default 127.0.0.1 is unreachable from outside the container)", got)
	}
	if got := env(api, "BATON_ADMIN_TOKEN"); got != "test-admin-token" {
		t.Errorf("api: BATON_ADMIN_TOKEN=%q, want it taken from the environment", got)
	}
}

func env(s types.ServiceConfig, key string) string {
	v, ok := s.Environment[key]
	if !ok || v == nil {
		return ""
	}
	return *v
}

func TestComposeBatonEnvAndCommands(t *testing.T) {
	p := mustLoad(t)
	wantCmd := map[string][]string{
		"migrate": {"migrate"},
		"api":     {"api"},
		"worker":  {"worker", "--group", "default"},
	}
	for _, name := range batonServices {
		s := service(t, p, name)
		for _, key := range batonEnv {
			if env(s, key) == "" {
				t.Errorf("%s: %s must be set to a non-empty value", name, key)
			}
		}
		cmd := []string(s.Command)
		want := wantCmd[name]
		if len(cmd) < len(want) || !slices.Equal(cmd[:1], want[:1]) {
			t.Errorf("%s: command %q, want %q", name, cmd, want)
			continue
		}
		for i := 1; i < len(want); i += 2 {
			if j := slices.Index(cmd, want[i]); j < 0 || j+1 >= len(cmd) || cmd[j+1] != want[i+1] {
				t.Errorf("%s: command %q lacks %s %s", name, cmd, want[i], want[i+1])
			}
		}
		// The DSN and Temporal address must point at services of this file.
		dsn := env(s, "BATON_DB_DSN")
		if m := regexp.MustCompile(`@tcp\(([^:)]+)`).FindStringSubmatch(dsn); m == nil || !slices.Contains(p.ServiceNames(), m[1]) {
			t.Errorf("%s: BATON_DB_DSN %q must be a go-sql-driver DSN naming a compose service", name, dsn)
		}
		host, _, _ := strings.Cut(env(s, "BATON_TEMPORAL_ADDRESS"), ":")
		if !slices.Contains(p.ServiceNames(), host) {
			t.Errorf("%s: BATON_TEMPORAL_ADDRESS host %q is not a compose service", name, host)
		}
	}
	if r := service(t, p, "migrate").Restart; r != "no" {
		t.Errorf("migrate: restart %q, want \"no\" (one-shot)", r)
	}
}

func TestComposeWorkerScalable(t *testing.T) {
	p := mustLoad(t)
	w := service(t, p, "worker")
	if w.ContainerName != "" {
		t.Errorf("worker: container_name %q prevents --scale worker=N", w.ContainerName)
	}
	if len(w.Ports) != 0 {
		t.Errorf("worker: published ports %+v prevent --scale worker=N", w.Ports)
	}
	if env(w, "BATON_WORKER_ID") != "" {
		t.Errorf("worker: a fixed BATON_WORKER_ID would give every replica the same id")
	}
}

func TestComposeStartOrder(t *testing.T) {
	p := mustLoad(t)
	check := func(svc, dep, cond string) {
		t.Helper()
		s := service(t, p, svc)
		d, ok := s.DependsOn[dep]
		if !ok {
			t.Errorf("%s: must depend on %s", svc, dep)
			return
		}
		if d.Condition != cond {
			t.Errorf("%s: depends on %s with condition %q, want %q", svc, dep, d.Condition, cond)
		}
	}
	check("api", "migrate", types.ServiceConditionCompletedSuccessfully)
	check("temporal", "mysql", types.ServiceConditionHealthy)
	check("migrate", "mysql", types.ServiceConditionHealthy)
}

// TestComposeRegistersSearchAttributes checks that a one-shot registers the
// custom search attributes runs carry, and that Baton waits for it.
func TestComposeRegistersSearchAttributes(t *testing.T) {
	p := mustLoad(t)
	var setup string
	for _, name := range p.ServiceNames() {
		s := service(t, p, name)
		script := strings.Join(append(slices.Clone([]string(s.Entrypoint)), s.Command...), " ")
		if !strings.Contains(script, "search-attribute create") {
			continue
		}
		setup = name
		for _, sa := range searchAttrs {
			if !strings.Contains(script, sa) {
				t.Errorf("%s: does not register search attribute %s", name, sa)
			}
		}
		if !strings.Contains(script, "Keyword") {
			t.Errorf("%s: search attributes must be of type Keyword", name)
		}
		if s.Restart == "always" || s.Restart == "unless-stopped" {
			t.Errorf("%s: a one-shot must not restart %q", name, s.Restart)
		}
	}
	if setup == "" {
		t.Fatalf("no service runs `temporal operator search-attribute create` for %v", searchAttrs)
	}
	for _, name := range []string{"api", "worker"} {
		d, ok := service(t, p, name).DependsOn[setup]
		if !ok || d.Condition != types.ServiceConditionCompletedSuccessfully {
			t.Errorf("%s: must depend on %s completing successfully (runs need the search attributes)", name, setup)
		}
	}
}

func TestComposeRequiresAdminToken(t *testing.T) {
	if _, err := loadProject(t, nil); err == nil {
		t.Errorf("docker-compose.yml loads without BATON_ADMIN_TOKEN; want ${BATON_ADMIN_TOKEN:?...} to refuse")
	}
}

// TestDockerfile checks the build and runtime stages without a Docker engine.
func TestDockerfile(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(repoRoot, "Dockerfile"))
	if err != nil {
		t.Fatalf("Dockerfile: %v", err)
	}
	lines := logicalLines(string(data))

	type stage struct {
		from, name string
		body       []string
	}
	var stages []stage
	for _, l := range lines {
		f := strings.Fields(l)
		if len(f) >= 2 && strings.EqualFold(f[0], "FROM") {
			st := stage{from: f[1]}
			if len(f) >= 4 && strings.EqualFold(f[2], "AS") {
				st.name = f[3]
			}
			stages = append(stages, st)
			continue
		}
		if len(stages) > 0 {
			stages[len(stages)-1].body = append(stages[len(stages)-1].body, l)
		}
	}
	if len(stages) < 2 {
		t.Fatalf("Dockerfile: want a multi-stage build, got %d stage(s)", len(stages))
	}

	build := stages[0]
	goVersion := goDirective(t)
	if !strings.HasPrefix(build.from, "golang:"+goVersion) {
		t.Errorf("Dockerfile: build stage FROM %q, want golang:%s (go.mod's go directive)", build.from, goVersion)
	}
	built, cgoOff := false, false
	for _, l := range build.body {
		if strings.HasPrefix(strings.ToUpper(l), "RUN ") && strings.Contains(l, "go build") && strings.Contains(l, "./cmd/baton") {
			built = true
		}
		if strings.Contains(l, "CGO_ENABLED=0") {
			cgoOff = true
		}
	}
	if !built {
		t.Errorf("Dockerfile: build stage has no `RUN ... go build ... ./cmd/baton`")
	}
	if !cgoOff {
		t.Errorf("Dockerfile: build stage must set CGO_ENABLED=0 (static binary)")
	}

	final := stages[len(stages)-1]
	if !strings.HasPrefix(final.from, "debian:") {
		t.Errorf("Dockerfile: runtime stage FROM %q, want debian (shell tasks need /bin/sh and tools)", final.from)
	}
	var entry, user string
	copied := false
	for _, l := range final.body {
		switch f := strings.Fields(l); strings.ToUpper(f[0]) {
		case "ENTRYPOINT":
			entry = strings.TrimSpace(l[len(f[0]):])
		case "USER":
			user = f[1]
		case "COPY":
			if build.name != "" && strings.Contains(l, "--from="+build.name) {
				copied = true
			}
		}
	}
	if entry != `["baton"]` {
		t.Errorf("Dockerfile: ENTRYPOINT %s, want [\"baton\"]", entry)
	}
	if user == "" || user == "root" || strings.HasPrefix(user, "0") {
		t.Errorf("Dockerfile: runtime must run as a non-root USER, got %q", user)
	}
	if !copied {
		t.Errorf("Dockerfile: runtime stage must COPY the binary --from the named build stage")
	}
	for _, pkg := range []string{"bash", "ca-certificates", "curl", "tzdata"} {
		if !strings.Contains(strings.Join(final.body, "\n"), pkg) {
			t.Errorf("Dockerfile: runtime stage does not install %s", pkg)
		}
	}
}

// logicalLines joins continuation lines and drops comments and blanks.
func logicalLines(s string) []string {
	var out []string
	var cur strings.Builder
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		if cont, ok := strings.CutSuffix(l, "\\"); ok {
			cur.WriteString(cont)
			cur.WriteString(" ")
			continue
		}
		cur.WriteString(l)
		out = append(out, cur.String())
		cur.Reset()
	}
	if cur.Len() > 0 {
		out = append(out, cur.String())
	}
	return out
}

func goDirective(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	for l := range strings.Lines(string(data)) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(l), "go "); ok {
			return strings.TrimSpace(v)
		}
	}
	t.Fatal("go.mod has no go directive")
	return ""
}
