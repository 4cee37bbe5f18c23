package itest

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/baton-sched/baton/internal/devstack"
	"github.com/baton-sched/baton/models"
)

// buildBaton compiles cmd/baton once per test binary.
var buildBaton = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "baton-bin-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "baton")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/baton")
	cmd.Dir = filepath.Join("..", "..")
	cmd.Env = append(os.Environ(), "GOTOOLCHAIN=local", "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/baton: %w\n%s", err, out)
	}
	return bin, nil
})

type proc struct {
	name string
	cmd  *exec.Cmd
	out  *bytes.Buffer
	mu   *sync.Mutex
	done chan struct{} // closed once the process has exited and been reaped
}

type syncBuffer struct {
	mu  *sync.Mutex
	buf *bytes.Buffer
}

func (b syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (p *proc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// stop ends the process: SIGINT, then SIGKILL after grace. It is safe to
// call on a process that already exited.
func (p *proc) stop(grace time.Duration) {
	_ = p.cmd.Process.Signal(syscall.SIGCONT) // a SIGSTOPped process cannot act on SIGINT
	_ = p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.done:
	case <-time.After(grace):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// kill sends SIGKILL and waits until the process is gone.
func (p *proc) kill() {
	_ = p.cmd.Process.Kill()
	<-p.done
}

func startProc(t *testing.T, bin string, env []string, args ...string) *proc {
	t.Helper()
	p := &proc{name: strings.Join(args, " "), out: &bytes.Buffer{}, mu: &sync.Mutex{}, done: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Env = append(os.Environ(), env...)
	w := syncBuffer{mu: p.mu, buf: p.out}
	p.cmd.Stdout, p.cmd.Stderr = w, w
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.stop(15 * time.Second)
		if t.Failed() {
			t.Logf("--- output of baton %s:\n%s", p.name, p.output())
		}
	})
	return p
}

func freeAddr(t *testing.T) string {
	t.Helper()
	port, err := devstack.FreePort("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
}

// TestProductionRoles runs the slice through the production shape: `baton
// migrate`, `baton api` and two `baton worker --group default` processes
// against an external Temporal (the embedded server started alone) and the
// MariaDB/MySQL mirror (SQLite file when no MySQL is configured).
func TestProductionRoles(t *testing.T) {
	bin, err := buildBaton()
	if err != nil {
		t.Fatal(err)
	}
	dsn := databases(t)["sqlite"]
	if m := os.Getenv("BATON_TEST_MYSQL_DSN"); m != "" {
		dsn = freshMySQL(t, m)
		t.Logf("production roles on MySQL/MariaDB mirror")
	}
	srv := startTemporal(t)
	httpAddr := freeAddr(t)
	env := []string{
		"BATON_DB_DSN=" + dsn,
		"BATON_TEMPORAL_ADDRESS=" + srv.FrontendAddr(),
		"BATON_TEMPORAL_NAMESPACE=default",
		"BATON_ADMIN_TOKEN=" + testToken,
		"BATON_HTTP_ADDR=" + httpAddr,
	}
	migrate := exec.Command(bin, "migrate")
	migrate.Env = append(os.Environ(), env...)
	if out, err := migrate.CombinedOutput(); err != nil {
		t.Fatalf("baton migrate: %v\n%s", err, out)
	} else if !strings.Contains(string(out), "up to date") {
		t.Fatalf("baton migrate said %q", out)
	}
	startProc(t, bin, env, "api")
	startProc(t, bin, env, "worker", "--group", "default", "--id", "w1")
	startProc(t, bin, env, "worker", "--group", "default", "--id", "w2")
	base := "http://" + httpAddr
	waitHealthy(t, base)

	var flow struct{ ID string }
	if code := call(t, base, "POST", "/api/v1/flows", threeNodeFlow("prod-slice"), &flow); code != 201 {
		t.Fatalf("create flow: %d", code)
	}
	var run runView
	if code := call(t, base, "POST", "/api/v1/flows/"+flow.ID+"/runs", nil, &run); code != 201 {
		t.Fatalf("start run: %d", code)
	}
	got := waitRun(t, base, run.ID, 90*time.Second)
	if got.Status != "success" {
		t.Fatalf("run %s: %+v", got.Status, got)
	}
	for _, n := range got.Nodes {
		if n.Status != "success" || len(n.Instances) != 1 {
			t.Errorf("node %s: %+v", n.ID, n)
		}
		if w := n.Instances[0].WorkerID; w != "w1" && w != "w2" {
			t.Errorf("node %s ran on %q, want w1 or w2", n.ID, w)
		}
	}
	var workers struct {
		Items []struct {
			ID    string `json:"id"`
			Group string `json:"group"`
		} `json:"items"`
	}
	if code := call(t, base, "GET", "/api/v1/workers", nil, &workers); code != 200 {
		t.Fatalf("workers: %d", code)
	}
	seen := map[string]bool{}
	for _, w := range workers.Items {
		seen[w.ID] = w.Group == "default"
	}
	if !seen["w1"] || !seen["w2"] {
		t.Errorf("workers listed: %+v", workers.Items)
	}
	// The records are in the external mirror itself.
	store, err := models.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = store.Close() }()
	r, err := store.GetRun(context.Background(), run.ID)
	if err != nil || r.Status != "success" {
		t.Fatalf("mirror run: %+v %v", r, err)
	}
}

func waitHealthy(t *testing.T, base string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		var h map[string]any
		if code := callNoFail(base+"/healthz", &h); code == 200 {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatal("API did not become healthy within 60s")
}
