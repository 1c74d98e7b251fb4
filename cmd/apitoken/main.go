// Command apitoken administers an apitoken store without writing Go:
// migrate it to another store, back up a bolt file, check its integrity,
// show statistics, purge ended records, and revoke a token.
//
//	apitoken migrate -from bolt:apitoken.db -to postgres://app@db/app -state migrate.state
//	apitoken backup  -store bolt:apitoken.db -out backup.db
//	apitoken check   -store postgres://app@db/app
//	apitoken stats   -store bolt:apitoken.db -json
//	apitoken purge   -store bolt:apitoken.db -retention 720h
//	apitoken revoke  -store bolt:apitoken.db -id 0Vcd9N4aQUzPZul6
//	apitoken revoke  -store bolt:apitoken.db -secret-stdin -key-file apitoken.db.key < leaked.txt
//
// A store address is bolt:PATH or a postgres:// URL. A bolt file is
// locked by the process that has it open: stop the host first (or back the
// file up from inside the host with (*bolt.Store).Backup). Results go to
// standard output as text, or as JSON with -json; progress, and the
// event a revocation reports (token.revoked), go to standard error. A secret is read only from standard input, never from an
// argument (arguments land in shell history and process listings), and the
// hash key only from a file.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/apitoken/apitoken"
	tokenbolt "github.com/apitoken/apitoken/bolt"
	"github.com/apitoken/apitoken/pgstore"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// Exit codes.
const (
	exitOK    = 0
	exitFail  = 1
	exitUsage = 2
)

type command struct {
	name, summary string
	run           func(ctx context.Context, e *env, args []string) error
}

var commands = []command{
	{"migrate", "copy every user and token from one store to another", runMigrate},
	{"backup", "copy a bolt file to a new file, consistently", runBackup},
	{"check", "check a store's integrity", runCheck},
	{"stats", "count records by kind and state, past retention, oldest use", runStats},
	{"purge", "remove ended records past their retention", runPurge},
	{"revoke", "revoke a token by ID, or by its secret read from standard input", runRevoke},
}

// env is what a command reads and writes besides its arguments.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	json           bool
}

// errUsage marks errors in the command line; they exit with exitUsage.
var errUsage = errors.New("usage")

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "-help" || args[0] == "--help" || args[0] == "help" {
		usage(stderr)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	for _, c := range commands {
		if c.name != args[0] {
			continue
		}
		e := &env{stdin: stdin, stdout: stdout, stderr: stderr}
		err := c.run(ctx, e, args[1:])
		switch {
		case err == nil:
			return exitOK
		case errors.Is(err, flag.ErrHelp):
			return exitOK
		case errors.Is(err, errUsage):
			fmt.Fprintf(stderr, "apitoken %s: %v\n", c.name, strings.TrimPrefix(err.Error(), "usage: "))
			return exitUsage
		}
		fmt.Fprintf(stderr, "apitoken %s: %v\n", c.name, err)
		return exitFail
	}
	fmt.Fprintf(stderr, "apitoken: unknown command %q\n", args[0])
	usage(stderr)
	return exitUsage
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: apitoken COMMAND [flags]   (apitoken COMMAND -h for its flags)")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-8s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "Stores: bolt:PATH or postgres://user@host/db. Add -json for JSON output.")
}

// flags returns a FlagSet for a command, with -json bound to e.
func (e *env) flags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet("apitoken "+name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.BoolVar(&e.json, "json", false, "print the result as JSON")
	return fs
}

// parse parses args, refusing positional arguments (a secret typed there
// would land in shell history).
func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected argument (this command takes flags only; a secret is read from standard input)", errUsage)
	}
	return nil
}

// output prints v as JSON, or its text lines.
func (e *env) output(v any, text func(w io.Writer)) error {
	if e.json {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	text(e.stdout)
	return nil
}

// Store opening.

// openMode says what a command does with a store.
type openMode int

const (
	readOnly  openMode = iota // must exist; a bolt file is opened read-only
	readWrite                 // must exist
	create                    // may be created (a migration's destination)
)

// lockWait is how long opening a bolt file waits for another process's
// lock.
var lockWait = time.Second

// errBadAddress explains what a store address looks like; the address
// itself is not repeated, as a PostgreSQL URL may hold a password.
var errBadAddress = errors.New("a store address is bolt:PATH or a postgres:// URL")

// openStore opens the store at addr.
func openStore(ctx context.Context, addr string, mode openMode) (apitoken.Store, error) {
	switch {
	case strings.HasPrefix(addr, "bolt:"):
		path := strings.TrimPrefix(addr, "bolt:")
		if path == "" {
			return nil, fmt.Errorf("%w: bolt: needs a path", errBadAddress)
		}
		if mode != create {
			if _, err := os.Stat(path); err != nil {
				return nil, fmt.Errorf("no bolt file at %s (nothing was created): %w", path, err)
			}
		}
		s, err := tokenbolt.Open(path, &tokenbolt.Options{ReadOnly: mode == readOnly, Timeout: lockWait})
		if errors.Is(err, tokenbolt.ErrLocked) {
			return nil, fmt.Errorf("%w: stop the process that has it open (a running host), or back it up from inside that host with (*bolt.Store).Backup; nothing was written", err)
		}
		return s, err
	case strings.HasPrefix(addr, "postgres://"), strings.HasPrefix(addr, "postgresql://"):
		return pgstore.Open(ctx, addr, nil)
	}
	return nil, fmt.Errorf("%w: %w", errUsage, errBadAddress)
}

// hashKeyLen is the length of the hash key files the example server and
// apitoken.LoadOrCreateHashKey write.
const hashKeyLen = 32

// readKey reads the hash key: exactly hashKeyLen raw bytes, as
// the example server writes it.
func readKey(path string) ([]byte, error) {
	if path == "" {
		return nil, fmt.Errorf("%w: -key-file is required (the hash key is read from a file, never given as an argument)", errUsage)
	}
	key, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading the hash key: %w", err)
	}
	if len(key) != hashKeyLen {
		return nil, fmt.Errorf("hash key file %s must hold exactly %d raw bytes, but has %d", path, hashKeyLen, len(key))
	}
	return key, nil
}

// Progress on standard error.

// progress reports a running count: on a terminal one line rewritten in
// place, elsewhere a plain line every few seconds.
type progress struct {
	w     io.Writer
	tty   bool
	label string
	last  time.Time
	shown bool
}

func newProgress(w io.Writer, label string) *progress {
	p := &progress{w: w, label: label}
	if f, ok := w.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			p.tty = true
		}
	}
	return p
}

// update shows count n of what, if enough time has passed.
func (p *progress) update(what string, n int) {
	every := 5 * time.Second
	if p.tty {
		every = 100 * time.Millisecond
	}
	if now := time.Now(); now.Sub(p.last) >= every {
		p.last = now
		p.print(what, n)
	}
}

func (p *progress) print(what string, n int) {
	if p.tty {
		fmt.Fprintf(p.w, "\r\033[K%s: %d %s", p.label, n, what)
	} else {
		fmt.Fprintf(p.w, "%s: %d %s\n", p.label, n, what)
	}
	p.shown = true
}

// done shows the final count.
func (p *progress) done(what string, n int) {
	p.print(what, n)
	if p.tty {
		fmt.Fprintln(p.w)
	}
}

// sortedKeys returns m's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
