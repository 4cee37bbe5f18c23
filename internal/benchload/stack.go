package benchload

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/baton-sched/baton/internal/engine"
	"github.com/cenkalti/backoff/v5"
)

// Stack is a `baton dev` child process with its own data dir and ports.
type Stack struct {
	Base         string // http://127.0.0.1:port
	TemporalAddr string
	DataDir      string
	Token        string
	cmd          *exec.Cmd
	done         chan error
	log          *os.File
}

// StartStack runs bin as `baton dev` in dataDir on free loopback ports and
// waits until its API answers. env adds BATON_* variables.
func StartStack(ctx context.Context, bin, dataDir string, env []string) (*Stack, error) {
	ports, err := freePorts(3)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("start stack: %w", err)
	}
	logf, err := os.Create(filepath.Join(dataDir, "..", filepath.Base(dataDir)+".log"))
	if err != nil {
		return nil, fmt.Errorf("start stack: %w", err)
	}
	httpAddr := fmt.Sprintf("127.0.0.1:%d", ports[0])
	cmd := exec.Command(bin, "dev", "--data-dir", dataDir, "--http-addr", httpAddr,
		"--temporal-port", strconv.Itoa(ports[1]), "--ui-addr", fmt.Sprintf("127.0.0.1:%d", ports[2]))
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		_ = logf.Close()
		return nil, fmt.Errorf("start baton dev: %w", err)
	}
	s := &Stack{Base: "http://" + httpAddr, TemporalAddr: fmt.Sprintf("127.0.0.1:%d", ports[1]), DataDir: dataDir,
		cmd: cmd, done: make(chan error, 1), log: logf}
	go func() { s.done <- cmd.Wait() }()
	_, err = engine.Poll(ctx, 3*time.Minute, func() (struct{}, error) {
		select {
		case err := <-s.done:
			s.done <- err
			return struct{}{}, backoff.Permanent(fmt.Errorf("baton dev exited: %w (log: %s)", err, logf.Name()))
		default:
		}
		b, err := os.ReadFile(filepath.Join(dataDir, "admin-token"))
		if err != nil {
			return struct{}{}, err
		}
		resp, err := http.Get(s.Base + "/healthz")
		if err != nil {
			return struct{}{}, err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return struct{}{}, fmt.Errorf("healthz: %s", resp.Status)
		}
		s.Token = strings.TrimSpace(string(b))
		return struct{}{}, nil
	})
	if err != nil {
		s.Stop()
		return nil, fmt.Errorf("start baton dev: %w", err)
	}
	return s, nil
}

// Pid is the process id of `baton dev`.
func (s *Stack) Pid() int { return s.cmd.Process.Pid }

// RSS is the resident memory of `baton dev` in bytes (VmRSS).
func (s *Stack) RSS() (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", s.Pid()))
	if err != nil {
		return 0, fmt.Errorf("read rss: %w", err)
	}
	defer func() { _ = f.Close() }()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("read rss: %w", err)
			}
			return kb * 1024, nil
		}
	}
	return 0, errors.New("read rss: no VmRSS line")
}

// Stop ends `baton dev` with SIGTERM, then SIGKILL after 20 s.
func (s *Stack) Stop() {
	_ = syscall.Kill(-s.Pid(), syscall.SIGTERM)
	select {
	case err := <-s.done:
		s.done <- err
	case <-time.After(20 * time.Second):
		_ = syscall.Kill(-s.Pid(), syscall.SIGKILL)
		s.done <- <-s.done
	}
	_ = s.log.Close()
}

func freePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			_ = l.Close()
		}
	}()
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("free port: %w", err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
