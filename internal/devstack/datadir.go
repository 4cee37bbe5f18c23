package devstack

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// PrivateDataDir makes dir the private state directory of `baton dev`:
// created 0700, and every file already in it (from an older version, or
// copied in) tightened to 0600 and every directory to 0700. It also sets
// the process umask to 077, because the files that matter are created by
// libraries with their own modes (SQLite's database, WAL and shared-memory
// files, the Temporal server's log), and only the umask reaches those.
// Processes started later (tasks) inherit the umask; their working
// directories are private anyway.
func PrivateDataDir(dir string) error {
	syscall.Umask(0o077)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("data dir: %w", err)
		}
		mode := os.FileMode(0o600)
		switch {
		case d.IsDir():
			mode = 0o700
		case !d.Type().IsRegular():
			return nil // sockets, symlinks: not ours to chmod through
		}
		fi, err := d.Info()
		if err != nil {
			return fmt.Errorf("data dir: %w", err)
		}
		if fi.Mode().Perm()&^mode == 0 {
			return nil
		}
		if err := os.Chmod(p, fi.Mode().Perm()&mode); err != nil {
			return fmt.Errorf("data dir: %w", err)
		}
		return nil
	})
}
