package devstack

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v5"
	uiserver "github.com/temporalio/ui-server/v2/server"
	uiconfig "github.com/temporalio/ui-server/v2/server/config"
	uiopts "github.com/temporalio/ui-server/v2/server/server_options"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/server/common/cluster"
	"go.temporal.io/server/common/config"
	"go.temporal.io/server/common/dynamicconfig"
	tlog "go.temporal.io/server/common/log"
	"go.temporal.io/server/common/log/tag"
	"go.temporal.io/server/common/membership/static"
	sqliteplugin "go.temporal.io/server/common/persistence/sql/sqlplugin/sqlite"
	"go.temporal.io/server/common/primitives"
	sqliteschema "go.temporal.io/server/schema/sqlite"
	"go.temporal.io/server/temporal"
)

// Options configures the embedded server.
type Options struct {
	// FrontendAddr is host:port of the gRPC frontend; port 0 picks a free one.
	FrontendAddr string
	// UIAddr is host:port of the Web UI; empty disables the UI.
	UIAddr string
	// DBFile is the SQLite file; empty keeps everything in memory.
	DBFile string
	// Namespace is created if absent.
	Namespace string
	// SearchAttributes are registered on Namespace when it is created.
	SearchAttributes map[string]enumspb.IndexedValueType
	// LogFile receives the server's own logs; empty discards them.
	LogFile string
	// LogLevel is the server's log level (default "warn").
	LogLevel string
	// DynamicConfig overrides server dynamic config keys.
	DynamicConfig map[string]any
}

// Server is a running embedded Temporal server.
type Server struct {
	server       temporal.Server
	ui           *uiserver.Server
	frontendAddr string
	uiAddr       string
}

// Start builds and starts the server; it returns once the frontend serves.
func Start(o Options) (*Server, error) {
	if o.Namespace == "" {
		o.Namespace = "default"
	}
	if o.FrontendAddr == "" {
		o.FrontendAddr = "127.0.0.1:0"
	}
	host, port, err := splitAddr(o.FrontendAddr)
	if err != nil {
		return nil, fmt.Errorf("devstack: frontend address: %w", err)
	}
	if port == 0 {
		if port, err = FreePort(host); err != nil {
			return nil, err
		}
	}
	// Fail early and clearly when the port is taken (e.g. a second `baton dev`).
	if err := portFree(host, port); err != nil {
		return nil, fmt.Errorf("devstack: Temporal frontend %s:%d: %w", host, port, err)
	}
	conf, err := buildConfig(o, host, port)
	if err != nil {
		return nil, err
	}
	// Quiet by default, but a Fatal is always said: the server's Fatal does
	// not exit under a no-op logger, and the panic that follows names nothing.
	var serverLogger tlog.Logger = fatalToStderr{tlog.NewNoopLogger()}
	if o.LogFile != "" {
		level := o.LogLevel
		if level == "" {
			level = "warn"
		}
		serverLogger = tlog.NewZapLogger(tlog.BuildZapLogger(tlog.Config{Level: level, OutputFile: o.LogFile, Format: "json"}))
	}
	dyn := dynamicconfig.StaticClient{
		dynamicconfig.FrontendMaxNamespaceVisibilityRPSPerInstance.Key(): 200,
		// Baton's runs and schedules are driven by one local process: keep
		// the namespace cache and visibility fast to reflect changes.
		dynamicconfig.ForceSearchAttributesCacheRefreshOnRead.Key(): true,
		// The events cache is sized per history shard (512 KiB by default)
		// and this server has one shard, where a production cluster has
		// hundreds. Starting an activity reads its scheduled event; once a
		// fan-out's events outgrow the cache, every start deserialises a
		// whole history batch from SQLite and a 1,000-way fan-out slows as
		// it goes (measured in docs/benchmarks.md). 64 MiB is still far
		// below what a 512-shard cluster caches.
		dynamicconfig.EventsCacheMaxSizeBytes.Key(): 64 << 20,
		// Every hop of a flow (task done → workflow task → next task) goes
		// through the history transfer queue twice, and its reader is
		// limited to 20 reads a second per shard: 50 ms per leg, ≈ 97 ms per
		// hop here. Lifted, a hop takes ≈ 7 ms. The limit only paces reads
		// that new tasks trigger; idle CPU of `baton dev` was the same with
		// it lifted (0.6–0.8 % of a core either way, measured over 40 s).
		dynamicconfig.TransferProcessorMaxPollRPS.Key(): 1000,
	}
	for k, v := range o.DynamicConfig {
		dyn[dynamicconfig.MakeKey(k)] = v
	}
	hostPort := func(p int) static.Hosts { return static.SingleLocalHost(net.JoinHostPort(host, strconv.Itoa(p))) }
	srv, err := temporal.NewServer(
		temporal.WithConfig(conf),
		temporal.ForServices(temporal.DefaultServices),
		temporal.WithStaticHosts(map[primitives.ServiceName]static.Hosts{
			primitives.FrontendService: hostPort(conf.Services["frontend"].RPC.GRPCPort),
			primitives.HistoryService:  hostPort(conf.Services["history"].RPC.GRPCPort),
			primitives.MatchingService: hostPort(conf.Services["matching"].RPC.GRPCPort),
			primitives.WorkerService:   hostPort(conf.Services["worker"].RPC.GRPCPort),
		}),
		temporal.WithLogger(serverLogger),
		temporal.WithDynamicConfigClient(dyn),
	)
	if err != nil {
		return nil, fmt.Errorf("devstack: build server: %w", err)
	}
	s := &Server{server: srv, frontendAddr: net.JoinHostPort(host, strconv.Itoa(port))}
	if err := srv.Start(); err != nil {
		return nil, fmt.Errorf("devstack: start server: %w", err)
	}
	if o.UIAddr != "" {
		if err := s.startUI(o.UIAddr); err != nil {
			_ = srv.Stop() // the UI's error is the one to report
			return nil, err
		}
	}
	return s, nil
}

func (s *Server) startUI(addr string) error {
	host, port, err := splitAddr(addr)
	if err != nil {
		return fmt.Errorf("devstack: UI address: %w", err)
	}
	if err := portFree(host, port); err != nil {
		return fmt.Errorf("devstack: Temporal UI %s: %w", addr, err)
	}
	s.ui = uiserver.NewServer(uiopts.WithConfigProvider(&uiconfig.Config{
		Host:                host,
		Port:                port,
		TemporalGRPCAddress: s.frontendAddr,
		EnableUI:            true,
		HideLogs:            true,
		DisableNewsFetch:    true, // no outside network here; don't try
		CORS:                uiconfig.CORS{CookieInsecure: true},
	}))
	s.uiAddr = net.JoinHostPort(host, strconv.Itoa(port))
	errc := make(chan error, 1)
	go func() { errc <- s.ui.Start() }()
	// The UI's Start blocks; wait until it accepts connections or fails.
	_, err = backoff.Retry(context.Background(), func() (struct{}, error) {
		select {
		case err := <-errc:
			return struct{}{}, backoff.Permanent(fmt.Errorf("devstack: Temporal UI: %w", err))
		default:
		}
		c, err := net.DialTimeout("tcp", s.uiAddr, 200*time.Millisecond)
		if err != nil {
			return struct{}{}, err
		}
		_ = c.Close()
		return struct{}{}, nil
	}, backoff.WithBackOff(backoff.NewConstantBackOff(50*time.Millisecond)), backoff.WithMaxElapsedTime(15*time.Second))
	if err != nil {
		return fmt.Errorf("devstack: Temporal UI did not start within 15s: %w", err)
	}
	return nil
}

// FrontendAddr is the gRPC address clients dial.
func (s *Server) FrontendAddr() string { return s.frontendAddr }

// UIAddr is the Web UI address, or "" when disabled.
func (s *Server) UIAddr() string { return s.uiAddr }

// Stop stops the UI and the server. Errors are only logged by the server
// itself: at shutdown there is nobody left to act on them.
func (s *Server) Stop() {
	if s.ui != nil {
		s.ui.Stop()
	}
	_ = s.server.Stop()
}

func buildConfig(o Options, host string, port int) (*config.Config, error) {
	httpPort, err := FreePort(host)
	if err != nil {
		return nil, err
	}
	sqlConf := config.SQL{PluginName: sqliteplugin.PluginName}
	if o.DBFile == "" {
		sqlConf.ConnectAttributes = map[string]string{"mode": "memory", "cache": "shared"}
		// A unique name keeps two in-memory servers in one process apart.
		sqlConf.DatabaseName = fmt.Sprintf("baton-mem-%d-%d", os.Getpid(), time.Now().UnixNano())
	} else {
		sqlConf.ConnectAttributes = map[string]string{"mode": "rwc", "_journal_mode": "WAL", "_busy_timeout": "10000"}
		sqlConf.DatabaseName = o.DBFile
		if err := os.MkdirAll(filepath.Dir(o.DBFile), 0o700); err != nil {
			return nil, fmt.Errorf("devstack: data dir: %w", err)
		}
	}
	// The sqlite plugin creates the schema of an in-memory database itself;
	// a file needs it once, when new.
	if _, err := os.Stat(o.DBFile); o.DBFile != "" && errors.Is(err, os.ErrNotExist) {
		if err := sqliteschema.SetupSchema(&sqlConf); err != nil {
			return nil, fmt.Errorf("devstack: set up schema: %w", err)
		}
	}
	const clusterName = "active"
	ns, err := sqliteschema.NewNamespaceConfig(clusterName, o.Namespace, false, o.SearchAttributes)
	if err != nil {
		return nil, fmt.Errorf("devstack: namespace config: %w", err)
	}
	if err := sqliteschema.CreateNamespaces(&sqlConf, ns); err != nil {
		return nil, fmt.Errorf("devstack: create namespace: %w", err)
	}

	var conf config.Config
	conf.Global.Membership.MaxJoinDuration = 30 * time.Second
	conf.Global.Membership.BroadcastAddress = host
	conf.Persistence.DefaultStore = "sqlite"
	conf.Persistence.VisibilityStore = "sqlite"
	conf.Persistence.NumHistoryShards = 1
	conf.Persistence.DataStores = map[string]config.DataStore{"sqlite": {SQL: &sqlConf}}
	frontendHostPort := net.JoinHostPort(host, strconv.Itoa(port))
	conf.ClusterMetadata = &cluster.Config{
		FailoverVersionIncrement: 10,
		MasterClusterName:        clusterName,
		CurrentClusterName:       clusterName,
		ClusterInformation: map[string]cluster.ClusterInformation{clusterName: {
			Enabled:                true,
			InitialFailoverVersion: 1,
			RPCAddress:             frontendHostPort,
			HTTPAddress:            net.JoinHostPort(host, strconv.Itoa(httpPort)),
			ClusterID:              "baton-dev",
		}},
	}
	conf.DCRedirectionPolicy.Policy = "noop"
	conf.Services = map[string]config.Service{}
	for _, name := range []string{"frontend", "history", "matching", "worker"} {
		var svc config.Service
		svc.RPC.BindOnIP = host
		if name == "frontend" {
			svc.RPC.GRPCPort = port
			svc.RPC.HTTPPort = httpPort
		} else if svc.RPC.GRPCPort, err = FreePort(host); err != nil {
			return nil, err
		}
		conf.Services[name] = svc
	}
	conf.Archival.History.State = "disabled"
	conf.Archival.Visibility.State = "disabled"
	conf.NamespaceDefaults.Archival.History.State = "disabled"
	conf.NamespaceDefaults.Archival.Visibility.State = "disabled"
	conf.PublicClient.HostPort = frontendHostPort
	return &conf, nil
}

// FreePort asks the kernel for a free TCP port on host and keeps the kernel
// from handing it out again for a while.
//
// A port that is merely listened on and closed goes back to the ephemeral
// pool at once; under load (parallel test binaries, many gRPC and database
// connections) an outgoing connection takes it before the Temporal service
// binds it, and the service dies with a nil listener. So the port is
// connected to and the accepted side closed first: that side's socket sits in
// TIME_WAIT holding the port's bind bucket, which connect() skips when it
// picks ephemeral ports, while Go's listeners (SO_REUSEADDR) can still bind
// it. Ports handed out in this process are also never handed out twice.
func FreePort(host string) (int, error) {
	for range 20 {
		port, err := reservePort(host)
		if err != nil {
			return 0, err
		}
		handedMu.Lock()
		seen := handed[port]
		handed[port] = true
		handedMu.Unlock()
		if !seen {
			return port, nil
		}
	}
	return 0, errors.New("devstack: find free port: kernel keeps returning ports already handed out")
}

var (
	handedMu sync.Mutex
	handed   = map[int]bool{}
)

func reservePort(host string) (int, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return 0, fmt.Errorf("devstack: find free port: %w", err)
	}
	defer func() { _ = l.Close() }()
	port := l.Addr().(*net.TCPAddr).Port
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			c = nil
		}
		accepted <- c
	}()
	client, err := net.DialTimeout("tcp", l.Addr().String(), 2*time.Second)
	if err != nil {
		return 0, fmt.Errorf("devstack: find free port: %w", err)
	}
	server := <-accepted
	if server != nil {
		_ = server.Close() // first to close: this side enters TIME_WAIT
		// Wait for the client to see the FIN so it closes second.
		_ = client.SetReadDeadline(time.Now().Add(time.Second))
		_, _ = client.Read(make([]byte, 1))
	}
	_ = client.Close()
	return port, nil
}

func portFree(host string, port int) error {
	l, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(port)))
	if err != nil {
		return fmt.Errorf("address in use (is another baton dev running?): %w", err)
	}
	return l.Close()
}

func splitAddr(addr string) (string, int, error) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.Atoi(p)
	if err != nil {
		return "", 0, fmt.Errorf("port %q: %w", p, err)
	}
	if host == "" {
		host = "127.0.0.1"
	}
	return host, port, nil
}

// fatalToStderr keeps a logger's output but writes Fatal messages to stderr.
type fatalToStderr struct{ tlog.Logger }

func (l fatalToStderr) Fatal(msg string, tags ...tag.Tag) {
	var b strings.Builder
	b.WriteString("devstack: Temporal server fatal: " + msg)
	for _, t := range tags {
		fmt.Fprintf(&b, " %s=%v", t.Key(), t.Value())
	}
	fmt.Fprintln(os.Stderr, b.String())
	l.Logger.Fatal(msg, tags...)
}
