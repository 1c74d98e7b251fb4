package apitoken_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apitoken/apitoken"
	"github.com/apitoken/apitoken/bolt"
	"github.com/apitoken/apitoken/event"
	"github.com/apitoken/apitoken/memstore"
	"github.com/apitoken/apitoken/storetest"
)

const day = 24 * time.Hour

// TestExpiryPolicy: Options.ExpiryPolicy narrows the lifetime of new API
// tokens per account and may require an expiry; MaxExpiry still bounds
// it; Issue and IssueFor refuse what breaks a rule with ErrInvalidArgument
// naming the rule in days, never in Go's duration syntax.
func TestExpiryPolicy(t *testing.T) {
	clock := storetest.NewClock(time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC))
	policy := map[string]struct {
		max      time.Duration
		required bool
	}{
		"acme":  {30 * day, true},
		"beta":  {90 * day, false},
		"gamma": {0, true},           // required, MaxExpiry as the bound
		"delta": {1000 * day, false}, // above MaxExpiry: MaxExpiry wins
	}
	m, _ := newManager(t, &apitoken.Options{Now: clock.Now, MaxExpiry: 365 * day, ExpiryPolicy: func(account string) (time.Duration, bool) {
		p := policy[account]
		return p.max, p.required
	}})
	now := clock.Now()
	for _, tc := range []struct {
		name    string
		account string
		expires time.Time
		want    time.Time // the stored expiry when issued
		errText string    // else the refusal names this rule
	}{
		{"a required expiry missing", "acme", time.Time{}, time.Time{}, "tokens of this account need an expiry, at most 30 days away"},
		{"beyond the account's maximum", "acme", now.Add(31 * day), time.Time{}, "at most 30 days away"},
		{"within the account's maximum", "acme", now.Add(29 * day), now.Add(29 * day), ""},
		{"at the account's maximum", "acme", now.Add(30 * day), now.Add(30 * day), ""},
		{"in the past", "acme", now.Add(-time.Hour), time.Time{}, "in the future"},
		{"no expiry takes the account's maximum as the default", "beta", time.Time{}, now.Add(90 * day), ""},
		{"beyond the account's maximum, not required", "beta", now.Add(91 * day), time.Time{}, "at most 90 days away"},
		{"required with no maximum of its own", "gamma", time.Time{}, time.Time{}, "need an expiry, at most 365 days away"},
		{"required, bounded by MaxExpiry", "gamma", now.Add(366 * day), time.Time{}, "at most 365 days away"},
		{"an account maximum above MaxExpiry", "delta", now.Add(400 * day), time.Time{}, "at most 365 days away"},
		{"an account without a rule takes the defaults", "other", time.Time{}, now.Add(365 * day), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			iss, err := m.IssueFor(ctx, tc.account, "", apitoken.IssueRequest{Privilege: apitoken.Normal, Expires: tc.expires})
			if tc.errText != "" {
				if !errors.Is(err, apitoken.ErrInvalidArgument) || !strings.Contains(err.Error(), tc.errText) || strings.Contains(err.Error(), "h0m") {
					t.Fatalf("issued %v, error %v; want ErrInvalidArgument saying %q", iss.Token, err, tc.errText)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !iss.Token.Expires.Equal(tc.want) {
				t.Fatalf("expires %v, want %v", iss.Token.Expires, tc.want)
			}
		})
	}
	if def, longest, required := m.ExpiryRule("acme"); def != 30*day || longest != 30*day || !required {
		t.Fatalf("ExpiryRule(acme) = %v, %v, %v", def, longest, required)
	}
	if def, longest, required := m.ExpiryRule("other"); def != 365*day || longest != 365*day || required {
		t.Fatalf("ExpiryRule(other) = %v, %v, %v", def, longest, required)
	}
}

// Issue (by a credential) obeys the same rules as IssueFor, and Rotate
// shortens the new secret's expiry to the account's current maximum.
func TestExpiryPolicyOnIssueAndRotate(t *testing.T) {
	clock := storetest.NewClock(time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC))
	var mu sync.Mutex
	longest := 90 * day
	m, _ := newManager(t, &apitoken.Options{Now: clock.Now, ExpiryPolicy: func(string) (time.Duration, bool) {
		mu.Lock()
		defer mu.Unlock()
		return longest, true
	}})
	now := clock.Now()
	adminTok, err := m.IssueFor(ctx, "acme", "", apitoken.IssueRequest{Privilege: apitoken.Admin, Expires: now.Add(60 * day)})
	if err != nil {
		t.Fatal(err)
	}
	admin, err := m.Verify(ctx, adminTok.Secret, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Issue(ctx, admin, apitoken.IssueRequest{}); !errors.Is(err, apitoken.ErrInvalidArgument) || !strings.Contains(err.Error(), "need an expiry, at most 90 days away") {
		t.Fatalf("Issue without an expiry: %v", err)
	}
	long, err := m.Issue(ctx, admin, apitoken.IssueRequest{Expires: now.Add(80 * day)})
	if err != nil {
		t.Fatal(err)
	}
	short, err := m.Issue(ctx, admin, apitoken.IssueRequest{Expires: now.Add(5 * day)})
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	longest = 10 * day // the host tightens the rule
	mu.Unlock()
	clock.Advance(time.Hour)
	rotated, err := m.Rotate(ctx, admin, long.Token.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	if want := clock.Now().Add(10 * day); !rotated.Token.Expires.Equal(want) {
		t.Fatalf("rotated expiry %v, want the new maximum %v", rotated.Token.Expires, want)
	}
	kept, err := m.Rotate(ctx, admin, short.Token.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !kept.Token.Expires.Equal(short.Token.Expires) {
		t.Fatalf("rotated expiry %v, want the old one %v", kept.Token.Expires, short.Token.Expires)
	}
}

// TestExpiringWithinListing: ListOptions.ExpiringWithin lists only the
// live tokens that expire within the window, in both orders and paged by
// cursors; a negative window, and the option on a user listing, are
// refused.
func TestExpiringWithinListing(t *testing.T) {
	clock := storetest.NewClock(time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC))
	m, _ := newManager(t, &apitoken.Options{Now: clock.Now})
	u, err := m.AddUser(ctx, apitoken.NewUser{Account: "acme", Name: "a@example.com", Role: apitoken.Admin})
	if err != nil {
		t.Fatal(err)
	}
	l, err := m.StartSession(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	admin, err := m.Verify(ctx, l.Secret, "")
	if err != nil {
		t.Fatal(err)
	}
	byDays := map[int]string{}
	for _, d := range []int{30, 1, 6, 8, 3, 2, 5} {
		clock.Advance(time.Second)
		iss, err := m.Issue(ctx, admin, apitoken.IssueRequest{Expires: clock.Now().Add(time.Duration(d) * day)})
		if err != nil {
			t.Fatal(err)
		}
		byDays[d] = iss.Token.ID
	}
	if err := m.Revoke(ctx, admin, byDays[2]); err != nil {
		t.Fatal(err)
	}
	other, err := m.IssueFor(ctx, "other", "", apitoken.IssueRequest{Privilege: apitoken.Normal, Expires: clock.Now().Add(day)})
	if err != nil {
		t.Fatal(err)
	}
	list := func(o apitoken.ListOptions) []string {
		t.Helper()
		var got []string
		for {
			p, err := m.List(ctx, admin, o)
			if err != nil {
				t.Fatal(err)
			}
			for _, tk := range p.Items {
				got = append(got, tk.ID)
			}
			if p.Next == "" {
				return got
			}
			o.Cursor = p.Next
		}
	}
	ids := func(days ...int) string {
		var out []string
		for _, d := range days {
			out = append(out, byDays[d])
		}
		return fmt.Sprint(out)
	}
	for _, tc := range []struct {
		opts apitoken.ListOptions
		want string
	}{
		{apitoken.ListOptions{ExpiringWithin: 7 * day}, ids(1, 6, 3, 5)}, // issue order; revoked and later ones left out
		{apitoken.ListOptions{ExpiringWithin: 7 * day, Newest: true}, ids(5, 3, 6, 1)},
		{apitoken.ListOptions{ExpiringWithin: 7 * day, Limit: 1}, ids(1, 6, 3, 5)},
		{apitoken.ListOptions{ExpiringWithin: 7 * day, Limit: 3, Newest: true}, ids(5, 3, 6, 1)},
		{apitoken.ListOptions{ExpiringWithin: 2 * day}, ids(1)},
		{apitoken.ListOptions{}, ids(30, 1, 6, 8, 3, 5)},
	} {
		if got := fmt.Sprint(list(tc.opts)); got != tc.want {
			t.Errorf("%+v listed %s, want %s", tc.opts, got, tc.want)
		}
	}
	if got := fmt.Sprint(list(apitoken.ListOptions{ExpiringWithin: 7 * day})); strings.Contains(got, other.Token.ID) {
		t.Fatal("another account's token was listed")
	}
	clock.Advance(2 * day) // the 1-day token has expired, the 8-day one is 6 days from its end
	if l, err = m.StartSession(ctx, u.ID); err != nil {
		t.Fatal(err)
	}
	if admin, err = m.Verify(ctx, l.Secret, ""); err != nil {
		t.Fatal(err)
	}
	if got, want := fmt.Sprint(list(apitoken.ListOptions{ExpiringWithin: 7 * day})), ids(6, 8, 3, 5); got != want {
		t.Errorf("after two days: %s, want %s", got, want)
	}
	if _, err := m.List(ctx, admin, apitoken.ListOptions{ExpiringWithin: -day}); !errors.Is(err, apitoken.ErrInvalidArgument) {
		t.Errorf("a negative window: %v", err)
	}
	if _, err := m.ListUsers(ctx, admin, apitoken.ListOptions{ExpiringWithin: day}); !errors.Is(err, apitoken.ErrInvalidArgument) {
		t.Errorf("a user listing with a window: %v", err)
	}
}

// events collects the Events of one or more Managers.
type events struct {
	mu  sync.Mutex
	all []apitoken.Event
}

func (e *events) add(ev apitoken.Event) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.all = append(e.all, ev)
}

// expiring returns the IDs of the event.Expiring events so far, and forgets them.
func (e *events) expiring() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []string
	for _, ev := range e.all {
		if ev.Type == event.Expiring {
			out = append(out, ev.TokenID)
		}
	}
	e.all = nil
	return out
}

// TestExpiryWarningsAreReportedOnce: a live API token that enters the
// warning window is reported once, by whichever of several Managers over
// one store writes the marker first, and not again after a restart; a
// revoked token, a rotated-out secret and a token outside the window are
// not reported; a pass reports at most 100, and later passes the rest.
func TestExpiryWarningsAreReportedOnce(t *testing.T) {
	for _, open := range []struct {
		name  string
		store func(t *testing.T) apitoken.Store
	}{
		{"memstore", func(*testing.T) apitoken.Store { return memstore.New() }},
		{"bolt", func(t *testing.T) apitoken.Store {
			s, err := bolt.Open(filepath.Join(t.TempDir(), "tokens.db"), nil)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		}},
	} {
		t.Run(open.name, func(t *testing.T) {
			s := open.store(t)
			clock := storetest.NewClock(time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC))
			var ev events
			manager := func() *apitoken.Manager {
				m, err := apitoken.New(s, &apitoken.Options{Now: clock.Now, OnEvent: ev.add, PurgeInterval: -1})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { m.Close() })
				return m
			}
			a, b := manager(), manager()
			issue := func(d time.Duration) *apitoken.Token {
				iss, err := a.IssueFor(ctx, "acme", "", apitoken.IssueRequest{Privilege: apitoken.Admin, Expires: clock.Now().Add(d)})
				if err != nil {
					t.Fatal(err)
				}
				return iss.Token
			}
			purge := func(m *apitoken.Manager) {
				t.Helper()
				if _, err := m.Purge(ctx); err != nil {
					t.Fatal(err)
				}
			}
			soon, later, revoked := issue(3*day), issue(10*day), issue(2*day)
			rotatedOut := issue(30 * day)
			adminTok, err := a.IssueFor(ctx, "acme", "", apitoken.IssueRequest{Privilege: apitoken.Admin, Expires: clock.Now().Add(60 * day)})
			if err != nil {
				t.Fatal(err)
			}
			admin, err := a.Verify(ctx, adminTok.Secret, "")
			if err != nil {
				t.Fatal(err)
			}
			if err := a.Revoke(ctx, admin, revoked.ID); err != nil {
				t.Fatal(err)
			}
			successor, err := a.Rotate(ctx, admin, rotatedOut.ID, day) // the old secret ends in a day
			if err != nil {
				t.Fatal(err)
			}
			ev.expiring()

			purge(a)
			if got := ev.expiring(); fmt.Sprint(got) != fmt.Sprint([]string{soon.ID}) {
				t.Fatalf("first pass reported %v, want only %s", got, soon.ID)
			}
			purge(b) // another process sharing the store
			purge(a)
			if got := ev.expiring(); len(got) != 0 {
				t.Fatalf("reported again: %v", got)
			}
			c := manager() // a restart
			purge(c)
			if got := ev.expiring(); len(got) != 0 {
				t.Fatalf("reported again after a restart: %v", got)
			}
			stored, err := s.TokenByID(ctx, soon.ID)
			if err != nil {
				t.Fatal(err)
			}
			if !stored.ExpiryWarned.Equal(clock.Now()) {
				t.Fatalf("ExpiryWarned %v, want %v", stored.ExpiryWarned, clock.Now())
			}
			clock.Advance(4 * day) // the 10-day token is now 6 days from its end
			purge(b)
			if got := ev.expiring(); fmt.Sprint(got) != fmt.Sprint([]string{later.ID}) {
				t.Fatalf("after four days: %v, want %s", got, later.ID)
			}
			if _, err := a.Verify(ctx, successor.Secret, ""); err != nil {
				t.Fatal(err) // the successor is live, 26 days from its end: not reported
			}

			// A backlog of 250 is reported at most 100 per pass, each once,
			// with passes of two processes racing.
			want := map[string]bool{}
			for range 250 {
				want[issue(2*day).ID] = true
			}
			var wg sync.WaitGroup
			for _, m := range []*apitoken.Manager{a, b} {
				wg.Go(func() {
					if _, err := m.Purge(ctx); err != nil {
						t.Error(err)
					}
				})
			}
			wg.Wait()
			first := ev.expiring()
			if len(first) > 200 || len(first) < 100 {
				t.Fatalf("two passes reported %d, want 100 to 200", len(first))
			}
			got := map[string]int{}
			for _, id := range first {
				got[id]++
			}
			for range 3 {
				purge(a)
				for _, id := range ev.expiring() {
					got[id]++
				}
			}
			if len(got) != len(want) {
				t.Fatalf("reported %d tokens, want %d", len(got), len(want))
			}
			for id, n := range got {
				if n != 1 || !want[id] {
					t.Fatalf("token %s reported %d times (issued here: %v)", id, n, want[id])
				}
			}
		})
	}
}

// A negative ExpiryWarning turns the warnings off.
func TestExpiryWarningsCanBeTurnedOff(t *testing.T) {
	clock := storetest.NewClock(time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC))
	var ev events
	m, _ := newManager(t, &apitoken.Options{Now: clock.Now, OnEvent: ev.add, ExpiryWarning: -1})
	if _, err := m.IssueFor(ctx, "acme", "", apitoken.IssueRequest{Privilege: apitoken.Normal, Expires: clock.Now().Add(day)}); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Purge(ctx); err != nil {
		t.Fatal(err)
	}
	if got := ev.expiring(); len(got) != 0 {
		t.Fatalf("reported %v with warnings off", got)
	}
}

// Every event type has a name of its own; the expiry warning's is
// "token.expiring", and Options.Logger logs when the token lapses.
func TestEventNamesAndTheExpiringEvent(t *testing.T) {
	seen := map[string]event.Type{}
	for ty := event.Created; ty <= event.Expiring; ty++ {
		name := ty.String()
		if name == "unknown" || seen[name] != 0 {
			t.Fatalf("event %d is named %q (also %d)", ty, name, seen[name])
		}
		seen[name] = ty
	}
	if got := event.Expiring.String(); got != "token.expiring" {
		t.Fatalf("event.Expiring is %q", got)
	}
	var buf bytes.Buffer
	m, err := apitoken.New(memstore.New(), &apitoken.Options{Logger: slog.New(slog.NewTextHandler(&buf, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	iss, err := m.IssueFor(context.Background(), "acme", "", apitoken.IssueRequest{Privilege: apitoken.Normal, Expires: time.Now().Add(72 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Purge(context.Background()); err != nil {
		t.Fatal(err)
	}
	want := "expires=" + iss.Token.Expires.UTC().Format(time.RFC3339)
	if out := buf.String(); !strings.Contains(out, "token.expiring") || !strings.Contains(out, want) || !strings.Contains(out, "level=INFO") {
		t.Fatalf("logged %q, want token.expiring with %s", out, want)
	}
}
