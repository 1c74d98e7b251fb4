// Command server runs the HTTP API of the source documents (Circularo's
// login, session and API tokens; Circonus's account and user tokens,
// privileges and application approval) on the apitoken library, over one
// bbolt file, or over PostgreSQL when several instances share the data.
//
//	go run ./examples/server
//	go run ./examples/server -store postgres://app@db/app -key-file /etc/app/apitoken.key
//
// The token management page (package tokenpage) is served at /, the API
// under /api/v1.
//
// With -secret-scanning-keys FILE (GitHub's public-keys JSON document),
// POST /api/v1/secret-scanning receives signed leak alerts and revokes the
// reported tokens. With -metrics stdout (or otlp) the Manager's metrics are
// exported through OpenTelemetry (module otelapitoken).
//
// Behind reverse proxies, -trusted-proxies 10.0.0.0/8,fd00::/8 makes login
// throttling key on the client address from X-Forwarded-For (read from the
// right, only when the connection comes from one of those prefixes).
//
// On first start it creates an admin user (-admin-name; the password comes
// from APITOKEN_ADMIN_PASSWORD or is generated and printed once), a hash key
// file beside the database, and a deterministic set of demo documents for
// /api/v1/search.
package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/apitoken/apitoken"
	tokenbolt "github.com/apitoken/apitoken/bolt"
	"github.com/apitoken/apitoken/login"
	"github.com/apitoken/apitoken/pgstore"
)

// config is everything the server takes from its command line and
// environment.
// sessionIdleTimeout ends a session unused this long; the login answer
// tells clients (settings.idleTimeoutSeconds).
const sessionIdleTimeout = 30 * time.Minute

type config struct {
	addr          string
	dbPath        string
	storeURL      string
	keyPath       string
	adminName     string
	adminPassword string
	account       string
	flush         time.Duration
	maxBody       int64
	// trustedProxies are the reverse proxies whose X-Forwarded-For is
	// believed for the client address that login throttling uses.
	trustedProxies []netip.Prefix
	// sessions are the login and session limits; the zero value is the
	// library's defaults (tests make them small).
	sessions login.Options
	// scanKeysPath is the secret scanner's public-keys document
	// (-secret-scanning-keys); empty leaves the route unconfigured.
	scanKeysPath string
	// metrics names the metrics exporter (-metrics: stdout, otlp or
	// empty for none), exporting every metricsInterval.
	metrics         string
	metricsInterval time.Duration
	// maxExpiry, when set, is the longest lifetime of a new API token
	// (-max-expiry), and requireExpiry makes callers choose an expiry
	// (-require-expiry); they apply to every account.
	maxExpiry     time.Duration
	requireExpiry bool
}

func main() {
	var c config
	flag.StringVar(&c.addr, "addr", "127.0.0.1:8080", "listen address")
	flag.StringVar(&c.dbPath, "db", "./apitoken.db", "bbolt database file")
	flag.StringVar(&c.storeURL, "store", "", "postgres://... to keep tokens in PostgreSQL instead of the -db file (every instance needs the same -key-file)")
	flag.StringVar(&c.keyPath, "key-file", "", "hash key file (default: the database path + .key, or ./apitoken.key with -store; created if missing)")
	flag.StringVar(&c.adminName, "admin-name", "admin@example.com", "name of the admin user created on first start")
	flag.StringVar(&c.account, "account", "default", "account (tenant) of the first admin")
	flag.DurationVar(&c.flush, "flush", 30*time.Second, "how often last-used data is written")
	flag.Int64Var(&c.maxBody, "max-body", 64<<10, "largest accepted request body in bytes")
	flag.Func("trusted-proxies", "comma-separated CIDRs of reverse proxies whose X-Forwarded-For gives the client address for login throttling (default none: the connection's address)", func(v string) error {
		ps, err := parseCIDRs(v)
		c.trustedProxies = append(c.trustedProxies, ps...)
		return err
	})
	flag.StringVar(&c.scanKeysPath, "secret-scanning-keys", "", "file of trusted secret-scanning signing keys, in GitHub's public-keys JSON format; enables POST /api/v1/secret-scanning")
	flag.StringVar(&c.metrics, "metrics", "", "export OpenTelemetry metrics: stdout, or otlp (OTLP over HTTP, set by the OTEL_EXPORTER_OTLP_* variables); default none")
	flag.DurationVar(&c.metricsInterval, "metrics-interval", time.Minute, "how often metrics are exported")
	flag.Func("max-expiry", "longest lifetime of a new API token, in days (90d) or hours (48h); default 10 years", func(v string) error {
		d, err := parseWindow(v)
		c.maxExpiry = d
		return err
	})
	flag.BoolVar(&c.requireExpiry, "require-expiry", false, "refuse to create an API token without an expiry")
	flag.Parse()
	c.adminPassword = os.Getenv("APITOKEN_ADMIN_PASSWORD")
	if c.keyPath == "" {
		c.keyPath = c.dbPath + ".key"
		if c.storeURL != "" {
			c.keyPath = "./apitoken.key"
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, c, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "server:", err)
		os.Exit(1)
	}
}

// run serves until ctx ends, then shuts down gracefully: in-flight requests
// finish, last-used data is flushed and the database is closed.
func run(ctx context.Context, c config, stdout, stderr io.Writer) error {
	logger := slog.New(slog.NewTextHandler(stderr, nil))
	app, err := open(ctx, c, stdout, logger)
	if err != nil {
		return err
	}
	defer app.close()
	ln, err := net.Listen("tcp", c.addr)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           app.routes(),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	where := "database " + c.dbPath
	if c.storeURL != "" {
		where = "PostgreSQL"
	}
	fmt.Fprintf(stdout, "token page: http://%s/\nAPI:        http://%s/api/v1 (%s)\n", ln.Addr(), ln.Addr(), where)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return err
	}
	fmt.Fprintln(stdout, "shut down cleanly")
	return nil
}

// open opens the store and the manager and makes sure the first admin and
// the hash key exist.
func open(ctx context.Context, c config, stdout io.Writer, logger *slog.Logger) (*server, error) {
	key, err := apitoken.LoadOrCreateHashKey(c.keyPath)
	if err != nil {
		return nil, err
	}
	store, err := openStore(ctx, c)
	if err != nil {
		return nil, err
	}
	opts := &apitoken.Options{
		HashKey: key, FlushInterval: c.flush, Logger: logger,
		SessionIdleTimeout: sessionIdleTimeout, Scopes: scopesByRole,
	}
	if c.maxExpiry > 0 || c.requireExpiry {
		opts.ExpiryPolicy = func(string) (time.Duration, bool) { return c.maxExpiry, c.requireExpiry }
	}
	met, stopMetrics, err := openMetrics(ctx, c.metrics, c.metricsInterval, stdout)
	if err != nil {
		store.Close()
		return nil, err
	}
	if met != nil {
		met.Install(opts)
	}
	m, err := apitoken.New(store, opts)
	if err != nil {
		if stopMetrics != nil {
			stopMetrics(ctx)
		}
		store.Close()
		return nil, err
	}
	logins, err := login.New(m, store, &c.sessions)
	if err != nil {
		if stopMetrics != nil {
			stopMetrics(ctx)
		}
		m.Close()
		store.Close()
		return nil, err
	}
	s := newServer(m, logins, store, logger, c.maxBody)
	s.trusted = c.trustedProxies
	s.guard = newGuard(m, c.trustedProxies)
	s.stopMetrics = stopMetrics
	if s.scan, err = openSecretScanning(m, c.scanKeysPath, c.maxBody); err != nil {
		s.close()
		return nil, err
	}
	if err := s.bootstrap(ctx, c, stdout); err != nil {
		s.close()
		return nil, err
	}
	return s, nil
}

// parseCIDRs parses a comma-separated list of CIDR prefixes ("10.0.0.0/8,
// fd00::/8"); a bare address means that one address.
func parseCIDRs(v string) ([]netip.Prefix, error) {
	var ps []netip.Prefix
	for _, f := range strings.Split(v, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if !strings.Contains(f, "/") {
			a, err := netip.ParseAddr(f)
			if err != nil {
				return nil, fmt.Errorf("trusted proxy %q: not a CIDR prefix or address", f)
			}
			a = a.Unmap()
			ps = append(ps, netip.PrefixFrom(a, a.BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(f)
		if err != nil {
			return nil, fmt.Errorf("trusted proxy %q: not a CIDR prefix or address", f)
		}
		ps = append(ps, p.Masked())
	}
	return ps, nil
}

// openStore opens the bbolt file, or PostgreSQL when -store names it.
func openStore(ctx context.Context, c config) (apitoken.Store, error) {
	switch {
	case c.storeURL == "":
		return tokenbolt.Open(c.dbPath, nil)
	case strings.HasPrefix(c.storeURL, "postgres://"), strings.HasPrefix(c.storeURL, "postgresql://"):
		return pgstore.Open(ctx, c.storeURL, nil)
	}
	return nil, errors.New("-store must be a postgres:// URL (leave it out for the bbolt file)")
}

// bootstrap creates the first admin if the store has no user of that name.
func (s *server) bootstrap(ctx context.Context, c config, stdout io.Writer) error {
	if _, err := s.store.UserByName(ctx, c.adminName); err == nil {
		if c.adminPassword != "" {
			fmt.Fprintf(stdout, "admin %s exists already: APITOKEN_ADMIN_PASSWORD was not used (it only sets the first password)\n", c.adminName)
		}
		return nil
	} else if !errors.Is(err, apitoken.ErrNotFound) {
		return err
	}
	password, generated := c.adminPassword, false
	if password == "" {
		password, generated = rand.Text(), true // 26 base32 characters, 130 random bits
	}
	_, err := s.logins.AddUser(ctx, login.NewUser{Account: c.account, Name: c.adminName, Password: password, Role: apitoken.Admin})
	if errors.Is(err, apitoken.ErrDuplicate) {
		return nil // another instance on the same database created it first
	}
	if err != nil {
		return fmt.Errorf("creating the first admin: %w", err)
	}
	if generated {
		fmt.Fprintf(stdout, "created admin %s with password %s (shown once; set APITOKEN_ADMIN_PASSWORD to choose it)\n", c.adminName, password)
	} else {
		fmt.Fprintf(stdout, "created admin %s with the password from APITOKEN_ADMIN_PASSWORD\n", c.adminName)
	}
	return nil
}
