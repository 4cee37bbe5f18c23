//go:build faults

package itest

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/baton-sched/baton/internal/devstack"
	"github.com/baton-sched/baton/internal/engine"
	"github.com/baton-sched/baton/models"
)

// The fault-injection suite (issue 11, docs/reliability.md "Fault
// injection"): `make test-faults` runs the TestFault* tests of this
// package, built with the faults tag so that `make test` never runs them.
// Each case starts a cluster of real processes, injects one fault, and
// asserts through one checker, (*cluster).check.

// cluster is Baton in its production shape on loopback: an embedded
// Temporal server this test can stop and start again on the same port and
// SQLite file, a mirror database, `baton api` and `baton worker`
// subprocesses of the binary built from this tree. Its stack (client,
// store, API address) is what the shared helpers (ctlEnv,
// assertMirrorMatches) work on.
type cluster struct {
	t       *testing.T
	bin     string
	dir     string
	srv     *devstack.Server
	tAddr   string
	tDB     string
	dsn     string
	apiAddr string
	api     *proc
	workers map[string]*proc
	env     []string
	s       *stack
}

// clusterOptions vary a cluster.
type clusterOptions struct {
	// DSN is the mirror; empty picks a fresh MariaDB database when
	// BATON_TEST_MYSQL_DSN is set, else a SQLite file.
	DSN string
	// Env is added to every baton process's environment.
	Env []string
}

// faultReconcileInterval is the API's reconciler interval in the suite: a
// mirror that lost writes converges within a few seconds.
const faultReconcileInterval = 2 * time.Second

func newCluster(t *testing.T, o clusterOptions) *cluster {
	t.Helper()
	bin, err := buildBaton()
	if err != nil {
		t.Fatal(err)
	}
	c := &cluster{t: t, bin: bin, dir: t.TempDir(), workers: map[string]*proc{}, dsn: o.DSN}
	if c.dsn == "" {
		c.dsn = "sqlite:" + filepath.Join(c.dir, "mirror.db")
		if m := os.Getenv("BATON_TEST_MYSQL_DSN"); m != "" {
			c.dsn = freshMySQL(t, m)
		}
	}
	c.tAddr = freeAddr(t)
	c.tDB = filepath.Join(c.dir, "temporal.db")
	c.startTemporal()
	t.Cleanup(func() {
		if c.srv != nil {
			c.srv.Stop()
		}
	})
	ctx := context.Background()
	store, err := models.Open(ctx, c.dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	if err := store.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	client, err := engine.Dial(ctx, c.tAddr, "default", log, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(client.Close)
	c.apiAddr = freeAddr(t)
	c.s = &stack{t: t, srv: c.srv, client: client, store: store, dsn: c.dsn, base: "http://" + c.apiAddr}
	c.env = append([]string{
		"BATON_DB_DSN=" + c.dsn,
		"BATON_TEMPORAL_ADDRESS=" + c.tAddr,
		"BATON_TEMPORAL_NAMESPACE=default",
		"BATON_ADMIN_TOKEN=" + testToken,
		"BATON_HTTP_ADDR=" + c.apiAddr,
		"BATON_RECONCILE_INTERVAL=" + faultReconcileInterval.String(),
		"BATON_RECONCILE_START_GRACE=35s", // just above the API's 30 s start timeout (config.RunStartTimeout)
		"BATON_LOG_LEVEL=info",
		// A worker killed with -9 would leave its instances' cgroups
		// behind (docs/reliability.md); the process tree is enough here.
		"BATON_TASK_CGROUP=off",
		"BATON_TASK_WORK_DIR=" + filepath.Join(c.dir, "work"),
	}, o.Env...)
	return c
}

// environ is every baton process's environment (after os.Environ()).
func (c *cluster) environ() []string { return c.env }

// startTemporal starts the embedded server on the cluster's port and file.
func (c *cluster) startTemporal() {
	c.t.Helper()
	var err error
	// The port of a server just stopped may linger for a moment.
	for i := 0; i < 50; i++ {
		c.srv, err = devstack.Start(devstack.Options{FrontendAddr: c.tAddr, DBFile: c.tDB, Namespace: "default",
			SearchAttributes: engine.SearchAttributes()})
		if err == nil || !strings.Contains(err.Error(), "in use") {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		c.t.Fatalf("start Temporal on %s: %v", c.tAddr, err)
	}
	if c.s != nil {
		c.s.srv = c.srv
	}
}

// stopTemporal stops the embedded server; its state stays in the file.
func (c *cluster) stopTemporal() {
	c.srv.Stop()
	c.srv = nil
}

// startAPI starts `baton api` and waits until it answers.
func (c *cluster) startAPI() {
	c.t.Helper()
	c.api = startProc(c.t, c.bin, c.environ(), "api")
	waitHealthy(c.t, c.s.base)
}

// apiProc is a further `baton api` process of the cluster.
type apiProc struct {
	base string
	proc *proc
}

// startAPIOn starts another `baton api` on addr, sharing the mirror and
// Temporal.
func (c *cluster) startAPIOn(addr string) apiProc {
	c.t.Helper()
	p := startProc(c.t, c.bin, append(c.environ(), "BATON_HTTP_ADDR="+addr), "api")
	waitHealthy(c.t, "http://"+addr)
	return apiProc{base: "http://" + addr, proc: p}
}

// startWorker starts `baton worker --group group --id id` and waits until
// it has registered in the mirror.
func (c *cluster) startWorker(group, id string) *proc {
	c.t.Helper()
	p := startProc(c.t, c.bin, c.environ(), "worker", "--group", group, "--id", id, "--concurrency", "64")
	c.workers[id] = p
	deadline := time.Now().Add(60 * time.Second)
	for {
		ws, err := c.s.store.ListWorkers(context.Background(), group)
		if err == nil {
			for _, w := range ws {
				if w.ID == id {
					return p
				}
			}
		}
		select {
		case <-p.done:
			c.t.Fatalf("worker %s exited:\n%s", id, p.output())
		default:
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("worker %s did not register within 60s (%v)", id, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// signal sends sig to a worker process.
func (c *cluster) signal(id string, sig syscall.Signal) {
	c.t.Helper()
	if err := c.workers[id].cmd.Process.Signal(sig); err != nil {
		c.t.Fatalf("signal %s to worker %s: %v", sig, id, err)
	}
}

// mariadb is a private MariaDB server of one test, which it can stop and
// start: the shared server of the machine must not be stopped.
type mariadb struct {
	t        *testing.T
	datadir  string
	port     int
	proc     *exec.Cmd
	done     chan struct{}
	logFile  string
	database string
}

// startMariaDB starts a private mariadbd on a free loopback port, or skips
// the test when the machine has none. The data dir starts empty: with
// --skip-grant-tables the server needs no system tables, so
// mariadb-install-db (≈10 s) is not needed, and any user may connect.
func startMariaDB(t *testing.T) *mariadb {
	t.Helper()
	if _, err := exec.LookPath("mariadbd"); err != nil {
		t.Skip("mariadbd is not installed: this case needs a private MariaDB server it can stop (apt-get install mariadb-server)")
	}
	dir := t.TempDir()
	port, err := devstack.FreePort("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	m := &mariadb{t: t, datadir: filepath.Join(dir, "data"), port: port, logFile: filepath.Join(dir, "mariadbd.log"), database: "baton"}
	if err := os.MkdirAll(m.datadir, 0o700); err != nil {
		t.Fatal(err)
	}
	m.start()
	t.Cleanup(m.stop)
	ctx := context.Background()
	admin, err := models.Open(ctx, fmt.Sprintf("root@tcp(127.0.0.1:%d)/", port))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = admin.Close() }()
	if err := admin.Exec(ctx, "CREATE DATABASE baton CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"); err != nil {
		t.Fatal(err)
	}
	return m
}

func (m *mariadb) dsn() string {
	return fmt.Sprintf("root@tcp(127.0.0.1:%d)/%s", m.port, m.database)
}

func (m *mariadb) start() {
	m.t.Helper()
	logf, err := os.OpenFile(m.logFile, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		m.t.Fatal(err)
	}
	args := []string{"--no-defaults", "--datadir=" + m.datadir, "--port=" + strconv.Itoa(m.port),
		"--socket=" + filepath.Join(m.datadir, "mysqld.sock"), "--bind-address=127.0.0.1", "--skip-grant-tables",
		"--skip-log-bin", "--innodb-buffer-pool-size=64M", "--innodb-log-file-size=32M", "--max-connections=500"}
	if os.Geteuid() == 0 {
		args = append(args, "--user=root")
	}
	m.proc = exec.Command("mariadbd", args...)
	m.proc.Stdout, m.proc.Stderr = logf, logf
	if err := m.proc.Start(); err != nil {
		m.t.Fatal(err)
	}
	m.done = make(chan struct{})
	go func() { _ = m.proc.Wait(); _ = logf.Close(); close(m.done) }()
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(m.port))
	for deadline := time.Now().Add(60 * time.Second); ; {
		if conn, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			_ = conn.Close()
			return
		}
		select {
		case <-m.done:
			b, _ := os.ReadFile(m.logFile)
			m.t.Fatalf("mariadbd exited at start:\n%s", b)
		default:
		}
		if time.Now().After(deadline) {
			m.t.Fatal("mariadbd did not listen within 60s")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// stop shuts the server down cleanly (SIGTERM) and waits for it.
func (m *mariadb) stop() {
	if m.proc == nil {
		return
	}
	_ = m.proc.Process.Signal(syscall.SIGTERM)
	select {
	case <-m.done:
	case <-time.After(60 * time.Second):
		_ = m.proc.Process.Kill()
		<-m.done
	}
	m.proc = nil
}
