package devstack

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/baton-sched/baton/internal/dag"
	"github.com/baton-sched/baton/internal/executor"
	"github.com/baton-sched/baton/internal/status"
	"github.com/baton-sched/baton/models"
)

// fillDataDir lays out a data dir the way `baton dev` does: the embedded
// Temporal server's SQLite file and log, the mirror's SQLite file and the
// admin token.
func fillDataDir(t *testing.T, dir string) {
	t.Helper()
	srv, err := Start(Options{DBFile: filepath.Join(dir, "temporal.db"), LogFile: filepath.Join(dir, "temporal.log"), LogLevel: "info"})
	if err != nil {
		t.Fatal(err)
	}
	srv.Stop()
	ctx := context.Background()
	store, err := models.Open(ctx, "sqlite:"+filepath.Join(dir, "baton.db"))
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := store.EnsureToken(ctx, "admin", "admin", "bt_hunter2"); err != nil {
		t.Fatal(err)
	}
	// Closed later: an open database keeps its -wal and -shm files.
	t.Cleanup(func() { _ = store.Close() })
	if err := os.WriteFile(filepath.Join(dir, "admin-token"), []byte("bt_hunter2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
}

// readAsNobody runs a shell task as uid/gid 65534 that tries to read each
// file and returns the ones it could.
func readAsNobody(t *testing.T, files []string) []string {
	t.Helper()
	u, err := executor.ResolveTaskUser("65534:65534")
	if err != nil {
		t.Fatal(err)
	}
	var script strings.Builder
	for _, f := range files {
		script.WriteString("cat '" + f + "' >/dev/null 2>&1 && echo 'read=" + f + "'\n")
	}
	script.WriteString("true\n")
	var log strings.Builder
	res := executor.Execute(context.Background(), executor.Request{
		Task:       dag.Task{Kind: dag.KindShell, Shell: &dag.ShellSpec{Script: script.String()}},
		InstanceID: "datadir-" + filepath.Base(t.Name()), WorkRoot: filepath.Join(os.TempDir(), "baton-work", "devstack-test"),
		Isolation: executor.Isolation{User: u}, Log: &log,
	})
	if res.Status != status.InstanceSuccess {
		t.Fatalf("task: %+v; log:\n%s", res, log.String())
	}
	var read []string
	for line := range strings.SplitSeq(log.String(), "\n") {
		if f, ok := strings.CutPrefix(line, "read="); ok {
			read = append(read, f)
		}
	}
	return read
}

func TestPrivateDataDir(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("running a task as another user needs root (CAP_SETUID); this test runs as uid", os.Geteuid())
	}
	// A parent others may enter, as a home directory or /var/lib is: the
	// data dir's own mode is what must keep them out.
	parent, err := os.MkdirTemp("", "baton-datadir-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(parent) })
	if err := os.Chmod(parent, 0o755); err != nil {
		t.Fatal(err)
	}
	old := syscall.Umask(0o022)
	t.Cleanup(func() { syscall.Umask(old) })

	t.Run("without it", func(t *testing.T) {
		// The control: under a common umask the same layout is readable by
		// anyone, so the test below can fail.
		dir := filepath.Join(parent, "plain")
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		fillDataDir(t, dir)
		if read := readAsNobody(t, []string{filepath.Join(dir, "temporal.db"), filepath.Join(dir, "baton.db")}); len(read) != 2 {
			t.Fatalf("nobody read only %v of a default-umask data dir: the control does not hold", read)
		}
	})

	t.Run("with it", func(t *testing.T) {
		dir := filepath.Join(parent, "data")
		// Left by an older version: a world-readable file and directory.
		if err := os.MkdirAll(filepath.Join(dir, "old"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "old", "leftover"), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := PrivateDataDir(dir); err != nil {
			t.Fatal(err)
		}
		fillDataDir(t, dir)
		var files []string
		err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			fi, err := d.Info()
			if err != nil {
				return err
			}
			want := os.FileMode(0o600)
			if d.IsDir() {
				want = 0o700
			} else {
				files = append(files, p)
			}
			if fi.Mode().Perm() != want {
				t.Errorf("%s is %o, want %o", p, fi.Mode().Perm(), want)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{"temporal.db", "temporal.log", "baton.db", "baton.db-wal", "admin-token"} {
			if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
				t.Errorf("expected %s in the data dir: %v", name, err)
			}
		}
		if read := readAsNobody(t, files); len(read) > 0 {
			t.Errorf("a task as nobody read %v", read)
		}
	})
}
