package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"go.temporal.io/sdk/client"

	"github.com/baton-sched/baton/api"
	"github.com/baton-sched/baton/internal/alert"
	"github.com/baton-sched/baton/internal/config"
	"github.com/baton-sched/baton/internal/devstack"
	"github.com/baton-sched/baton/internal/engine"
	"github.com/baton-sched/baton/internal/executor"
	"github.com/baton-sched/baton/internal/metrics"
	"github.com/baton-sched/baton/internal/reconcile"
	"github.com/baton-sched/baton/models"
	"github.com/baton-sched/baton/web"
)

func loadConfig() (config.Config, error) {
	cfg, err := config.FromEnv()
	if err != nil {
		return cfg, fmt.Errorf("configuration: %w", err)
	}
	return cfg, nil
}

func newLogger(level string) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(level))
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: l}))
}

func devCmd() *cobra.Command {
	var dataDir, httpAddr, temporalAddr, dbDSN, uiAddr string
	var temporalPort int
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Run everything in one process: embedded Temporal + UI, SQLite mirror, API and a worker",
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig()
			if err != nil {
				return err
			}
			override(cmd, "data-dir", &cfg.DataDir, dataDir)
			override(cmd, "http-addr", &cfg.HTTPAddr, httpAddr)
			override(cmd, "temporal-address", &cfg.TemporalAddress, temporalAddr)
			override(cmd, "db-dsn", &cfg.DBDSN, dbDSN)
			override(cmd, "ui-addr", &cfg.TemporalUIAddr, uiAddr)
			if cmd.Flags().Changed("temporal-port") {
				cfg.TemporalPort = temporalPort
			}
			if _, set := os.LookupEnv("BATON_WORKER_ID"); !set {
				// One machine, one worker: a stable id keeps restarts from
				// piling up dead workers in the registry.
				cfg.WorkerID = "dev"
			}
			if err := cfg.Validate(config.RoleDev); err != nil {
				return err
			}
			return runDev(cmd.Context(), cfg)
		},
	}
	f := cmd.Flags()
	f.StringVar(&dataDir, "data-dir", "", "state directory (BATON_DATA_DIR, default .baton)")
	f.StringVar(&httpAddr, "http-addr", "", "REST API address (BATON_HTTP_ADDR, default 127.0.0.1:8080)")
	f.StringVar(&temporalAddr, "temporal-address", "", "use this external Temporal instead of the embedded one (BATON_TEMPORAL_ADDRESS)")
	f.IntVar(&temporalPort, "temporal-port", config.DefaultTemporalPort, "port of the embedded Temporal frontend on 127.0.0.1; 0 picks a free one (BATON_TEMPORAL_PORT)")
	f.StringVar(&dbDSN, "db-dsn", "", "use this MySQL DSN instead of the SQLite mirror (BATON_DB_DSN)")
	f.StringVar(&uiAddr, "ui-addr", "", "Temporal Web UI address (BATON_TEMPORAL_UI_ADDR, default 127.0.0.1:8233)")
	return cmd
}

func override(cmd *cobra.Command, flag string, dst *string, v string) {
	if cmd.Flags().Changed(flag) {
		*dst = v
	}
}

func runDev(ctx context.Context, cfg config.Config) error {
	log := newLogger(cfg.LogLevel)
	if err := devstack.PrivateDataDir(cfg.DataDir); err != nil {
		return err
	}
	iso, warnings, err := taskIsolation(cfg, log)
	if err != nil {
		return err
	}
	uiURL := "(external Temporal: its own UI)"
	temporalUI := "" // what the console links to: only a UI this process serves
	hostPort := cfg.TemporalAddress
	if hostPort == "" {
		fmt.Println("baton dev: starting embedded Temporal server...")
		srv, err := devstack.Start(devstack.Options{
			FrontendAddr:     cfg.EmbeddedTemporalAddr(),
			UIAddr:           cfg.TemporalUIAddr,
			DBFile:           filepath.Join(cfg.DataDir, "temporal.db"),
			Namespace:        cfg.TemporalNamespace,
			SearchAttributes: engine.SearchAttributes(),
			LogFile:          filepath.Join(cfg.DataDir, "temporal.log"),
		})
		if err != nil {
			return err
		}
		defer srv.Stop()
		hostPort = srv.FrontendAddr()
		if srv.UIAddr() != "" {
			temporalUI = "http://" + srv.UIAddr()
			uiURL = temporalUI
		}
	}
	store, err := models.Open(ctx, cfg.DevDBDSN())
	if err != nil {
		return err
	}
	defer func() { _ = store.Close() }()
	if err := store.Migrate(ctx); err != nil {
		return err
	}
	token, err := devToken(ctx, cfg, store)
	if err != nil {
		return err
	}
	m, err := metrics.New()
	if err != nil {
		return err
	}
	c, err := engine.Dial(ctx, hostPort, cfg.TemporalNamespace, log, 30*time.Second, engine.WithMetrics(m))
	if err != nil {
		return err
	}
	defer c.Close()
	if len(cfg.HTTPAllow) == 0 {
		// The dev stack runs on one machine: local HTTP services are the point.
		cfg.HTTPAllow = []string{"127.0.0.0/8", "::1/128"}
	}
	if err := devSecretKey(&cfg); err != nil {
		return err
	}
	sealer, err := secretSealer(cfg)
	if err != nil {
		return err
	}
	w, err := engine.StartWorker(ctx, c, store, engine.WorkerOptions{
		Group: cfg.Group, WorkerID: cfg.WorkerID, Concurrency: cfg.Concurrency,
		WorkRoot: cfg.TaskWorkRoot(), Isolation: iso, Logger: log, HTTPAllow: cfg.HTTPAllow, Metrics: m,
		ConsoleURL: cfg.ConsoleLink(), Sealer: sealer,
	})
	if err != nil {
		return err
	}
	defer w.Stop()
	go store.KeepFor(ctx, cfg.Retention, time.Hour, log)
	go newReconciler(cfg, store, c, log, m).Run(ctx)
	fmt.Printf(`baton dev is running
  Console + API   http://%s
  Temporal UI     %s
  Temporal        %s (namespace %s)
  data            %s
  admin token     %s
  task work dir   %s
  task user       %s
%sPress Ctrl-C to stop.
`, cfg.HTTPAddr, uiURL, hostPort, cfg.TemporalNamespace, cfg.DataDir, token, cfg.TaskWorkRoot(), taskUserLine(iso),
		bannerWarnings(warnings))
	return serveAPI(ctx, cfg, store, c, log, m, temporalUI)
}

// taskIsolation sets up how this worker confines its shell tasks and says
// at WARN, once per gap, what that leaves open.
func taskIsolation(cfg config.Config, log *slog.Logger) (executor.Isolation, []string, error) {
	iso, err := executor.Setup(cfg.TaskUser, cfg.TaskCgroup, cfg.TaskEnv)
	if err != nil {
		return iso, nil, err
	}
	log.Info("task isolation", "user", taskUserLine(iso), "cgroup", iso.CgroupParent, "work_dir", cfg.TaskWorkRoot(),
		"env_allow", cfg.TaskEnv)
	warnings := iso.Warnings()
	for _, w := range warnings {
		log.Warn(w)
	}
	return iso, warnings, nil
}

func taskUserLine(iso executor.Isolation) string {
	if u := iso.User; u != nil {
		return fmt.Sprintf("%s (uid %d, gid %d)", u.Name, u.UID, u.GID)
	}
	return fmt.Sprintf("the server's own (uid %d)", os.Geteuid())
}

func bannerWarnings(ws []string) string {
	var b strings.Builder
	for _, w := range ws {
		b.WriteString("  WARNING: " + w + "\n")
	}
	return b.String()
}

// devToken returns BATON_ADMIN_TOKEN, or the token kept in the data dir,
// generating it on first start, and makes sure the mirror knows it.
func devToken(ctx context.Context, cfg config.Config, store *models.Store) (string, error) {
	token := cfg.AdminToken
	if token == "" {
		path := filepath.Join(cfg.DataDir, "admin-token")
		b, err := os.ReadFile(path)
		switch {
		case err == nil:
			token = strings.TrimSpace(string(b))
		case errors.Is(err, os.ErrNotExist):
			raw := make([]byte, 24)
			if _, err := rand.Read(raw); err != nil {
				return "", fmt.Errorf("generate admin token: %w", err)
			}
			token = "bt_" + base64.RawURLEncoding.EncodeToString(raw)
			if err := os.WriteFile(path, []byte(token+"\n"), 0o600); err != nil {
				return "", fmt.Errorf("keep admin token: %w", err)
			}
		default:
			return "", fmt.Errorf("read admin token: %w", err)
		}
	}
	if _, err := store.EnsureToken(ctx, "admin", "admin", token); err != nil {
		return "", err
	}
	return token, nil
}

// devSecretKey gives dev a BATON_SECRET_KEY when none is set: the one
// kept in the data dir, generated (0600) on first start, so channel
// secrets saved by one start open on the next.
func devSecretKey(cfg *config.Config) error {
	if cfg.SecretKey != "" {
		return nil
	}
	path := filepath.Join(cfg.DataDir, "secret-key")
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		cfg.SecretKey = strings.TrimSpace(string(b))
	case errors.Is(err, os.ErrNotExist):
		if cfg.SecretKey, err = config.GenerateSecretKey(); err != nil {
			return err
		}
		if err := os.WriteFile(path, []byte(cfg.SecretKey+"\n"), 0o600); err != nil {
			return fmt.Errorf("keep secret key: %w", err)
		}
	default:
		return fmt.Errorf("read secret key: %w", err)
	}
	if _, err := config.ParseSecretKey(cfg.SecretKey); err != nil {
		return fmt.Errorf("secret key in %s: %w", path, err)
	}
	return nil
}

// secretSealer seals and opens alert channel secrets under
// BATON_SECRET_KEY; nil without one (env:NAME secrets still work).
func secretSealer(cfg config.Config) (*alert.Sealer, error) {
	if cfg.SecretKey == "" {
		return nil, nil
	}
	key, err := config.ParseSecretKey(cfg.SecretKey)
	if err != nil {
		return nil, fmt.Errorf("BATON_SECRET_KEY: %w", err)
	}
	return alert.NewSealer(key)
}

// newReconciler repairs the mirror from Temporal (docs/architecture.md,
// "Mirror consistency"); its passes are counted on m (baton_reconcile_*).
func newReconciler(cfg config.Config, store *models.Store, c client.Client, log *slog.Logger, m *metrics.Metrics) *reconcile.Reconciler {
	return reconcile.New(store, reconcile.TemporalObserver{Engine: &engine.Engine{Client: c, Namespace: cfg.TemporalNamespace}},
		reconcile.Options{Interval: cfg.ReconcileInterval, StartGrace: cfg.ReconcileStartGrace,
			OperableWindow: cfg.OperableWindow, Logger: log, Metrics: m})
}

// serveAPI serves the REST API and the console; temporalUI is the Temporal
// Web UI address the console links to ("" when unknown).
func serveAPI(ctx context.Context, cfg config.Config, store *models.Store, c client.Client, log *slog.Logger, m *metrics.Metrics, temporalUI string) error {
	addr := cfg.HTTPAddr
	sealer, err := secretSealer(cfg)
	if err != nil {
		return err
	}
	h := api.New(api.Options{Store: store, Engine: &engine.Engine{Client: c, Namespace: cfg.TemporalNamespace, Metrics: m},
		Logger: log, OperableWindow: cfg.OperableWindow, Metrics: m,
		Console: web.Handler(web.Files()), TemporalUIURL: temporalUI,
		Sealer: sealer, ConsoleURL: cfg.ConsoleLink(), HTTPAllow: cfg.HTTPAllow}).Handler()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", addr, err)
	}
	srv := api.HTTPServer(h)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve API: %w", err)
	case <-ctx.Done():
	}
	fmt.Println("baton: shutting down...")
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shut down API: %w", err)
	}
	return nil
}

func apiCmd() *cobra.Command {
	var httpAddr string
	cmd := &cobra.Command{
		Use:   "api",
		Short: "Serve the REST API against an external Temporal and MySQL",
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig()
			if err != nil {
				return err
			}
			override(cmd, "http-addr", &cfg.HTTPAddr, httpAddr)
			if err := cfg.Validate(config.RoleAPI); err != nil {
				return err
			}
			ctx := cmd.Context()
			log := newLogger(cfg.LogLevel)
			store, err := models.Open(ctx, cfg.DBDSN)
			if err != nil {
				return err
			}
			defer func() { _ = store.Close() }()
			if cfg.AdminToken != "" {
				if _, err := store.EnsureToken(ctx, "admin", "admin", cfg.AdminToken); err != nil {
					return err
				}
			}
			m, err := metrics.New()
			if err != nil {
				return err
			}
			c, err := engine.Dial(ctx, cfg.TemporalHostPort(), cfg.TemporalNamespace, log, time.Minute, engine.WithMetrics(m))
			if err != nil {
				return err
			}
			defer c.Close()
			go store.KeepFor(ctx, cfg.Retention, time.Hour, log)
			go newReconciler(cfg, store, c, log, m).Run(ctx)
			log.Info("baton api listening", "addr", cfg.HTTPAddr, "temporal", cfg.TemporalHostPort())
			return serveAPI(ctx, cfg, store, c, log, m, "")
		},
	}
	cmd.Flags().StringVar(&httpAddr, "http-addr", "", "listen address (BATON_HTTP_ADDR)")
	return cmd
}

func workerCmd() *cobra.Command {
	var group, id, metricsAddr string
	var concurrency int
	cmd := &cobra.Command{
		Use:   "worker",
		Short: "Run task instances of a worker group (and interpret flows)",
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig()
			if err != nil {
				return err
			}
			override(cmd, "group", &cfg.Group, group)
			override(cmd, "id", &cfg.WorkerID, id)
			override(cmd, "metrics-addr", &cfg.MetricsAddr, metricsAddr)
			if cmd.Flags().Changed("concurrency") {
				cfg.Concurrency = concurrency
			}
			if err := cfg.Validate(config.RoleWorker); err != nil {
				return err
			}
			ctx := cmd.Context()
			log := newLogger(cfg.LogLevel)
			store, err := models.Open(ctx, cfg.DBDSN)
			if err != nil {
				return err
			}
			defer func() { _ = store.Close() }()
			m, err := metrics.New()
			if err != nil {
				return err
			}
			if cfg.MetricsAddr != "" {
				addr, err := metrics.Start(ctx, cfg.MetricsAddr, m)
				if err != nil {
					return err
				}
				log.Info("baton worker metrics", "addr", addr)
			}
			c, err := engine.Dial(ctx, cfg.TemporalHostPort(), cfg.TemporalNamespace, log, time.Minute, engine.WithMetrics(m))
			if err != nil {
				return err
			}
			defer c.Close()
			iso, _, err := taskIsolation(cfg, log)
			if err != nil {
				return err
			}
			sealer, err := secretSealer(cfg)
			if err != nil {
				return err
			}
			w, err := engine.StartWorker(ctx, c, store, engine.WorkerOptions{
				Group: cfg.Group, WorkerID: cfg.WorkerID, Concurrency: cfg.Concurrency, Logger: log,
				WorkRoot: cfg.TaskWorkRoot(), Isolation: iso, HTTPAllow: cfg.HTTPAllow, Metrics: m,
				ConsoleURL: cfg.ConsoleLink(), Sealer: sealer,
			})
			if err != nil {
				return err
			}
			log.Info("baton worker running", "group", cfg.Group, "id", cfg.WorkerID, "concurrency", cfg.Concurrency,
				"http_allow", cfg.HTTPAllow)
			<-ctx.Done()
			log.Info("baton worker stopping")
			w.Stop()
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&group, "group", "", "worker group (BATON_WORKER_GROUP, default \"default\")")
	f.StringVar(&id, "id", "", "worker id, unique in the group (BATON_WORKER_ID, default host-pid)")
	f.IntVar(&concurrency, "concurrency", 0, "task instances run at once (BATON_WORKER_CONCURRENCY, default 16)")
	f.StringVar(&metricsAddr, "metrics-addr", "", "serve Prometheus /metrics on this host:port (BATON_METRICS_ADDR; default none)")
	return cmd
}

func migrateCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "migrate",
		Short: "Create or update the mirror's tables and indexes, then exit",
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig()
			if err != nil {
				return err
			}
			if err := cfg.Validate(config.RoleMigrate); err != nil {
				return err
			}
			store, err := models.Open(cmd.Context(), cfg.DBDSN)
			if err != nil {
				return err
			}
			defer func() { _ = store.Close() }()
			if err := store.Migrate(cmd.Context()); err != nil {
				return err
			}
			fmt.Printf("baton migrate: mirror schema is up to date (%s)\n", store.Dialect())
			return nil
		},
	}
}
