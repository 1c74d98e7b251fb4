package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/apitoken/apitoken"
	tokenbolt "github.com/apitoken/apitoken/bolt"
	"github.com/apitoken/apitoken/migrate"
	"github.com/apitoken/apitoken/pgstore/pgtest"
	"github.com/apitoken/apitoken/storetest"
	"github.com/jackc/pgx/v5"
)

var ctx = context.Background()

// TestMain runs the command itself when a test starts this binary as a
// child process (the kill -9 test).
func TestMain(m *testing.M) {
	if os.Getenv("APITOKEN_CMD_CHILD") == "1" {
		os.Exit(run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
	}
	lockWait = 200 * time.Millisecond
	os.Exit(m.Run())
}

var testKey = bytes.Repeat([]byte{42}, hashKeyLen)

// cmd runs the command in process.
func cmd(t *testing.T, stdin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(ctx, args, strings.NewReader(stdin), &out, &errb)
	return out.String(), errb.String(), code
}

// mustCmd runs the command and fails the test unless it succeeds.
func mustCmd(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	out, errOut, code := cmd(t, stdin, args...)
	if code != 0 {
		t.Fatalf("apitoken %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

func decode[T any](t *testing.T, out string) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, out)
	}
	return v
}

// kinds of store the command supports.
var kinds = []string{"bolt", "postgres"}

// newAddr returns the address of a fresh, empty store of kind.
func newAddr(t *testing.T, kind string) string {
	t.Helper()
	if kind == "bolt" {
		return "bolt:" + filepath.Join(t.TempDir(), "apitoken.db")
	}
	return pgtest.Schema(t)
}

// open opens addr for a test, closed at cleanup.
func open(t testing.TB, addr string) apitoken.Store {
	t.Helper()
	s, err := openStore(ctx, addr, create)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func newManager(t testing.TB, s apitoken.Store) *apitoken.Manager {
	t.Helper()
	m, err := apitoken.New(s, &apitoken.Options{HashKey: testKey, PurgeInterval: -1, CacheSize: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// populated returns the address of a store of kind holding users,
// sessions, issued and generated tokens, closed so that the command can
// open it, and the issued tokens' secrets.
func populated(t *testing.T, kind string, users, issued, tokens int) (string, storetest.Population) {
	t.Helper()
	addr := newAddr(t, kind)
	s, err := openStore(ctx, addr, create)
	if err != nil {
		t.Fatal(err)
	}
	m, err := apitoken.New(s, &apitoken.Options{HashKey: testKey, PurgeInterval: -1, CacheSize: -1})
	if err != nil {
		t.Fatal(err)
	}
	pop := storetest.Populate(t, m, s, users, issued, tokens)
	m.Close()
	s.Close()
	return addr, pop
}

// verifyAll checks every kept secret on the store at addr: live ones
// verify under the same key, revoked ones fail with ErrRevoked.
func verifyAll(t *testing.T, addr string, pop storetest.Population) {
	t.Helper()
	s, err := openStore(ctx, addr, readWrite)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	m, err := apitoken.New(s, &apitoken.Options{HashKey: testKey, PurgeInterval: -1, CacheSize: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	for i, secret := range pop.Secrets {
		_, err := m.Verify(ctx, secret, "")
		switch {
		case pop.Revoked[i] && !errors.Is(err, apitoken.ErrRevoked):
			t.Fatalf("revoked token %d: %v, want ErrRevoked", i, err)
		case !pop.Revoked[i] && err != nil:
			t.Fatalf("token %d does not verify: %v", i, err)
		}
	}
}

// digest hashes every record of the store at addr, in walk order.
func digest(t *testing.T, addr string) string {
	t.Helper()
	s, err := openStore(ctx, addr, readOnly)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	w := s.(migrate.Walker)
	h := sha256.New()
	for after := ""; ; {
		us, err := w.WalkUsers(ctx, after, 1000)
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range us {
			u.Created, u.SessionsValidAfter = u.Created.UTC(), u.SessionsValidAfter.UTC()
			fmt.Fprintf(h, "%+v\n", *u)
		}
		if len(us) < 1000 {
			break
		}
		after = us[len(us)-1].ID
	}
	n := 0
	for after := ""; ; {
		ts, err := w.WalkTokens(ctx, after, 1000)
		if err != nil {
			t.Fatal(err)
		}
		for _, tk := range ts {
			b, _ := json.Marshal(tk) // times in UTC RFC 3339 with nanoseconds
			h.Write(b)
		}
		n += len(ts)
		if len(ts) < 1000 {
			break
		}
		after = ts[len(ts)-1].ID
	}
	return fmt.Sprintf("%d tokens, %x", n, h.Sum(nil)[:8])
}

type migrateOut struct {
	Phase        string `json:"phase"`
	Users        struct{ Copied, Unchanged int }
	Tokens       struct{ Copied, Unchanged int }
	VersionsKept bool `json:"versions_kept"`
	Check        *struct {
		SourceTokens  int `json:"source_tokens"`
		DestTokens    int `json:"dest_tokens"`
		SampledTokens int `json:"sampled_tokens"`
	}
}

func TestMigrateBetweenEveryPairOfStores(t *testing.T) {
	for _, from := range kinds {
		for _, to := range kinds {
			t.Run(from+" to "+to, func(t *testing.T) {
				src, pop := populated(t, from, 10, 40, 300)
				dst := newAddr(t, to)
				state := filepath.Join(t.TempDir(), "migrate.state")
				out := decode[migrateOut](t, mustCmd(t, "", "migrate", "-from", src, "-to", dst, "-state", state, "-batch", "64", "-json"))
				if out.Phase != "done" || out.Tokens.Copied != pop.Tokens || out.Users.Copied != pop.Users || !out.VersionsKept ||
					out.Check == nil || out.Check.DestTokens != pop.Tokens {
					t.Fatalf("first run: %+v", out)
				}
				if _, err := os.Stat(state); !errors.Is(err, os.ErrNotExist) {
					t.Fatalf("the state file outlived a finished migration: %v", err)
				}
				before := digest(t, dst)
				again := decode[migrateOut](t, mustCmd(t, "", "migrate", "-from", src, "-to", dst, "-json"))
				if again.Tokens.Copied != 0 || again.Users.Copied != 0 || again.Tokens.Unchanged != pop.Tokens {
					t.Fatalf("second run: %+v", again)
				}
				if after := digest(t, dst); after != before {
					t.Fatalf("a second run changed the destination: %s, then %s", before, after)
				}
				verifyAll(t, dst, pop)
			})
		}
	}
}

// A migration killed with SIGKILL partway through resumes from its state
// file and ends with the same records as one that was never interrupted.
func TestMigrateKilledHalfwayResumesToTheSameResult(t *testing.T) {
	src, pop := populated(t, "bolt", 20, 100, 600)
	want := newAddr(t, "postgres")
	mustCmd(t, "", "migrate", "-from", src, "-to", want)
	killedAndResumed(t, src, newAddr(t, "postgres"), want, pop, 1)
}

// killedAndResumed runs a migration from src to dst in a child process,
// kills it with SIGKILL once its state file shows tokens copied, resumes
// it in this process, and compares dst with want.
func killedAndResumed(t *testing.T, src, dst, want string, pop storetest.Population, batch int) {
	t.Helper()
	state := filepath.Join(t.TempDir(), "migrate.state")
	child := startChild(t, "migrate", "-from", src, "-to", dst, "-state", state, "-batch", fmt.Sprint(batch))
	var at string
	for {
		b, err := os.ReadFile(state)
		if err == nil {
			var st migrateState
			if json.Unmarshal(b, &st) == nil && st.Cursor.Phase == "tokens" && st.Cursor.Tokens.Copied*3 >= pop.Tokens {
				at = fmt.Sprintf("%+v", st.Cursor)
				break
			}
		}
		if child.exited() {
			t.Fatal("the child finished before it could be killed")
		}
		time.Sleep(2 * time.Millisecond)
	}
	if err := child.cmd.Process.Kill(); err != nil { // SIGKILL
		t.Fatal(err)
	}
	<-child.done
	t.Logf("killed with SIGKILL at %s", at)
	out := decode[migrateOut](t, mustCmd(t, "", "migrate", "-from", src, "-to", dst, "-state", state, "-batch", "1000", "-json"))
	if out.Tokens.Copied+out.Tokens.Unchanged != pop.Tokens || out.Check == nil {
		t.Fatalf("resumed run: %+v", out)
	}
	t.Logf("resumed to the end: %d tokens copied in all, %d of them found already there", out.Tokens.Copied+out.Tokens.Unchanged, out.Tokens.Unchanged)
	if got, w := digest(t, dst), digest(t, want); got != w {
		t.Fatalf("killed and resumed: %s; uninterrupted: %s", got, w)
	}
}

func TestBackupOfABoltFile(t *testing.T) {
	src, pop := populated(t, "bolt", 5, 20, 100)
	out := filepath.Join(t.TempDir(), "copy.db")
	res := decode[struct {
		Bytes   int64
		Checked bool
	}](t, mustCmd(t, "", "backup", "-store", src, "-out", out, "-json"))
	if res.Bytes == 0 || !res.Checked {
		t.Fatalf("backup: %+v", res)
	}
	mustCmd(t, "", "check", "-store", "bolt:"+out)
	if got, want := digest(t, "bolt:"+out), digest(t, src); got != want {
		t.Fatalf("copy %s, original %s", got, want)
	}
	verifyAll(t, "bolt:"+out, pop)

	_, errOut, code := cmd(t, "", "backup", "-store", newAddr(t, "postgres"), "-out", out)
	if code != exitUsage || !strings.Contains(errOut, "pg_dump") {
		t.Fatalf("backup of PostgreSQL: exit %d, %s", code, errOut)
	}
	_, errOut, code = cmd(t, "", "backup", "-store", src, "-out", strings.TrimPrefix(src, "bolt:"))
	if code != exitUsage {
		t.Fatalf("backup onto itself: exit %d, %s", code, errOut)
	}
}

func TestCheck(t *testing.T) {
	for _, kind := range kinds {
		t.Run(kind, func(t *testing.T) {
			addr, _ := populated(t, kind, 5, 20, 100)
			if out := mustCmd(t, "", "check", "-store", addr); strings.TrimSpace(out) != "ok" {
				t.Fatalf("check: %q", out)
			}
			res := decode[struct{ OK bool }](t, mustCmd(t, "", "check", "-store", addr, "-json"))
			if !res.OK {
				t.Fatal("check -json is not ok")
			}
		})
	}
	t.Run("postgres with a row no code writes", func(t *testing.T) {
		addr, _ := populated(t, "postgres", 5, 20, 100)
		c, err := pgx.Connect(ctx, addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, `UPDATE apitoken_tokens SET owner = 2, user_id = '' WHERE id = (SELECT min(id) FROM apitoken_tokens WHERE kind = 1)`); err != nil {
			t.Fatal(err)
		}
		out, errOut, code := cmd(t, "", "check", "-store", addr)
		if code != exitFail || !strings.Contains(out, "corrupt") {
			t.Fatalf("check of a bad row: exit %d\n%s%s", code, out, errOut)
		}
	})
}

type statsOut struct {
	Users         int
	Tokens        map[string]map[string]int
	PastRetention map[string]int `json:"past_retention"`
	NeverUsed     int            `json:"never_used"`
	OldestLastUse *time.Time     `json:"oldest_last_use"`
	HashKeys      map[string]int `json:"hash_keys"`
}

func TestStatsAndPurge(t *testing.T) {
	for _, kind := range kinds {
		t.Run(kind, func(t *testing.T) {
			addr, pop := populated(t, kind, 10, 40, 400)
			st := decode[statsOut](t, mustCmd(t, "", "stats", "-store", addr, "-json"))
			total := 0
			for _, states := range st.Tokens {
				for _, n := range states {
					total += n
				}
			}
			if st.Users != pop.Users || total != pop.Tokens || st.Tokens["session"]["live"] != pop.Users ||
				st.Tokens["api"]["revoked"] < len(pop.Revoked) || st.OldestLastUse == nil || st.NeverUsed == 0 ||
				len(st.HashKeys) != 1 || st.HashKeys["0"] != pop.Tokens {
				t.Fatalf("stats %+v for %d users and %d tokens", st, pop.Users, pop.Tokens)
			}
			past := st.PastRetention["api"] + st.PastRetention["session"]
			if past == 0 {
				t.Fatal("no record past retention in the population")
			}
			mustCmd(t, "", "stats", "-store", addr) // text
			res := decode[struct{ Removed int }](t, mustCmd(t, "", "purge", "-store", addr, "-json"))
			if res.Removed != past {
				t.Fatalf("purge removed %d, stats counted %d past retention", res.Removed, past)
			}
			st = decode[statsOut](t, mustCmd(t, "", "stats", "-store", addr, "-json"))
			if st.PastRetention["api"]+st.PastRetention["session"] != 0 {
				t.Fatalf("after the purge: %+v", st.PastRetention)
			}
			verifyAll(t, addr, pop) // the issued tokens are all within retention
		})
	}
}

// A token under a key of a keyring is revoked by its secret with that
// key's file and ID.
func TestRevokeUnderAKeyringKey(t *testing.T) {
	addr := newAddr(t, "bolt")
	s, err := openStore(ctx, addr, create)
	if err != nil {
		t.Fatal(err)
	}
	ringKey := []byte("apitoken command ring key, 32 b.")
	m, err := apitoken.New(s, &apitoken.Options{HashKey: testKey, HashKeys: map[uint32][]byte{5: ringKey}, CurrentHashKey: 5, PurgeInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	u, err := m.AddUser(ctx, apitoken.NewUser{Account: "acme", Name: "ring@example.com", Role: apitoken.Normal})
	if err != nil {
		t.Fatal(err)
	}
	iss, err := m.IssueFor(ctx, "acme", u.ID, apitoken.IssueRequest{})
	if err != nil {
		t.Fatal(err)
	}
	m.Close()
	s.Close()
	keyFile := filepath.Join(t.TempDir(), "key")
	os.WriteFile(keyFile, ringKey, 0o600)
	if _, stderr, code := cmd(t, iss.Secret, "revoke", "-store", addr, "-secret-stdin", "-key-file", keyFile); code != exitFail || !strings.Contains(stderr, "-key-id") {
		t.Fatalf("without -key-id: exit %d, %q", code, stderr)
	}
	out := decode[revokeOut](t, mustCmd(t, iss.Secret, "revoke", "-store", addr, "-secret-stdin", "-key-file", keyFile, "-key-id", "5", "-json"))
	if out.ID != iss.Token.ID || out.Already {
		t.Fatalf("revoke under key 5: %+v", out)
	}
}

type revokeOut struct {
	ID      string
	Already bool `json:"already_revoked"`
}

func TestRevoke(t *testing.T) {
	for _, kind := range kinds {
		t.Run(kind, func(t *testing.T) {
			addr, pop := populated(t, kind, 4, 10, 10)
			keyFile := filepath.Join(t.TempDir(), "key")
			os.WriteFile(keyFile, testKey, 0o600)

			// By secret, from standard input.
			secret := pop.Secrets[0]
			out := decode[revokeOut](t, mustCmd(t, secret+"\n", "revoke", "-store", addr, "-secret-stdin", "-key-file", keyFile, "-json"))
			if out.ID == "" || out.Already {
				t.Fatalf("revoke by secret: %+v", out)
			}
			text := mustCmd(t, secret, "revoke", "-store", addr, "-secret-stdin", "-key-file", keyFile)
			if !strings.Contains(text, "already revoked") || strings.Contains(text, secret) {
				t.Fatalf("second revoke by secret: %q", text)
			}
			pop.Revoked[0] = true

			// By ID.
			s := open(t, addr)
			id := tokenID(t, s, pop.Secrets[1])
			s.Close()
			out = decode[revokeOut](t, mustCmd(t, "", "revoke", "-store", addr, "-id", id, "-json"))
			if out.ID != id || out.Already {
				t.Fatalf("revoke by ID: %+v", out)
			}
			out = decode[revokeOut](t, mustCmd(t, "", "revoke", "-store", addr, "-id", id, "-json"))
			if !out.Already {
				t.Fatalf("second revoke by ID: %+v", out)
			}
			pop.Revoked[1] = true
			verifyAll(t, addr, pop)

			wrongKey := filepath.Join(t.TempDir(), "wrong")
			os.WriteFile(wrongKey, bytes.Repeat([]byte{1}, 32), 0o600)
			shortKey := filepath.Join(t.TempDir(), "short")
			os.WriteFile(shortKey, []byte("short\n"), 0o600)
			for _, c := range []struct {
				name, stdin string
				args        []string
				code        int
				says        string
			}{
				{"a secret given as an argument is refused", "", []string{"-secret-stdin", "-key-file", keyFile, pop.Secrets[2]}, exitUsage, "standard input"},
				{"-secret-stdin needs a key file", pop.Secrets[2], []string{"-secret-stdin"}, exitUsage, "-key-file"},
				{"a key file of the wrong length is refused", pop.Secrets[2], []string{"-secret-stdin", "-key-file", shortKey}, exitFail, "32 raw bytes"},
				{"a secret under another key is not found", pop.Secrets[2], []string{"-secret-stdin", "-key-file", wrongKey}, exitFail, "no such token"},
				{"input that is no token is refused", "not a token", []string{"-secret-stdin", "-key-file", keyFile}, exitFail, "does not hold a token"},
				{"empty input is refused", "", []string{"-secret-stdin", "-key-file", keyFile}, exitUsage, "no secret"},
				{"an unknown ID is an error", "", []string{"-id", "0000000000000000"}, exitFail, "no such token"},
				{"-id and -secret-stdin together are refused", pop.Secrets[2], []string{"-id", id, "-secret-stdin", "-key-file", keyFile}, exitUsage, "exactly one"},
			} {
				stdout, stderr, code := cmd(t, c.stdin, append([]string{"revoke", "-store", addr}, c.args...)...)
				if code != c.code || !strings.Contains(stderr, c.says) || strings.Contains(stdout+stderr, pop.Secrets[2]) {
					t.Errorf("%s: exit %d, %q %q", c.name, code, stdout, stderr)
				}
			}
			verifyAll(t, addr, pop) // token 2 still live
		})
	}
}

// A revocation goes through the Manager, which reports it: stderr gets
// one token.revoked log line naming the token (never the secret), and a
// second revocation of the same token none.
func TestRevokeReportsTheEvent(t *testing.T) {
	for _, kind := range kinds {
		t.Run(kind, func(t *testing.T) {
			addr, pop := populated(t, kind, 2, 3, 3)
			keyFile := filepath.Join(t.TempDir(), "key")
			os.WriteFile(keyFile, testKey, 0o600)
			s := open(t, addr)
			byID, bySecret := tokenID(t, s, pop.Secrets[0]), tokenID(t, s, pop.Secrets[1])
			s.Close()
			for _, c := range []struct {
				name, stdin, id string
				args            []string
			}{
				{"by ID", "", byID, []string{"-id", byID}},
				{"by secret", pop.Secrets[1], bySecret, []string{"-secret-stdin", "-key-file", keyFile}},
			} {
				for i, want := range []int{1, 0} {
					stdout, stderr, code := cmd(t, c.stdin, append([]string{"revoke", "-store", addr}, c.args...)...)
					if code != exitOK {
						t.Fatalf("%s: exit %d %s", c.name, code, stderr)
					}
					if n := strings.Count(stderr, "msg=token.revoked"); n != want || (want == 1 && !strings.Contains(stderr, "token_id="+c.id)) {
						t.Errorf("%s, revocation %d: stderr %q, want %d token.revoked of %s", c.name, i+1, stderr, want, c.id)
					}
					if strings.Contains(stdout+stderr, pop.Secrets[1]) {
						t.Errorf("%s: the secret was printed", c.name)
					}
				}
			}
			pop.Revoked[0], pop.Revoked[1] = true, true
			verifyAll(t, addr, pop)
		})
	}
}

func tokenID(t *testing.T, s apitoken.Store, secret string) string {
	t.Helper()
	m := newManager(t, s)
	tk, err := s.TokenByHash(ctx, m.HashOf(secret))
	if err != nil {
		t.Fatal(err)
	}
	return tk.ID
}

// Every command refuses bad addresses and a bolt file another process
// holds, with a clear error, writing nothing.
func TestBadAddressesAndALockedFileWriteNothing(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.db")
	commands := [][]string{
		{"check", "-store"}, {"stats", "-store"}, {"purge", "-store"},
		{"revoke", "-id", "x", "-store"}, {"backup", "-out", filepath.Join(dir, "out.db"), "-store"},
	}
	for _, c := range commands {
		for _, bad := range []struct{ addr, says string }{
			{"mysql://u:pw@host/db", "bolt:PATH or a postgres:// URL"},
			{"apitoken.db", "bolt:PATH or a postgres:// URL"},
			{"bolt:", "needs a path"},
			{"bolt:" + missing, "no bolt file"},
			{"postgres://u:s3cret@127.0.0.1:1/db?sslmode=bogus", "does not parse"},
		} {
			if c[0] == "backup" && strings.HasPrefix(bad.addr, "postgres") {
				continue
			}
			out, errOut, code := cmd(t, "", append(c, bad.addr)...)
			if code == 0 || !strings.Contains(errOut, bad.says) || strings.Contains(out+errOut, "s3cret") || strings.Contains(out+errOut, ":pw@") {
				t.Errorf("%s %s: exit %d, %q", c[0], bad.addr, code, errOut)
			}
		}
	}
	for _, bad := range []string{"mysql://x", "bolt:"} {
		if _, errOut, code := cmd(t, "", "migrate", "-from", bad, "-to", "bolt:"+filepath.Join(dir, "dst.db")); code == 0 || errOut == "" {
			t.Errorf("migrate from %s: exit %d", bad, code)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("bad addresses created files: %v", entries)
	}

	// A bolt file held open by another process.
	src, pop := populated(t, "bolt", 3, 5, 10)
	path := strings.TrimPrefix(src, "bolt:")
	holder, err := tokenbolt.Open(path, nil) // another open file description holds the lock as a process would
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	before, _ := os.ReadFile(path)
	keyFile := filepath.Join(dir, "key")
	os.WriteFile(keyFile, testKey, 0o600)
	other, _ := populated(t, "bolt", 2, 2, 4)
	state := filepath.Join(dir, "migrate.state")
	for _, args := range [][]string{
		{"check", "-store", src}, {"stats", "-store", src}, {"purge", "-store", src},
		{"revoke", "-store", src, "-id", "x"}, {"backup", "-store", src, "-out", filepath.Join(dir, "copy.db")},
		{"migrate", "-from", src, "-to", "bolt:" + filepath.Join(dir, "new.db"), "-state", state},
		{"migrate", "-from", other, "-to", src, "-state", state},
	} {
		stdin := ""
		out, errOut, code := cmd(t, stdin, args...)
		if code != exitFail || !strings.Contains(errOut, "locked by another process") || !strings.Contains(errOut, "nothing was written") {
			t.Errorf("%s on a locked file: exit %d, %q %q", args[0], code, out, errOut)
		}
	}
	_, errOut, code := cmd(t, pop.Secrets[0], "revoke", "-store", src, "-secret-stdin", "-key-file", keyFile)
	if code != exitFail || !strings.Contains(errOut, "locked") {
		t.Errorf("revoke by secret on a locked file: exit %d, %q", code, errOut)
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Fatal("the locked file changed")
	}
	for _, name := range []string{"copy.db", "new.db", "migrate.state"} {
		if _, err := os.Stat(filepath.Join(dir, name)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s was written: %v", name, err)
		}
	}
}

func TestUsage(t *testing.T) {
	if _, errOut, code := cmd(t, ""); code != exitUsage || !strings.Contains(errOut, "migrate") {
		t.Fatalf("no command: exit %d, %q", code, errOut)
	}
	if _, _, code := cmd(t, "", "frobnicate"); code != exitUsage {
		t.Fatalf("unknown command: exit %d", code)
	}
	if _, _, code := cmd(t, "", "stats"); code != exitUsage {
		t.Fatalf("stats without -store: exit %d", code)
	}
}
