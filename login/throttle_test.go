package login_test

import (
	"errors"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"github.com/apitoken/apitoken"
	tokenbolt "github.com/apitoken/apitoken/bolt"
	"github.com/apitoken/apitoken/login"
	"github.com/apitoken/apitoken/memstore"
	"github.com/apitoken/apitoken/storetest"
)

// throttleOpts are small limits so that the rules show in a few hashes: 3
// failures in a row per (name, address), 5 per name per hour.
var throttleOpts = login.Options{MaxFailures: 3, Backoff: 5 * time.Minute, MaxLoginFailuresPerName: 5, LoginFailureWindow: time.Hour}

// loginStep is one attempt of a throttling script: from an address, with
// the right password or not, and the error it must get (nil: logged in).
type loginStep struct {
	from    string // "" is the zero (unknown) Addr
	right   bool
	want    error
	advance time.Duration // the clock moves this much first
}

func addr(s string) netip.Addr {
	if s == "" {
		return netip.Addr{}
	}
	return netip.MustParseAddr(s)
}

func TestLoginThrottleRules(t *testing.T) {
	bad, thr := login.ErrBadCredentials, login.ErrThrottled
	wrong := func(from string, want error) loginStep { return loginStep{from: from, want: want} }
	right := func(from string, want error) loginStep { return loginStep{from: from, right: true, want: want} }
	for _, c := range []struct {
		name  string
		steps []loginStep
	}{
		{"a pair's back-off leaves other addresses alone", []loginStep{
			wrong("192.0.2.1", bad), wrong("192.0.2.1", bad), wrong("192.0.2.1", bad),
			right("192.0.2.1", thr), wrong("192.0.2.1", thr),
			right("192.0.2.2", nil),
		}},
		{"the pair's back-off ends", []loginStep{
			wrong("192.0.2.1", bad), wrong("192.0.2.1", bad), wrong("192.0.2.1", bad),
			{from: "192.0.2.1", right: true, want: thr, advance: 5*time.Minute - time.Nanosecond},
			{from: "192.0.2.1", right: true, want: nil, advance: time.Nanosecond},
		}},
		{"a success clears the pair's count", []loginStep{
			wrong("192.0.2.1", bad), wrong("192.0.2.1", bad), right("192.0.2.1", nil),
			wrong("192.0.2.1", bad), wrong("192.0.2.1", bad), right("192.0.2.1", nil),
		}},
		{"an IPv6 /64 is one address", []loginStep{
			wrong("2001:db8::1", bad), wrong("2001:db8::2", bad), wrong("2001:db8::ffff:3", bad),
			right("2001:db8::4", thr), right("2001:db8:0:1::1", nil),
		}},
		{"unknown addresses share one bucket", []loginStep{
			wrong("", bad), wrong("", bad), wrong("", bad), right("", thr), right("192.0.2.9", nil),
		}},
		{"the name's ceiling blocks every address, the owner's too", []loginStep{
			wrong("192.0.2.1", bad), wrong("192.0.2.1", bad), wrong("192.0.2.1", bad),
			wrong("192.0.2.2", bad), wrong("192.0.2.3", bad), // the 5th failure for the name
			right("192.0.2.4", thr), right("2001:db8::1", thr), right("", thr),
			{from: "192.0.2.4", right: true, want: thr, advance: time.Hour - time.Nanosecond},
			{from: "192.0.2.4", right: true, want: nil, advance: time.Nanosecond},
		}},
		{"a success does not reset the name's window", []loginStep{
			wrong("192.0.2.1", bad), wrong("192.0.2.1", bad), right("192.0.2.1", nil),
			wrong("192.0.2.1", bad), wrong("192.0.2.2", bad), wrong("192.0.2.3", bad),
			right("192.0.2.4", thr),
		}},
		{"failures in an old window do not count", []loginStep{
			wrong("192.0.2.1", bad), wrong("192.0.2.2", bad), wrong("192.0.2.3", bad), wrong("192.0.2.4", bad),
			{from: "192.0.2.5", want: bad, advance: time.Hour}, // a new window: 1 of 5
			wrong("192.0.2.6", bad), wrong("192.0.2.7", bad), wrong("192.0.2.8", bad),
			right("192.0.2.9", nil),
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			clock := storetest.NewClock(time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC))
			m, _ := newService(t, &apitoken.Options{Now: clock.Now}, &throttleOpts)
			u, err := m.AddUser(ctx, login.NewUser{Account: "a", Name: "owner@example.com", Password: password, Role: apitoken.Normal})
			if err != nil {
				t.Fatal(err)
			}
			for i, s := range c.steps {
				clock.Advance(s.advance)
				pw := "wrong password"
				if s.right {
					pw = password
				}
				runs := m.HashRuns()
				_, err := m.Login(ctx, u.Name, pw, addr(s.from))
				if !errors.Is(err, s.want) || (s.want == nil) != (err == nil) {
					t.Fatalf("step %d (from %q, right %v): %v, want %v", i, s.from, s.right, err, s.want)
				}
				if errors.Is(err, thr) && m.HashRuns() != runs {
					t.Fatalf("step %d: a throttled attempt ran the hash", i)
				}
			}
		})
	}
}

// TestUnknownNamesAreThrottledLikeKnownOnes plays the same failures
// against a user's name and a name nobody has: every answer must match
// within one instance, at the pair back-off and at the name's ceiling.
func TestUnknownNamesAreThrottledLikeKnownOnes(t *testing.T) {
	script := []string{"192.0.2.1", "192.0.2.1", "192.0.2.1", "192.0.2.1", "192.0.2.2", "192.0.2.2", "192.0.2.3", "192.0.2.4", "", "2001:db8::1"}
	answers := func(name string) []error {
		clock := storetest.NewClock(time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC))
		m, _ := newService(t, &apitoken.Options{Now: clock.Now}, &throttleOpts)
		if _, err := m.AddUser(ctx, login.NewUser{Account: "a", Name: "owner@example.com", Password: password, Role: apitoken.Normal}); err != nil {
			t.Fatal(err)
		}
		var errs []error
		for _, from := range script {
			_, err := m.Login(ctx, name, "wrong password", addr(from))
			errs = append(errs, err)
		}
		return errs
	}
	known, unknown := answers("owner@example.com"), answers("nobody@example.com")
	for i := range script {
		if known[i] != unknown[i] {
			t.Fatalf("attempt %d from %q: known name %v, unknown name %v", i, script[i], known[i], unknown[i])
		}
	}
	if known[3] != login.ErrThrottled || known[len(known)-1] != login.ErrThrottled {
		t.Fatalf("the script does not reach both limits: %v", known)
	}
}

// TestTheNameCeilingIsSharedByInstancesAndRestarts runs two instances over
// one store, as two instances behind a load balancer: failures on either
// count towards one ceiling, kept on the user record, and an instance
// started later (a restart) sees it too.
func TestTheNameCeilingIsSharedByInstancesAndRestarts(t *testing.T) {
	for _, st := range []struct {
		name string
		open func(t *testing.T) apitoken.Store
	}{
		{"memstore", func(*testing.T) apitoken.Store { return memstore.New() }},
		{"bolt", func(t *testing.T) apitoken.Store {
			s, err := tokenbolt.Open(filepath.Join(t.TempDir(), "a.db"), nil)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		}},
	} {
		t.Run(st.name, func(t *testing.T) {
			store := st.open(t)
			clock := storetest.NewClock(time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC))
			newM := func() *login.Service {
				m, err := apitoken.New(store, &apitoken.Options{Now: clock.Now, HashKey: []byte("a 32-byte key for sharing tests!")})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { m.Close() })
				l, err := login.New(m, store, &throttleOpts)
				if err != nil {
					t.Fatal(err)
				}
				return l
			}
			one, two := newM(), newM()
			u, err := one.AddUser(ctx, login.NewUser{Account: "a", Name: "owner@example.com", Password: password, Role: apitoken.Normal})
			if err != nil {
				t.Fatal(err)
			}
			for i, m := range []*login.Service{one, two, one, two, one} {
				if _, err := m.Login(ctx, u.Name, "wrong password", addr("192.0.2."+string(rune('1'+i)))); err != login.ErrBadCredentials {
					t.Fatalf("failure %d: %v", i, err)
				}
			}
			rec, err := store.UserByID(ctx, u.ID)
			if err != nil || rec.LoginWindowFailures != 5 || !rec.LoginWindowStart.Equal(clock.Now()) {
				t.Fatalf("the record holds %d failures since %v (%v), want 5 since now", rec.LoginWindowFailures, rec.LoginWindowStart, err)
			}
			for _, m := range []*login.Service{one, two} {
				if _, err := m.Login(ctx, u.Name, password, addr("198.51.100.1")); err != login.ErrThrottled {
					t.Fatalf("the owner from a fresh address past the shared ceiling: %v", err)
				}
			}
			restarted := newM()
			if _, err := restarted.Login(ctx, u.Name, password, addr("198.51.100.2")); err != login.ErrThrottled {
				t.Fatalf("a new instance forgot the ceiling: %v", err)
			}
			clock.Advance(time.Hour)
			if _, err := restarted.Login(ctx, u.Name, password, addr("198.51.100.2")); err != nil {
				t.Fatalf("after the window: %v", err)
			}

			// The documented residual difference: a name with no record
			// has only each instance's own count.
			for i, m := range []*login.Service{one, one, one, one, one} {
				if _, err := m.Login(ctx, "nobody@example.com", "wrong password", addr("192.0.2."+string(rune('1'+i)))); err != login.ErrBadCredentials {
					t.Fatalf("unknown-name failure %d: %v", i, err)
				}
			}
			if _, err := one.Login(ctx, "nobody@example.com", "x", addr("198.51.100.3")); err != login.ErrThrottled {
				t.Fatalf("the instance that counted: %v", err)
			}
			if _, err := two.Login(ctx, "nobody@example.com", "x", addr("198.51.100.3")); err != login.ErrBadCredentials {
				t.Fatalf("another instance: %v (unknown names are counted per instance)", err)
			}
		})
	}
}

// TestAFullLoginQueueAnswersBusyWithoutHashing fills the hashing queue as
// a flood would: known and unknown names alike get ErrBusy at once without
// a hash; with only the running slots taken a login waits MaxHashWait and
// then gets ErrBusy; a throttled pair is refused before it queues.
func TestAFullLoginQueueAnswersBusyWithoutHashing(t *testing.T) {
	so := throttleOpts
	so.MaxHashWait = 100 * time.Millisecond
	m, _ := newService(t, nil, &so)
	u, err := m.AddUser(ctx, login.NewUser{Account: "a", Name: "owner@example.com", Password: password, Role: apitoken.Normal})
	if err != nil {
		t.Fatal(err)
	}
	for range so.MaxFailures {
		m.Login(ctx, u.Name, "wrong password", addr("192.0.2.66"))
	}
	release := m.HoldHashing(true)
	runs := m.HashRuns()
	for _, name := range []string{u.Name, "nobody@example.com"} {
		start := time.Now()
		_, err := m.Login(ctx, name, password, addr("192.0.2.1"))
		if !errors.Is(err, login.ErrBusy) || time.Since(start) > 50*time.Millisecond {
			t.Fatalf("%s with the queue full: %v after %v, want ErrBusy at once", name, err, time.Since(start))
		}
		if he := apitoken.HTTPErrorOf(err); he.Status != 503 || he.Code != login.CodeBusy {
			t.Fatalf("ErrBusy maps to %+v", he)
		}
	}
	if _, err := m.Login(ctx, u.Name, password, addr("192.0.2.66")); !errors.Is(err, login.ErrThrottled) {
		t.Fatalf("a throttled pair with the queue full: %v, want ErrThrottled before queueing", err)
	}
	release()
	release = m.HoldHashing(false)
	for _, name := range []string{u.Name, "nobody@example.com"} {
		start := time.Now()
		_, err := m.Login(ctx, name, password, addr("192.0.2.1"))
		if d := time.Since(start); !errors.Is(err, login.ErrBusy) || d < so.MaxHashWait {
			t.Fatalf("%s with every slot busy: %v after %v, want ErrBusy after MaxHashWait", name, err, d)
		}
	}
	if m.HashRuns() != runs {
		t.Fatal("a busy answer ran the hash")
	}
	release()
	if _, err := m.Login(ctx, u.Name, password, addr("192.0.2.1")); err != nil {
		t.Fatalf("busy answers counted as failures: %v", err)
	}
}
