package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/apitoken/apitoken"
	tokenbolt "github.com/apitoken/apitoken/bolt"
	"github.com/apitoken/apitoken/migrate"
)

// migrate

// migrateState is the checkpoint file of a migration: the cursor after the
// last committed batch, and a fingerprint of the two addresses (not the
// addresses, which may hold a password) so that a state file is never
// applied to another pair of stores.
type migrateState struct {
	Stores string         `json:"stores"`
	Cursor migrate.Cursor `json:"cursor"`
}

func runMigrate(ctx context.Context, e *env, args []string) error {
	fs := e.flags("migrate")
	from := fs.String("from", "", "source store address (required)")
	to := fs.String("to", "", "destination store address (required)")
	statePath := fs.String("state", "", "checkpoint file: written after every batch, read to resume, removed when done")
	batch := fs.Int("batch", migrate.DefaultBatch, "records per batch")
	sample := fs.Int("sample", migrate.DefaultSample, "users and tokens compared at the end")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *from == "" || *to == "" {
		return fmt.Errorf("%w: -from and -to are required", errUsage)
	}
	if *from == *to {
		return fmt.Errorf("%w: -from and -to name the same store", errUsage)
	}
	sum := sha256.Sum256([]byte(*from + "\x00" + *to))
	fingerprint := hex.EncodeToString(sum[:8])
	var resume migrate.Cursor
	if *statePath != "" {
		b, err := os.ReadFile(*statePath)
		switch {
		case errors.Is(err, os.ErrNotExist):
		case err != nil:
			return err
		default:
			if resume, err = parseState(b, fingerprint); err != nil {
				return fmt.Errorf("state file %s: %w", *statePath, err)
			}
			fmt.Fprintf(e.stderr, "resuming after %d users and %d tokens (%s %q)\n",
				resume.Users.Copied+resume.Users.Unchanged, resume.Tokens.Copied+resume.Tokens.Unchanged, resume.Phase, resume.After)
		}
	}
	src, err := openStore(ctx, *from, readOnly)
	if err != nil {
		return fmt.Errorf("source: %w", err)
	}
	defer src.Close()
	dst, err := openStore(ctx, *to, create)
	if err != nil {
		return fmt.Errorf("destination: %w", err)
	}
	defer dst.Close()
	p := newProgress(e.stderr, "migrate")
	rep, err := migrate.Run(ctx, src, dst, &migrate.Options{Batch: *batch, Sample: *sample, Resume: resume,
		Checkpoint: func(c migrate.Cursor) error {
			if *statePath != "" {
				if err := writeFileAtomic(*statePath, migrateState{Stores: fingerprint, Cursor: c}); err != nil {
					return fmt.Errorf("writing the state file: %w", err)
				}
			}
			if c.Phase == migrate.PhaseUsers {
				p.update("users", c.Users.Copied+c.Users.Unchanged)
			} else {
				p.update("tokens", c.Tokens.Copied+c.Tokens.Unchanged)
			}
			return nil
		}})
	if err != nil {
		return err
	}
	p.done("tokens", rep.Tokens.Copied+rep.Tokens.Unchanged)
	if *statePath != "" {
		if err := os.Remove(*statePath); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	return e.output(rep, func(w io.Writer) {
		fmt.Fprintf(w, "users:  %d copied, %d already there\n", rep.Users.Copied, rep.Users.Unchanged)
		fmt.Fprintf(w, "tokens: %d copied, %d already there\n", rep.Tokens.Copied, rep.Tokens.Unchanged)
		fmt.Fprintf(w, "versions kept: %v\n", rep.VersionsKept)
		if c := rep.Check; c != nil {
			fmt.Fprintf(w, "check: ok (source %d users, %d tokens; destination %d users, %d tokens; %d users and %d tokens compared)\n",
				c.SourceUsers, c.SourceTokens, c.DestUsers, c.DestTokens, c.SampledUsers, c.SampledTokens)
		}
	})
}

// parseState reads a state file written for the stores with fingerprint.
func parseState(b []byte, fingerprint string) (migrate.Cursor, error) {
	var st migrateState
	if err := json.Unmarshal(b, &st); err != nil {
		return migrate.Cursor{}, fmt.Errorf("does not parse: %w", err)
	}
	if st.Stores != fingerprint {
		return migrate.Cursor{}, errors.New("belongs to a migration between other stores; remove it or name another")
	}
	switch c := st.Cursor; {
	case c.Phase != migrate.PhaseUsers && c.Phase != migrate.PhaseTokens && c.Phase != migrate.PhaseDone:
		return migrate.Cursor{}, fmt.Errorf("unknown phase %q", c.Phase)
	case c.Users.Copied < 0 || c.Users.Unchanged < 0 || c.Tokens.Copied < 0 || c.Tokens.Unchanged < 0:
		return migrate.Cursor{}, errors.New("negative counts")
	}
	return st.Cursor, nil
}

// writeFileAtomic writes v as JSON to path through a temporary file and
// a rename, synced, mode 0600.
func writeFileAtomic(path string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	_, err = f.Write(append(b, '\n'))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
	}
	return err
}

// backup

func runBackup(ctx context.Context, e *env, args []string) error {
	fs := e.flags("backup")
	addr := fs.String("store", "", "bolt:PATH of the file to copy (required)")
	out := fs.String("out", "", "path of the copy (required; replaced if it exists)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *addr == "" || *out == "" {
		return fmt.Errorf("%w: -store and -out are required", errUsage)
	}
	if !strings.HasPrefix(*addr, "bolt:") {
		if strings.HasPrefix(*addr, "postgres://") || strings.HasPrefix(*addr, "postgresql://") {
			return fmt.Errorf("%w: backup copies bolt files; back up PostgreSQL with pg_dump (see docs/operations.md)", errUsage)
		}
		return fmt.Errorf("%w: %w", errUsage, errBadAddress)
	}
	if same(strings.TrimPrefix(*addr, "bolt:"), *out) {
		return fmt.Errorf("%w: -out is the store's own file", errUsage)
	}
	s, err := openStore(ctx, *addr, readOnly)
	if err != nil {
		return err
	}
	defer s.Close()
	bs := s.(*tokenbolt.Store)
	f, err := os.CreateTemp(filepath.Dir(*out), "."+filepath.Base(*out)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name()) // after the rename, a no-op
	p := newProgress(e.stderr, "backup")
	n, err := bs.Backup(ctx, &countingWriter{w: f, p: p})
	if err == nil {
		err = f.Chmod(0o600)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	p.done("bytes", int(n))
	// The copy is checked before it replaces anything.
	cp, err := tokenbolt.Open(f.Name(), &tokenbolt.Options{ReadOnly: true, Timeout: lockWait})
	if err != nil {
		return fmt.Errorf("the copy does not open: %w", err)
	}
	err = cp.Check(ctx)
	cp.Close()
	if err != nil {
		return fmt.Errorf("the copy fails its check: %w", err)
	}
	if err := os.Rename(f.Name(), *out); err != nil {
		return err
	}
	res := struct {
		Path    string `json:"path"`
		Bytes   int64  `json:"bytes"`
		Checked bool   `json:"checked"`
	}{*out, n, true}
	return e.output(res, func(w io.Writer) {
		fmt.Fprintf(w, "wrote %s: %d bytes, check ok\n", *out, n)
	})
}

// same reports whether two paths name the same file.
func same(a, b string) bool {
	fa, err1 := os.Stat(a)
	fb, err2 := os.Stat(b)
	if err1 == nil && err2 == nil {
		return os.SameFile(fa, fb)
	}
	return filepath.Clean(a) == filepath.Clean(b)
}

type countingWriter struct {
	w io.Writer
	n int
	p *progress
}

func (c *countingWriter) Write(b []byte) (int, error) {
	n, err := c.w.Write(b)
	c.n += n
	c.p.update("bytes", c.n)
	return n, err
}

// check

// checker is a store that checks its own integrity (bolt, pgstore,
// memstore).
type checker interface {
	Check(ctx context.Context) error
}

func runCheck(ctx context.Context, e *env, args []string) error {
	fs := e.flags("check")
	addr := fs.String("store", "", "store address (required)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *addr == "" {
		return fmt.Errorf("%w: -store is required", errUsage)
	}
	s, err := openStore(ctx, *addr, readOnly)
	if err != nil {
		return err
	}
	defer s.Close()
	c, ok := s.(checker)
	if !ok {
		return errors.New("this store has no integrity check")
	}
	fmt.Fprintln(e.stderr, "check: reading every record")
	err = c.Check(ctx)
	res := struct {
		OK       bool     `json:"ok"`
		Problems []string `json:"problems,omitempty"`
	}{OK: err == nil}
	if err != nil {
		if ctx.Err() != nil {
			return err
		}
		res.Problems = strings.Split(err.Error(), "\n")
	}
	if oerr := e.output(res, func(w io.Writer) {
		if res.OK {
			fmt.Fprintln(w, "ok")
		}
		for _, p := range res.Problems {
			fmt.Fprintln(w, p)
		}
	}); oerr != nil {
		return oerr
	}
	if !res.OK {
		return fmt.Errorf("%d problems found", len(res.Problems))
	}
	return nil
}

// stats

// storeStats is what stats reports.
type storeStats struct {
	Users         int                       `json:"users"`
	DisabledUsers int                       `json:"disabled_users"`
	Tokens        map[string]map[string]int `json:"tokens"`         // kind -> live, revoked, expired -> count
	PastRetention map[string]int            `json:"past_retention"` // kind -> records a purge would remove now
	NeverUsed     int                       `json:"never_used"`
	OldestLastUse *time.Time                `json:"oldest_last_use,omitempty"`
	OldestLastID  string                    `json:"oldest_last_use_id,omitempty"`
	HashKeys      map[string]int            `json:"hash_keys"` // hash key ID -> token records under it (0: Options.HashKey)
}

// The defaults of -retention and -idle-timeout: the library's defaults
// for Options.Retention and the session idle timeout, which a host that
// leaves them unset runs with.
const (
	defaultRetention   = 30 * 24 * time.Hour
	defaultIdleTimeout = 30 * time.Minute
)

func runStats(ctx context.Context, e *env, args []string) error {
	fs := e.flags("stats")
	addr := fs.String("store", "", "store address (required)")
	retention := fs.Duration("retention", defaultRetention, "how long ended API tokens are kept (the host's Options.Retention)")
	idle := fs.Duration("idle-timeout", defaultIdleTimeout, "the host's session idle timeout (Options.SessionIdleTimeout)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *addr == "" {
		return fmt.Errorf("%w: -store is required", errUsage)
	}
	s, err := openStore(ctx, *addr, readOnly)
	if err != nil {
		return err
	}
	defer s.Close()
	w, ok := s.(migrate.Walker)
	if !ok {
		return errors.New("this store cannot be walked")
	}
	now := time.Now()
	st := storeStats{Tokens: map[string]map[string]int{}, PastRetention: map[string]int{}, HashKeys: map[string]int{}}
	for _, k := range []apitoken.Kind{apitoken.KindAPI, apitoken.KindSession} {
		st.Tokens[k.String()] = map[string]int{"live": 0, "revoked": 0, "expired": 0}
		st.PastRetention[k.String()] = 0
	}
	p := newProgress(e.stderr, "stats")
	const page = 1000
	for after := ""; ; {
		us, err := w.WalkUsers(ctx, after, page)
		if err != nil {
			return err
		}
		for _, u := range us {
			st.Users++
			if u.Disabled {
				st.DisabledUsers++
			}
		}
		if len(us) < page {
			break
		}
		after = us[len(us)-1].ID
	}
	n := 0
	for after := ""; ; {
		ts, err := w.WalkTokens(ctx, after, page)
		if err != nil {
			return err
		}
		for _, t := range ts {
			state := "live"
			switch {
			case !t.Revoked.IsZero() && !t.Revoked.After(now):
				state = "revoked"
			case !t.Expires.After(now):
				state = "expired"
			}
			kind := t.Kind.String()
			if st.Tokens[kind] == nil {
				st.Tokens[kind] = map[string]int{}
			}
			st.Tokens[kind][state]++
			st.HashKeys[strconv.FormatUint(uint64(t.HashKeyID), 10)]++
			// What Manager.Purge would remove now with these settings.
			if (t.Kind == apitoken.KindSession && (t.End().Before(now) || t.Activity().Before(now.Add(-*idle)))) ||
				(t.Kind == apitoken.KindAPI && t.End().Before(now.Add(-*retention))) {
				st.PastRetention[kind]++
			}
			if t.LastUsed.IsZero() {
				st.NeverUsed++
			} else if st.OldestLastUse == nil || t.LastUsed.Before(*st.OldestLastUse) {
				lu := t.LastUsed.UTC()
				st.OldestLastUse, st.OldestLastID = &lu, t.ID
			}
		}
		n += len(ts)
		p.update("tokens", n)
		if len(ts) < page {
			break
		}
		after = ts[len(ts)-1].ID
	}
	return e.output(st, func(w io.Writer) {
		fmt.Fprintf(w, "users: %d (%d disabled)\n", st.Users, st.DisabledUsers)
		for _, kind := range sortedKeys(st.Tokens) {
			c := st.Tokens[kind]
			fmt.Fprintf(w, "%s tokens: %d live, %d revoked, %d expired; %d past retention\n",
				kind, c["live"], c["revoked"], c["expired"], st.PastRetention[kind])
		}
		fmt.Fprintf(w, "never used: %d\n", st.NeverUsed)
		var keys []string
		for _, id := range sortedKeys(st.HashKeys) {
			keys = append(keys, fmt.Sprintf("key %s: %d", id, st.HashKeys[id]))
		}
		fmt.Fprintf(w, "records per hash key: %s\n", strings.Join(keys, ", "))
		if st.OldestLastUse != nil {
			fmt.Fprintf(w, "oldest last use: %s (token %s)\n", st.OldestLastUse.Format(time.RFC3339), st.OldestLastID)
		}
	})
}

// purge

func runPurge(ctx context.Context, e *env, args []string) error {
	fs := e.flags("purge")
	addr := fs.String("store", "", "store address (required)")
	retention := fs.Duration("retention", defaultRetention, "how long ended API tokens are kept (the host's Options.Retention)")
	idle := fs.Duration("idle-timeout", defaultIdleTimeout, "the host's session idle timeout (Options.SessionIdleTimeout)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *addr == "" {
		return fmt.Errorf("%w: -store is required", errUsage)
	}
	s, err := openStore(ctx, *addr, readWrite)
	if err != nil {
		return err
	}
	defer s.Close()
	// Manager.Purge holds the policy of what has ended; it needs no key.
	m, err := apitoken.New(s, &apitoken.Options{Retention: *retention, PurgeInterval: -1,
		SessionIdleTimeout: *idle})
	if err != nil {
		return err
	}
	defer m.Close()
	n, err := m.Purge(ctx)
	if err != nil {
		return fmt.Errorf("purge stopped after removing %d records: %w", n, err)
	}
	res := struct {
		Removed int `json:"removed"`
	}{n}
	return e.output(res, func(w io.Writer) { fmt.Fprintf(w, "removed %d ended records\n", n) })
}

// revoke

// maxSecret bounds what is read from standard input for a secret.
const maxSecret = 4096

func runRevoke(ctx context.Context, e *env, args []string) error {
	fs := e.flags("revoke")
	addr := fs.String("store", "", "store address (required)")
	id := fs.String("id", "", "ID of the token to revoke")
	fromStdin := fs.Bool("secret-stdin", false, "read the token's secret from standard input (needs -key-file)")
	keyFile := fs.String("key-file", "", "file holding the host's hash key (for -secret-stdin)")
	keyID := fs.Uint("key-id", 0, "the -key-file key's ID in the host's Options.HashKeys (0: it is Options.HashKey)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *addr == "" {
		return fmt.Errorf("%w: -store is required", errUsage)
	}
	if (*id == "") == !*fromStdin {
		return fmt.Errorf("%w: give exactly one of -id and -secret-stdin", errUsage)
	}
	if *keyID > math.MaxUint32 {
		return fmt.Errorf("%w: -key-id %d is beyond 32 bits", errUsage, *keyID)
	}
	var key []byte
	var secret string
	if *fromStdin {
		var err error
		if key, err = readKey(*keyFile); err != nil {
			return err
		}
		line, err := bufio.NewReader(io.LimitReader(e.stdin, maxSecret)).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("reading the secret from standard input: %w", err)
		}
		if secret = strings.TrimSpace(line); secret == "" {
			return fmt.Errorf("%w: standard input holds no secret", errUsage)
		}
	}
	s, err := openStore(ctx, *addr, readWrite)
	if err != nil {
		return err
	}
	defer s.Close()
	// The revocation's event (token.revoked, IDs and account only) goes to
	// standard error as a log line: the operator's audit trail.
	events := slog.New(slog.NewTextHandler(e.stderr, nil))
	var t *apitoken.Token
	var already bool
	if *fromStdin {
		t, already, err = revokeSecret(ctx, s, key, uint32(*keyID), secret, events)
	} else {
		t, already, err = revokeID(ctx, s, *id, events)
	}
	if err != nil {
		return err
	}
	res := struct {
		ID      string    `json:"id"`
		Kind    string    `json:"kind"`
		Account string    `json:"account"`
		Revoked time.Time `json:"revoked"`
		Already bool      `json:"already_revoked"`
	}{t.ID, t.Kind.String(), t.Account, t.Revoked.UTC(), already}
	return e.output(res, func(w io.Writer) {
		if already {
			fmt.Fprintf(w, "token %s was already revoked at %s\n", t.ID, res.Revoked.Format(time.RFC3339))
		} else {
			fmt.Fprintf(w, "revoked token %s (%s, account %s)\n", t.ID, res.Kind, t.Account)
		}
	})
}

// errNoToken is the answer for an ID or secret the store does not hold.
var errNoToken = errors.New("no such token in this store")

// revokeID revokes the token with ID id through Manager.RevokeFor, so
// the Manager's rules apply and it reports the revocation to events; a
// PostgreSQL store announces it to every instance's cache.
func revokeID(ctx context.Context, s apitoken.Store, id string, events *slog.Logger) (*apitoken.Token, bool, error) {
	before, err := s.TokenByID(ctx, id)
	if errors.Is(err, apitoken.ErrNotFound) {
		return nil, false, fmt.Errorf("%w (ID %q)", errNoToken, id)
	}
	if err != nil {
		return nil, false, err
	}
	// Revoking by ID needs no hash key.
	m, err := apitoken.New(s, &apitoken.Options{PurgeInterval: -1, CacheSize: -1, Logger: events})
	if err != nil {
		return nil, false, err
	}
	defer m.Close()
	if err := m.RevokeFor(ctx, before.Account, id); errors.Is(err, apitoken.ErrNotFound) {
		return nil, false, fmt.Errorf("%w (ID %q)", errNoToken, id) // deleted meanwhile
	} else if err != nil {
		return nil, false, err
	}
	t, err := s.TokenByID(ctx, id)
	if err != nil {
		return nil, false, err
	}
	return t, !before.Revoked.IsZero(), nil
}

// revokeSecret revokes the token whose secret is secret, through
// Manager.RevokeSecret under the host's key (its HashKey for keyID 0, else
// the key of that ID in its HashKeys), and reads back which token it was.
// The secret itself is never printed.
func revokeSecret(ctx context.Context, s apitoken.Store, key []byte, keyID uint32, secret string, events *slog.Logger) (*apitoken.Token, bool, error) {
	o := &apitoken.Options{HashKey: key, PurgeInterval: -1, CacheSize: -1, Logger: events}
	if keyID != 0 {
		o.HashKey, o.HashKeys, o.CurrentHashKey = nil, map[uint32][]byte{keyID: key}, keyID
	}
	m, err := apitoken.New(s, o)
	if err != nil {
		return nil, false, err
	}
	defer m.Close()
	before, err := s.TokenByHash(ctx, m.HashOf(secret))
	if errors.Is(err, apitoken.ErrNotFound) {
		if err := m.RevokeSecret(ctx, secret); errors.Is(err, apitoken.ErrMalformed) {
			return nil, false, errors.New("standard input does not hold a token of this format")
		}
		return nil, false, fmt.Errorf("%w (no token has this secret under this hash key: check -key-file and -key-id)", errNoToken)
	}
	if err != nil {
		return nil, false, err
	}
	if err := m.RevokeSecret(ctx, secret); err != nil {
		if errors.Is(err, apitoken.ErrMalformed) {
			return nil, false, errors.New("standard input does not hold a token of this format")
		}
		return nil, false, err
	}
	t, err := s.TokenByID(ctx, before.ID)
	if err != nil {
		return nil, false, err
	}
	return t, !before.Revoked.IsZero(), nil
}
