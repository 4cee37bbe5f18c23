package config

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Config holds every setting of every role (dev, api, worker, migrate).
type Config struct {
	// DataDir holds the embedded stack's state (BATON_DATA_DIR).
	DataDir string
	// HTTPAddr is the REST API listen address (BATON_HTTP_ADDR).
	HTTPAddr string
	// AdminToken is the bootstrap admin token (BATON_ADMIN_TOKEN); dev
	// generates one and keeps it in DataDir when empty.
	AdminToken string
	// TemporalAddress is the Temporal frontend (BATON_TEMPORAL_ADDRESS). For
	// dev, setting it means "use this external server instead of embedding".
	TemporalAddress string
	// TemporalPort is the port of dev's embedded Temporal frontend on
	// 127.0.0.1 (BATON_TEMPORAL_PORT, like `temporal server start-dev
	// --port`), so two dev stacks can share a machine; 0 picks a free port.
	// Roles without BATON_TEMPORAL_ADDRESS dial 127.0.0.1 on it too.
	TemporalPort int
	// TemporalNamespace is the namespace runs live in (BATON_TEMPORAL_NAMESPACE).
	TemporalNamespace string
	// TemporalUIAddr is where dev serves the Temporal Web UI (BATON_TEMPORAL_UI_ADDR).
	TemporalUIAddr string
	// DBDSN is the mirror database (BATON_DB_DSN): a go-sql-driver MySQL DSN
	// (optionally prefixed mysql://) or sqlite:<path>. Dev defaults to a
	// SQLite file in DataDir.
	DBDSN string
	// Group is the worker group a worker serves (BATON_WORKER_GROUP).
	Group string
	// WorkerID names this worker in its group (BATON_WORKER_ID); default host-pid.
	WorkerID string
	// Concurrency caps the task instances one worker runs at once (BATON_WORKER_CONCURRENCY).
	Concurrency int
	// OperableWindow keeps an ended run's workflow open for operations (BATON_OPERABLE_WINDOW).
	OperableWindow time.Duration
	// Retention is how long records and logs are kept (BATON_RETENTION).
	Retention time.Duration
	// ReconcileInterval is the time between mirror reconciler passes in
	// api and dev (BATON_RECONCILE_INTERVAL).
	ReconcileInterval time.Duration
	// ReconcileStartGrace is how long a run may have no workflow before the
	// reconciler marks it failed (BATON_RECONCILE_START_GRACE).
	ReconcileStartGrace time.Duration
	// LogLevel is debug, info, warn or error (BATON_LOG_LEVEL).
	LogLevel string
	// HTTPAllow lists the internal destinations http tasks of this worker
	// may reach despite the SSRF guard (BATON_HTTP_ALLOW): CIDRs, IPs,
	// ip:port, host names and host:port.
	HTTPAllow []string
	// MetricsAddr is where a worker serves /metrics (BATON_METRICS_ADDR);
	// empty serves none. The API and dev serve /metrics on HTTPAddr.
	MetricsAddr string
	// TaskUser is who this worker's shell tasks run as (BATON_TASK_USER):
	// a user name or uid:gid; empty runs them as the worker's own user. A
	// worker serves one group, so the setting is per group.
	TaskUser string
	// TaskWorkDir is the parent of this worker's task working directories
	// (BATON_TASK_WORK_DIR); empty means $TMPDIR/baton-work/<worker id>.
	TaskWorkDir string
	// TaskCgroup is auto, off or a cgroup v2 directory to create one cgroup
	// per shell instance under (BATON_TASK_CGROUP).
	TaskCgroup string
	// TaskEnv names worker variables passed on to shell tasks beyond the
	// base list (BATON_TASK_ENV).
	TaskEnv []string
	// SecretKey seals alert channel secrets at rest (BATON_SECRET_KEY): 32
	// bytes, base64 or hex. The API and every worker need the same key;
	// dev generates one into DataDir when unset.
	SecretKey string
	// ConsoleURL is the console's address as alert messages link to it
	// (BATON_CONSOLE_URL); empty means http://<BATON_HTTP_ADDR>.
	ConsoleURL string
}

// Default returns the built-in defaults.
func Default() Config {
	host, _ := os.Hostname()
	if host == "" {
		host = "worker"
	}
	return Config{
		DataDir:             ".baton",
		HTTPAddr:            "127.0.0.1:8080",
		TemporalAddress:     "",
		TemporalPort:        DefaultTemporalPort,
		TemporalNamespace:   "default",
		TemporalUIAddr:      "127.0.0.1:8233",
		Group:               "default",
		WorkerID:            fmt.Sprintf("%s-%d", host, os.Getpid()),
		Concurrency:         16,
		OperableWindow:      7 * 24 * time.Hour,
		Retention:           7 * 24 * time.Hour,
		ReconcileInterval:   time.Minute,
		ReconcileStartGrace: 2 * time.Minute,
		LogLevel:            "info",
		TaskCgroup:          "auto",
	}
}

// DefaultTemporalPort is the embedded server's frontend port, Temporal's own.
const DefaultTemporalPort = 7233

// temporalHost is where the embedded frontend listens and where roles
// without BATON_TEMPORAL_ADDRESS look for it.
const temporalHost = "127.0.0.1"

// FromEnv returns the defaults overridden by BATON_* variables.
func FromEnv() (Config, error) {
	return fromLookup(os.LookupEnv)
}

func fromLookup(lookup func(string) (string, bool)) (Config, error) {
	c := Default()
	var errs []error
	str := func(name string, dst *string) {
		if v, ok := lookup(name); ok && v != "" {
			*dst = v
		}
	}
	dur := func(name string, dst *time.Duration) {
		if v, ok := lookup(name); ok && v != "" {
			d, err := ParseDuration(v)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", name, err))
				return
			}
			*dst = d
		}
	}
	num := func(name string, dst *int) {
		if v, ok := lookup(name); ok && v != "" {
			n, err := strconv.Atoi(v)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %q is not a number", name, v))
				return
			}
			*dst = n
		}
	}
	str("BATON_DATA_DIR", &c.DataDir)
	str("BATON_HTTP_ADDR", &c.HTTPAddr)
	str("BATON_ADMIN_TOKEN", &c.AdminToken)
	str("BATON_TEMPORAL_ADDRESS", &c.TemporalAddress)
	str("BATON_TEMPORAL_NAMESPACE", &c.TemporalNamespace)
	str("BATON_TEMPORAL_UI_ADDR", &c.TemporalUIAddr)
	str("BATON_DB_DSN", &c.DBDSN)
	str("BATON_WORKER_GROUP", &c.Group)
	str("BATON_WORKER_ID", &c.WorkerID)
	str("BATON_LOG_LEVEL", &c.LogLevel)
	str("BATON_METRICS_ADDR", &c.MetricsAddr)
	str("BATON_TASK_USER", &c.TaskUser)
	str("BATON_TASK_WORK_DIR", &c.TaskWorkDir)
	str("BATON_TASK_CGROUP", &c.TaskCgroup)
	str("BATON_SECRET_KEY", &c.SecretKey)
	str("BATON_CONSOLE_URL", &c.ConsoleURL)
	if v, ok := lookup("BATON_TASK_ENV"); ok {
		c.TaskEnv = splitList(v)
	}
	num("BATON_TEMPORAL_PORT", &c.TemporalPort)
	num("BATON_WORKER_CONCURRENCY", &c.Concurrency)
	dur("BATON_OPERABLE_WINDOW", &c.OperableWindow)
	dur("BATON_RETENTION", &c.Retention)
	dur("BATON_RECONCILE_INTERVAL", &c.ReconcileInterval)
	dur("BATON_RECONCILE_START_GRACE", &c.ReconcileStartGrace)
	if v, ok := lookup("BATON_HTTP_ALLOW"); ok {
		c.HTTPAllow = splitList(v)
	}
	return c, errors.Join(errs...)
}

// ParseDuration accepts Go durations plus a whole number of days ("7d").
func ParseDuration(s string) (time.Duration, error) {
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.Atoi(n)
		if err != nil || days < 0 {
			return 0, fmt.Errorf("invalid duration %q", s)
		}
		return time.Duration(days) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("invalid duration %q", s)
	}
	return d, nil
}

// RunStartTimeout bounds how long the API keeps trying to start a run's
// workflow (Temporal unreachable: the SDK retries within it) before it
// marks the run failed. The reconciler's start grace must be longer.
const RunStartTimeout = 30 * time.Second

// Role names what a process is about to do, for Validate.
type Role string

// Roles.
const (
	RoleDev     Role = "dev"
	RoleAPI     Role = "api"
	RoleWorker  Role = "worker"
	RoleMigrate Role = "migrate"
)

// Validate checks the settings a role needs, reporting every problem.
func (c *Config) Validate(role Role) error {
	var errs []error
	addr := func(name, v string) {
		if _, _, err := net.SplitHostPort(v); err != nil {
			errs = append(errs, fmt.Errorf("%s: %q is not host:port", name, v))
		}
	}
	if role == RoleDev || role == RoleAPI {
		addr("BATON_HTTP_ADDR", c.HTTPAddr)
	}
	if role == RoleWorker && c.MetricsAddr != "" {
		addr("BATON_METRICS_ADDR", c.MetricsAddr)
	}
	if role == RoleDev {
		addr("BATON_TEMPORAL_UI_ADDR", c.TemporalUIAddr)
		if c.DataDir == "" {
			errs = append(errs, errors.New("BATON_DATA_DIR: must not be empty"))
		}
	}
	if c.TemporalAddress != "" {
		addr("BATON_TEMPORAL_ADDRESS", c.TemporalAddress)
	}
	if c.TemporalPort < 0 || c.TemporalPort > 65535 || c.TemporalPort == 0 && role != RoleDev {
		errs = append(errs, fmt.Errorf("BATON_TEMPORAL_PORT: %d must be a port, 1 to 65535 (0, a free port, only for dev)", c.TemporalPort))
	}
	if role != RoleDev && c.DBDSN == "" {
		errs = append(errs, fmt.Errorf("BATON_DB_DSN: required for %s", role))
	}
	if c.TemporalNamespace == "" {
		errs = append(errs, errors.New("BATON_TEMPORAL_NAMESPACE: must not be empty"))
	}
	if c.SecretKey != "" {
		if _, err := ParseSecretKey(c.SecretKey); err != nil {
			errs = append(errs, fmt.Errorf("BATON_SECRET_KEY: %w", err))
		}
	}
	if c.ConsoleURL != "" {
		if u, err := url.Parse(c.ConsoleURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("BATON_CONSOLE_URL: %q is not an absolute http or https URL", c.ConsoleURL))
		}
	}
	if role != RoleMigrate {
		// Workers' http tasks and alert webhooks; the API checks webhook
		// URLs at save and sends channel tests.
		for _, e := range c.HTTPAllow {
			if err := checkAllowEntry(e); err != nil {
				errs = append(errs, fmt.Errorf("BATON_HTTP_ALLOW: %w", err))
			}
		}
	}
	if role == RoleWorker || role == RoleDev {
		if !validName(c.Group) {
			errs = append(errs, fmt.Errorf("BATON_WORKER_GROUP: %q must match [A-Za-z0-9_.-]{1,64}", c.Group))
		}
		if !validName(c.WorkerID) {
			errs = append(errs, fmt.Errorf("BATON_WORKER_ID: %q must match [A-Za-z0-9_.-]{1,64}", c.WorkerID))
		}
		if c.Concurrency < 1 {
			errs = append(errs, fmt.Errorf("BATON_WORKER_CONCURRENCY: %d must be at least 1", c.Concurrency))
		}
		errs = append(errs, c.validateTask(role)...)
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("BATON_LOG_LEVEL: %q is not debug, info, warn or error", c.LogLevel))
	}
	if c.OperableWindow <= 0 {
		errs = append(errs, errors.New("BATON_OPERABLE_WINDOW: must be positive"))
	}
	if c.Retention <= 0 {
		errs = append(errs, errors.New("BATON_RETENTION: must be positive"))
	}
	if c.ReconcileInterval <= 0 {
		errs = append(errs, errors.New("BATON_RECONCILE_INTERVAL: must be positive"))
	}
	switch {
	case c.ReconcileStartGrace <= 0:
		errs = append(errs, errors.New("BATON_RECONCILE_START_GRACE: must be positive"))
	case c.ReconcileStartGrace <= RunStartTimeout:
		// Found by the fault suite: a start still being retried through a
		// short Temporal outage was marked failed, then its workflow ran.
		errs = append(errs, fmt.Errorf("BATON_RECONCILE_START_GRACE: %s must be longer than the API's %s run start timeout, "+
			"or a start still being retried is marked failed", c.ReconcileStartGrace, RunStartTimeout))
	}
	return errors.Join(errs...)
}

// validateTask checks the task isolation settings. Whether the task user
// exists and the cgroup is usable is only known on the worker's machine,
// so the executor checks those at start.
func (c *Config) validateTask(role Role) []error {
	var errs []error
	if c.TaskWorkDir != "" && !filepath.IsAbs(c.TaskWorkDir) {
		errs = append(errs, fmt.Errorf("BATON_TASK_WORK_DIR: %q is not an absolute path", c.TaskWorkDir))
	}
	if role == RoleDev && c.DataDir != "" {
		// Inside the data dir a task sits next to the admin token and the
		// database.
		if rel, err := filepath.Rel(absPath(c.DataDir), absPath(c.TaskWorkRoot())); err == nil &&
			(rel == "." || !strings.HasPrefix(rel, "..")) {
			errs = append(errs, fmt.Errorf("BATON_TASK_WORK_DIR: %q is inside BATON_DATA_DIR %q, where tasks could read the admin token and the database",
				c.TaskWorkRoot(), c.DataDir))
		}
	}
	switch c.TaskCgroup {
	case "auto", "off":
	default:
		if !filepath.IsAbs(c.TaskCgroup) {
			errs = append(errs, fmt.Errorf("BATON_TASK_CGROUP: %q is not auto, off or an absolute cgroup v2 directory", c.TaskCgroup))
		}
	}
	for _, n := range c.TaskEnv {
		switch {
		case strings.HasPrefix(n, "BATON_"):
			errs = append(errs, fmt.Errorf("BATON_TASK_ENV: %s: BATON_* variables are the worker's own settings (DSN, tokens) and never reach tasks", n))
		case !ValidEnvName(n):
			errs = append(errs, fmt.Errorf("BATON_TASK_ENV: %q is not a variable name", n))
		}
	}
	return errs
}

// TaskWorkRoot is the directory this worker's task working directories go in.
func (c *Config) TaskWorkRoot() string {
	if c.TaskWorkDir != "" {
		return c.TaskWorkDir
	}
	return filepath.Join(os.TempDir(), "baton-work", c.WorkerID)
}

func absPath(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}

// ValidEnvName reports whether s can name an environment variable
// (letters, digits, '_'; not starting with a digit).
func ValidEnvName(s string) bool {
	if s == "" || (s[0] >= '0' && s[0] <= '9') {
		return false
	}
	for _, r := range s {
		if r != '_' && (r < 'A' || r > 'Z') && (r < 'a' || r > 'z') && (r < '0' || r > '9') {
			return false
		}
	}
	return true
}

// TemporalHostPort is the frontend to dial.
func (c *Config) TemporalHostPort() string {
	if c.TemporalAddress != "" {
		return c.TemporalAddress
	}
	return c.EmbeddedTemporalAddr()
}

// EmbeddedTemporalAddr is where dev's embedded frontend listens.
func (c *Config) EmbeddedTemporalAddr() string {
	return net.JoinHostPort(temporalHost, strconv.Itoa(c.TemporalPort))
}

// DevDBDSN is the mirror DSN dev uses when none is set.
func (c *Config) DevDBDSN() string {
	if c.DBDSN != "" {
		return c.DBDSN
	}
	return "sqlite:" + filepath.Join(c.DataDir, "baton.db")
}

// splitList reads a comma-separated list, dropping blanks so that a
// trailing comma or "a, b" spacing is not an error.
func splitList(v string) []string {
	var out []string
	for e := range strings.SplitSeq(v, ",") {
		if e = strings.TrimSpace(e); e != "" {
			out = append(out, e)
		}
	}
	return out
}

// checkAllowEntry accepts what the executor's guard understands: a CIDR, an
// IP, ip:port ("[::1]:8080" for IPv6), a host name or host:port. Anything
// else is refused at start, because the guard would ignore it and the
// operator would only learn so from a failed task.
func checkAllowEntry(e string) error {
	if _, err := netip.ParsePrefix(e); err == nil {
		return nil
	}
	if _, err := netip.ParseAddr(e); err == nil {
		return nil
	}
	if strings.Contains(e, "://") {
		return fmt.Errorf("%q is a URL: give its host or host:port", e)
	}
	if strings.Contains(e, "/") {
		return fmt.Errorf("%q is not a valid CIDR", e)
	}
	host := e
	if strings.HasPrefix(e, "[") || strings.Count(e, ":") == 1 {
		h, p, err := net.SplitHostPort(e)
		if err != nil {
			return fmt.Errorf("%q is not a CIDR, IP, host or host:port", e)
		}
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("%q: port %q is not a number from 1 to 65535", e, p)
		}
		if _, err := netip.ParseAddr(h); err == nil {
			return nil
		}
		if strings.HasPrefix(e, "[") {
			return fmt.Errorf("%q: %q in brackets is not an IP address", e, h)
		}
		host = h
	}
	if !validHost(host) {
		return fmt.Errorf("%q is not a CIDR, IP, host or host:port", e)
	}
	return nil
}

// numericTLD tells a mistyped address ("10.0.0.256") from a host name: no
// top-level domain is all digits.
func numericTLD(h string) bool {
	tld := h[strings.LastIndexByte(h, '.')+1:]
	for _, r := range tld {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// validHost checks a DNS name loosely (RFC 1123 labels, a trailing dot
// allowed): enough to catch typos such as a URL or a stray scheme.
func validHost(h string) bool {
	h = strings.TrimSuffix(h, ".")
	if h == "" || len(h) > 253 || numericTLD(h) {
		return false
	}
	for label := range strings.SplitSeq(h, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, r := range label {
			switch {
			case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_':
			default:
				return false
			}
		}
	}
	return true
}

func validName(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_', r == '.', r == '-':
		default:
			return false
		}
	}
	return true
}

// SecretKeySize is the length of BATON_SECRET_KEY once decoded (AES-256).
const SecretKeySize = 32

// ParseSecretKey decodes BATON_SECRET_KEY: 32 bytes as base64 (standard
// or URL alphabet, padded or not) or as 64 hex digits.
func ParseSecretKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if b, err := hex.DecodeString(s); err == nil && len(b) == SecretKeySize {
		return b, nil
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			if len(b) != SecretKeySize {
				return nil, fmt.Errorf("the key decodes to %d bytes, want %d (make one with: openssl rand -base64 32)", len(b), SecretKeySize)
			}
			return b, nil
		}
	}
	return nil, fmt.Errorf("the key is neither base64 nor hex of %d bytes (make one with: openssl rand -base64 32)", SecretKeySize)
}

// GenerateSecretKey makes a new random key in the form ParseSecretKey reads.
func GenerateSecretKey() (string, error) {
	b := make([]byte, SecretKeySize)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generate secret key: %w", err)
	}
	return base64.StdEncoding.EncodeToString(b), nil
}

// ConsoleLink is the console's address for links in alert messages:
// BATON_CONSOLE_URL, else http:// and BATON_HTTP_ADDR (with this host's
// name for a wildcard listen address, which no browser can open).
func (c *Config) ConsoleLink() string {
	if c.ConsoleURL != "" {
		return strings.TrimRight(c.ConsoleURL, "/")
	}
	host, port, err := net.SplitHostPort(c.HTTPAddr)
	if err != nil {
		return ""
	}
	if ip, err := netip.ParseAddr(host); host == "" || err == nil && ip.IsUnspecified() {
		if h, err := os.Hostname(); err == nil && h != "" {
			host = h
		} else {
			host = "127.0.0.1"
		}
	}
	return "http://" + net.JoinHostPort(host, port)
}
