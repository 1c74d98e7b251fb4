package bolt_test

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apitoken/apitoken"
	tokenbolt "github.com/apitoken/apitoken/bolt"

	"github.com/apitoken/apitoken/storetest"
)

var kill9Cycles = flag.Int("kill9.cycles", 50, "kill -9 cycles of TestKill9")

var hashKey = []byte("bolt durability test key 32 byte")

// TestMain lets the test binary act as the child process of the lock and
// kill -9 tests.
func TestMain(m *testing.M) {
	switch os.Getenv("APITOKEN_BOLT_CHILD") {
	case "lock":
		childLock(os.Getenv("APITOKEN_BOLT_PATH"))
	case "ops":
		childOps(os.Getenv("APITOKEN_BOLT_PATH"))
	default:
		os.Exit(m.Run())
	}
}

func childLock(path string) {
	start := time.Now()
	_, err := tokenbolt.Open(path, nil)
	fmt.Printf("%v|%v|%s\n", errors.Is(err, tokenbolt.ErrLocked), time.Since(start).Milliseconds(), err)
	os.Exit(0)
}

// childOps issues, revokes and promotes tokens until killed, printing each
// operation only after its commit returned.
func childOps(path string) {
	die := func(err error) { fmt.Fprintln(os.Stderr, err); os.Exit(2) }
	s, err := tokenbolt.Open(path, &tokenbolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		die(err)
	}
	m, err := apitoken.New(s, &apitoken.Options{HashKey: hashKey})
	if err != nil {
		die(err)
	}
	u, err := s.UserByName(ctx, "kill9@example.com")
	if errors.Is(err, apitoken.ErrNotFound) {
		u, err = m.AddUser(ctx, apitoken.NewUser{Account: "acme", Name: "kill9@example.com", Role: apitoken.Admin})
	}
	if err != nil {
		die(err)
	}
	l, err := m.StartSession(ctx, u.ID)
	if err != nil {
		die(err)
	}
	admin, err := m.Verify(ctx, l.Secret, "")
	if err != nil {
		die(err)
	}
	var live []string // IDs issued by this process and not revoked
	out := bufio.NewWriter(os.Stdout)
	for {
		switch n := rand.IntN(4); {
		case n <= 1 || len(live) == 0:
			iss, err := m.Issue(ctx, admin, apitoken.IssueRequest{})
			if err != nil {
				die(err)
			}
			live = append(live, iss.Token.ID)
			fmt.Fprintf(out, "I %s %s\n", iss.Token.ID, iss.Secret)
		case n == 2:
			i := rand.IntN(len(live))
			fmt.Fprintf(out, "? R %s\n", live[i]) // intent: may commit without its ack
			out.Flush()
			if err := m.Revoke(ctx, admin, live[i]); err != nil {
				die(err)
			}
			fmt.Fprintf(out, "R %s\n", live[i])
			live = append(live[:i], live[i+1:]...)
		default:
			id := live[rand.IntN(len(live))]
			fmt.Fprintf(out, "? P %s\n", id)
			out.Flush()
			if _, err := m.Promote(ctx, admin, id); err != nil && !errors.Is(err, apitoken.ErrAlreadyAccountToken) {
				die(err)
			}
			fmt.Fprintf(out, "P %s\n", id)
		}
		out.Flush() // one write(2) per acknowledged operation
	}
}

func child(t *testing.T, mode, path string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "APITOKEN_BOLT_CHILD="+mode, "APITOKEN_BOLT_PATH="+path)
	cmd.Stderr = os.Stderr
	return cmd
}

func TestSecondProcessGetsLockedErrorWithinOneSecond(t *testing.T) {
	path := filepath.Join(t.TempDir(), "apitoken.db")
	openAt(t, path, nil)
	out, err := child(t, "lock", path).Output()
	if err != nil {
		t.Fatal(err)
	}
	var locked bool
	var ms int64
	var msg string
	parts := strings.SplitN(strings.TrimSpace(string(out)), "|", 3)
	fmt.Sscan(parts[0], &locked)
	fmt.Sscan(parts[1], &ms)
	msg = parts[2]
	t.Logf("second process: %q after %d ms", msg, ms)
	if !locked || ms >= 1000 || !strings.Contains(msg, path) {
		t.Fatalf("second process got %q after %d ms; want ErrLocked naming the file within 1 s", msg, ms)
	}
}

func TestKill9LosesNoAcknowledgedOperation(t *testing.T) {
	cycles := *kill9Cycles
	if !storetest.Long() {
		cycles = 5
	}
	path := filepath.Join(t.TempDir(), "apitoken.db")
	issued := map[string]string{} // ID -> secret
	revoked, promoted := map[string]bool{}, map[string]bool{}
	// inFlight is the one operation a cycle's child announced but did not
	// acknowledge before the kill: it may or may not have committed.
	inFlight := map[string]bool{}
	totalOps := 0
	for cycle := range cycles {
		cmd := child(t, "ops", path)
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		var lines []string
		var wg sync.WaitGroup
		started := make(chan struct{}) // closed at the child's first line
		readDone := make(chan struct{})
		wg.Go(func() {
			defer close(readDone)
			sc := bufio.NewScanner(stdout)
			for sc.Scan() { // only complete, newline-terminated lines
				if lines == nil {
					close(started)
				}
				lines = append(lines, sc.Text())
			}
		})
		// The kill comes a random while after the child starts working, not
		// after it starts: on a loaded machine a new process can take longer
		// than the whole window to open the file.
		select {
		case <-started:
		case <-readDone:
			cmd.Wait()
			t.Fatalf("cycle %d: the child exited without writing anything", cycle)
		case <-time.After(time.Minute):
			cmd.Process.Kill()
			t.Fatalf("cycle %d: the child wrote nothing within a minute", cycle)
		}
		time.Sleep(time.Duration(50+rand.IntN(250)) * time.Millisecond)
		cmd.Process.Kill() // SIGKILL
		wg.Wait()
		cmd.Wait()
		var pending string
		for _, l := range lines {
			f := strings.Fields(l)
			switch {
			case len(f) == 3 && f[0] == "?":
				pending = f[1] + " " + f[2]
				continue
			case len(f) == 3 && f[0] == "I":
				issued[f[1]] = f[2]
			case len(f) == 2 && f[0] == "R":
				revoked[f[1]] = true
			case len(f) == 2 && f[0] == "P":
				promoted[f[1]] = true
			default:
				t.Fatalf("cycle %d: bad line %q", cycle, l)
			}
			totalOps++
			pending = ""
		}
		if pending != "" {
			inFlight[pending] = true
		}
		lost, resurrected, checkErrs := verifyAcknowledged(t, path, issued, revoked, promoted, inFlight)
		if lost+resurrected+checkErrs != 0 {
			t.Fatalf("cycle %d: %d acknowledged operations lost, %d revoked tokens alive, %d check errors", cycle, lost, resurrected, checkErrs)
		}
	}
	t.Logf("%d kill -9 cycles, %d acknowledged operations (%d issued, %d revoked, %d promoted): 0 lost, 0 revoked alive, 0 check errors",
		cycles, totalOps, len(issued), len(revoked), len(promoted))
	if len(issued) == 0 || len(revoked) == 0 || len(promoted) == 0 {
		t.Fatal("the child acknowledged too little to test anything")
	}
}

func verifyAcknowledged(t *testing.T, path string, issued map[string]string, revoked, promoted, inFlight map[string]bool) (lost, resurrected, checkErrs int) {
	s, err := tokenbolt.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Check(ctx); err != nil {
		t.Log(err)
		checkErrs++
	}
	m, err := apitoken.New(s, &apitoken.Options{HashKey: hashKey})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	for id, secret := range issued {
		p, err := m.Verify(ctx, secret, "")
		switch {
		case revoked[id]:
			if !errors.Is(err, apitoken.ErrRevoked) {
				resurrected++
			}
		case inFlight["R "+id] && errors.Is(err, apitoken.ErrRevoked):
			revoked[id] = true // the unacknowledged revoke committed: it must stay so
		case inFlight["P "+id] && err == nil:
			if p.Owner == apitoken.OwnerAccount {
				promoted[id] = true
			}
		case err != nil:
			t.Logf("issued token %s: %v", id, err)
			lost++
		case promoted[id] && p.Owner != apitoken.OwnerAccount && !inFlight["P "+id]:
			t.Logf("promoted token %s is a %v token", id, p.Owner)
			lost++
		}
	}
	return lost, resurrected, checkErrs
}

func TestNoSecretAtRest(t *testing.T) {
	n := 10_000
	if !storetest.Long() {
		n = 1_000
	}
	path := filepath.Join(t.TempDir(), "apitoken.db")
	s := openAt(t, path, &tokenbolt.Options{NoSync: true})
	m, err := apitoken.New(s, &apitoken.Options{HashKey: hashKey, MaxTokensPerUser: -1}) // one user holds them all
	if err != nil {
		t.Fatal(err)
	}
	u, _ := m.AddUser(ctx, apitoken.NewUser{Account: "acme", Name: "a@example.com", Role: apitoken.Normal})
	l, _ := m.StartSession(ctx, u.ID)
	sess, _ := m.Verify(ctx, l.Secret, "")
	secrets := make([]string, n)
	bodies := make(map[string]bool, n+1)
	var wg sync.WaitGroup
	for w := range 16 {
		wg.Go(func() {
			for i := w; i < n; i += 16 {
				iss, err := m.Issue(ctx, sess, apitoken.IssueRequest{Description: "scan me"})
				if err != nil {
					t.Error(err)
					return
				}
				secrets[i] = iss.Secret
			}
		})
	}
	wg.Wait()
	for _, sec := range append(secrets, l.Secret) {
		bodies[sec[4+8:4+8+43]] = true // the random body, after the issue time
	}
	m.Close()
	s.Close()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// Every maximal run of base62 characters is checked for every 43-byte
	// window, so any body stored anywhere, in any context, is found.
	hits := 0
	isB62 := func(c byte) bool { return c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' }
	for i := 0; i < len(raw); {
		if !isB62(raw[i]) {
			i++
			continue
		}
		j := i
		for j < len(raw) && isB62(raw[j]) {
			j++
		}
		for k := i; k+43 <= j; k++ {
			if bodies[string(raw[k:k+43])] {
				hits++
			}
		}
		i = j
	}
	t.Logf("%d secrets, %d-byte file: %d hits", len(bodies), len(raw), hits)
	if hits != 0 {
		t.Fatalf("%d secret bodies found in the raw file", hits)
	}
	// With another key, nothing verifies.
	s2 := openAt(t, path, nil)
	m2, _ := apitoken.New(s2, &apitoken.Options{HashKey: []byte("a different key, also 32 bytes!!")})
	defer m2.Close()
	ok := 0
	for _, sec := range secrets {
		if _, err := m2.Verify(ctx, sec, ""); err == nil {
			ok++
		} else if !errors.Is(err, apitoken.ErrUnknown) {
			t.Fatalf("verify under a different key: %v", err)
		}
	}
	if ok != 0 {
		t.Fatalf("%d tokens verified under a different key", ok)
	}
}

func TestFailedWritesLeaveNoPartialRecords(t *testing.T) {
	issueOne := func(t *testing.T, s *tokenbolt.Store, m *apitoken.Manager, sess apitoken.Principal) (apitoken.Issued, error) {
		return m.Issue(ctx, sess, apitoken.IssueRequest{})
	}
	setup := func(t *testing.T, o *tokenbolt.Options) (*tokenbolt.Store, *apitoken.Manager, apitoken.Principal, string) {
		path := filepath.Join(t.TempDir(), "apitoken.db")
		s := openAt(t, path, o)
		m, _ := apitoken.New(s, nil)
		t.Cleanup(func() { m.Close() })
		u, err := m.AddUser(ctx, apitoken.NewUser{Account: "acme", Name: "a@example.com", Role: apitoken.Normal})
		if err != nil {
			t.Fatal(err)
		}
		l, _ := m.StartSession(ctx, u.ID)
		sess, _ := m.Verify(ctx, l.Secret, "")
		return s, m, sess, path
	}
	count := func(t *testing.T, s *tokenbolt.Store) int {
		all, err := s.ListTokens(ctx, apitoken.TokenQuery{Account: "acme"})
		if err != nil {
			t.Fatal(err)
		}
		return len(all)
	}
	t.Run("a write failing before commit issues nothing", func(t *testing.T) {
		s, m, sess, _ := setup(t, nil)
		before := count(t, s)
		tokenbolt.SetFailCommit(s, func() error { return errors.New("injected disk failure") })
		iss, err := issueOne(t, s, m, sess)
		tokenbolt.SetFailCommit(s, nil)
		if err == nil || iss.Secret != "" || iss.Token != nil {
			t.Fatalf("issue under a failing write: %v, %+v", err, iss)
		}
		var se *apitoken.StoreError
		if !errors.As(err, &se) {
			t.Fatalf("error %v is not a StoreError", err)
		}
		if count(t, s) != before {
			t.Fatal("a failed issue left a record")
		}
		if err := s.Check(ctx); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("a full MaxSize refuses issuing and keeps the file consistent", func(t *testing.T) {
		s, m, sess, path := setup(t, &tokenbolt.Options{MaxSize: 256 << 10, NoSync: true})
		before := count(t, s) // the session
		okCount := 0
		var err error
		for range 100_000 {
			var iss apitoken.Issued
			if iss, err = issueOne(t, s, m, sess); err != nil {
				if iss.Token != nil || iss.Secret != "" {
					t.Fatal("a failed issue returned a token")
				}
				break
			}
			okCount++
		}
		if err == nil {
			t.Fatal("MaxSize was never reached")
		}
		fi, _ := os.Stat(path)
		t.Logf("file full at %d bytes after %d tokens: %v", fi.Size(), okCount, err)
		if got := count(t, s) - before; got != okCount {
			t.Fatalf("%d tokens stored, %d issued", got, okCount)
		}
		if err := s.Check(ctx); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("a read-only file refuses issuing", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "apitoken.db")
		s := openAt(t, path, nil)
		m, _ := apitoken.New(s, nil)
		u, _ := m.AddUser(ctx, apitoken.NewUser{Account: "acme", Name: "a@example.com", Role: apitoken.Normal})
		l, _ := m.StartSession(ctx, u.ID)
		m.Close()
		s.Close()
		ro := openAt(t, path, &tokenbolt.Options{ReadOnly: true})
		mro, _ := apitoken.New(ro, nil)
		defer mro.Close()
		sess, err := mro.Verify(ctx, l.Secret, "")
		if err != nil {
			t.Fatal(err)
		}
		before := count(t, ro)
		iss, err := issueOne(t, ro, mro, sess)
		if err == nil || iss.Token != nil {
			t.Fatalf("issue on a read-only file: %v", err)
		}
		if count(t, ro) != before {
			t.Fatal("a record appeared")
		}
	})
}

func TestSchemaVersionIsCheckedOnOpen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "apitoken.db")
	s := openAt(t, path, nil)
	tokenbolt.SetSchemaVersion(t, s, tokenbolt.SchemaVersion+1)
	s.Close()
	_, err := tokenbolt.Open(path, nil)
	if !errors.Is(err, tokenbolt.ErrSchemaTooNew) || !strings.Contains(err.Error(), path) {
		t.Fatalf("opening a newer schema: %v", err)
	}
}
