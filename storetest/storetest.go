// Package storetest is the conformance suite every apitoken.Store must pass.
// A store's tests call it in one line:
//
//	func TestStore(t *testing.T) {
//		storetest.Run(t, func(tb testing.TB) apitoken.Store { return memstore.New() })
//	}
//
// newStore must return a fresh, empty store for every case and arrange its
// cleanup with tb.Cleanup; the suite may also Close it, so Close must be
// safe to call twice. The suite uses only the standard testing package.
package storetest

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apitoken/apitoken"
	"github.com/apitoken/apitoken/migrate"
)

// NewStoreFunc returns a fresh, empty store. See the package doc.
type NewStoreFunc func(tb testing.TB) apitoken.Store

// base is a fixed time so records compare exactly; stores must keep at least
// nanosecond precision of UTC times.
var base = time.Date(2026, 11, 22, 10, 30, 45, 123456789, time.UTC)

// Token returns a distinct, valid API token record for tests: its ID and
// hash derive from n. Exported for other suites that need sample records.
func Token(n int, account, userID string) *apitoken.Token {
	id := fmt.Sprintf("tok%013d", n)
	return &apitoken.Token{
		ID:              id,
		Hash:            sha256.Sum256([]byte(id)),
		Hint:            "atk_...abcd",
		Kind:            apitoken.KindAPI,
		Owner:           ownerOf(userID),
		Account:         account,
		UserID:          userID,
		CreatedBy:       userID,
		Lineage:         id,
		Description:     "token " + id,
		Type:            "generic",
		Privilege:       apitoken.Normal,
		DefaultAppState: apitoken.Allow,
		Created:         base.Add(time.Duration(n) * time.Second),
		Expires:         base.Add(10 * 365 * 24 * time.Hour),
	}
}

func ownerOf(userID string) apitoken.Owner {
	if userID == "" {
		return apitoken.OwnerAccount
	}
	return apitoken.OwnerUser
}

// Session returns a distinct, valid session record for tests, like Token.
func Session(n int, account, userID string) *apitoken.Token {
	t := Token(n, account, userID)
	t.Kind, t.Owner, t.Type, t.Unlocked = apitoken.KindSession, apitoken.OwnerUser, "session", true
	t.Expires = t.Created.Add(defaultAbsoluteTimeout)
	return t
}

// User returns a distinct user record for tests.
func User(n int, account string) *apitoken.User {
	return &apitoken.User{
		ID:           fmt.Sprintf("usr%013d", n),
		Account:      account,
		Name:         fmt.Sprintf("user%d@example.com", n),
		Role:         apitoken.Normal,
		PasswordHash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA",
		Created:      base.Add(time.Duration(n) * time.Second),
	}
}

// Run runs every conformance case against stores from newStore.
func Run(t *testing.T, newStore NewStoreFunc) {
	for _, c := range slices.Concat(cases, newestCases, expiryCases, walkCases, scopeCases, keyringCases, validateCases) {
		t.Run(c.name, func(t *testing.T) {
			c.run(t, newStore(t))
		})
	}
}

type storeCase struct {
	name string
	run  func(t *testing.T, s apitoken.Store)
}

var ctx = context.Background()

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("unexpected error: %v", err)
	}
}

func wantErr(t *testing.T, got, want error) {
	t.Helper()
	if !errors.Is(got, want) {
		t.Fatalf("got error %v, want %v", got, want)
	}
}

// sameToken compares records field by field, times with Equal.
func sameToken(t *testing.T, got, want *apitoken.Token) {
	t.Helper()
	g, w := normToken(got), normToken(want)
	if !reflect.DeepEqual(g, w) {
		t.Fatalf("record differs:\n got %+v\nwant %+v", g, w)
	}
}

func normToken(t *apitoken.Token) *apitoken.Token {
	c := t.Clone()
	for _, p := range []*time.Time{&c.Created, &c.LastUsed, &c.Expires, &c.Revoked, &c.ExpiryWarned} {
		*p = p.UTC()
	}
	if len(c.Apps) == 0 {
		c.Apps = nil
	}
	if len(c.Scopes) == 0 {
		c.Scopes = nil
	}
	if len(c.AllowedCIDRs) == 0 {
		c.AllowedCIDRs = nil
	}
	for i := range c.Apps {
		c.Apps[i].FirstSeen = c.Apps[i].FirstSeen.UTC()
		c.Apps[i].LastSeen = c.Apps[i].LastSeen.UTC()
	}
	return c
}

func sameUser(t *testing.T, got, want *apitoken.User) {
	t.Helper()
	g, w := got.Clone(), want.Clone()
	for _, u := range []*apitoken.User{g, w} {
		u.Created = u.Created.UTC()
		u.SessionsValidAfter = u.SessionsValidAfter.UTC()
		u.MFAWindowStart = u.MFAWindowStart.UTC()
		u.LoginWindowStart = u.LoginWindowStart.UTC()
		if len(u.MFASecret) == 0 {
			u.MFASecret = nil
		}
		if len(u.MFAPending) == 0 {
			u.MFAPending = nil
		}
	}
	if !reflect.DeepEqual(g, w) {
		t.Fatalf("user differs:\n got %+v\nwant %+v", g, w)
	}
}

func ids(ts []*apitoken.Token) []string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = t.ID
	}
	return out
}

var cases = []storeCase{
	{"CreateToken then TokenByHash and TokenByID return an equal record with Version 1", func(t *testing.T, s apitoken.Store) {
		want := Token(1, "acme", "u1")
		want.Apps = []apitoken.App{{Name: "grafana", State: apitoken.Pending, FirstSeen: base, LastSeen: base}}
		want.Revoked = base.Add(time.Hour)
		want.Origin = "tok0000000000009"
		must(t, s.CreateToken(ctx, want))
		if want.Version != 1 {
			t.Fatalf("CreateToken set Version %d, want 1", want.Version)
		}
		byHash, err := s.TokenByHash(ctx, want.Hash)
		must(t, err)
		sameToken(t, byHash, want)
		byID, err := s.TokenByID(ctx, want.ID)
		must(t, err)
		sameToken(t, byID, want)
	}},
	{"TokenByID of a missing ID returns ErrNotFound", func(t *testing.T, s apitoken.Store) {
		_, err := s.TokenByID(ctx, "missing")
		wantErr(t, err, apitoken.ErrNotFound)
	}},
	{"TokenByHash of a missing hash returns ErrNotFound", func(t *testing.T, s apitoken.Store) {
		must(t, s.CreateToken(ctx, Token(1, "acme", "u1")))
		_, err := s.TokenByHash(ctx, sha256.Sum256([]byte("other")))
		wantErr(t, err, apitoken.ErrNotFound)
	}},
	{"CreateToken with a taken ID returns ErrDuplicate and keeps the first", func(t *testing.T, s apitoken.Store) {
		first := Token(1, "acme", "u1")
		must(t, s.CreateToken(ctx, first))
		dup := Token(2, "acme", "u1")
		dup.ID = first.ID
		wantErr(t, s.CreateToken(ctx, dup), apitoken.ErrDuplicate)
		_, err := s.TokenByHash(ctx, dup.Hash)
		wantErr(t, err, apitoken.ErrNotFound)
		got, err := s.TokenByID(ctx, first.ID)
		must(t, err)
		sameToken(t, got, first)
	}},
	{"CreateToken with a taken hash returns ErrDuplicate and stores nothing", func(t *testing.T, s apitoken.Store) {
		first := Token(1, "acme", "u1")
		must(t, s.CreateToken(ctx, first))
		dup := Token(2, "acme", "u1")
		dup.Hash = first.Hash
		wantErr(t, s.CreateToken(ctx, dup), apitoken.ErrDuplicate)
		_, err := s.TokenByID(ctx, dup.ID)
		wantErr(t, err, apitoken.ErrNotFound)
	}},
	{"Records returned are copies the caller owns", func(t *testing.T, s apitoken.Store) {
		in := Token(1, "acme", "u1")
		in.Apps = []apitoken.App{{Name: "a", State: apitoken.Allow, FirstSeen: base, LastSeen: base}}
		must(t, s.CreateToken(ctx, in))
		want := in.Clone()
		in.Description = "changed after create"
		in.Apps[0].Name = "changed"
		got, err := s.TokenByID(ctx, want.ID)
		must(t, err)
		got.Description = "changed after read"
		got.Apps[0].State = apitoken.Deny
		again, err := s.TokenByHash(ctx, want.Hash)
		must(t, err)
		sameToken(t, again, want)
		list, err := s.ListTokens(ctx, apitoken.TokenQuery{Account: "acme"})
		must(t, err)
		list[0].Apps[0].Name = "changed in list"
		again, err = s.TokenByID(ctx, want.ID)
		must(t, err)
		sameToken(t, again, want)
	}},
	{"ListTokens filters by account and user and orders by Created then ID", func(t *testing.T, s apitoken.Store) {
		for _, tk := range []*apitoken.Token{
			Token(5, "acme", "u1"), Token(3, "acme", "u2"), Token(4, "acme", ""),
			Token(1, "other", "u1"), Token(2, "acme", "u1"),
		} {
			must(t, s.CreateToken(ctx, tk))
		}
		tie := Token(6, "acme", "u1")
		tie.Created = Token(2, "", "").Created // same Created as token 2; ID breaks the tie
		must(t, s.CreateToken(ctx, tie))
		all, err := s.ListTokens(ctx, apitoken.TokenQuery{Account: "acme"})
		must(t, err)
		if got, want := fmt.Sprint(ids(all)), fmt.Sprint([]string{"tok0000000000002", "tok0000000000006", "tok0000000000003", "tok0000000000004", "tok0000000000005"}); got != want {
			t.Fatalf("account listing %s, want %s", got, want)
		}
		mine, err := s.ListTokens(ctx, apitoken.TokenQuery{Account: "acme", UserID: "u1"})
		must(t, err)
		if got, want := fmt.Sprint(ids(mine)), fmt.Sprint([]string{"tok0000000000002", "tok0000000000006", "tok0000000000005"}); got != want {
			t.Fatalf("user listing %s, want %s", got, want)
		}
		none, err := s.ListTokens(ctx, apitoken.TokenQuery{Account: "nobody"})
		must(t, err)
		if len(none) != 0 {
			t.Fatalf("unknown account listed %d tokens", len(none))
		}
	}},
	{"ListTokens keeps one kind and pages after a position with a limit", func(t *testing.T, s apitoken.Store) {
		for n := 1; n <= 9; n++ {
			tk := Token(n, "acme", "u1")
			if n%3 == 0 {
				tk = Session(n, "acme", "u1")
			}
			must(t, s.CreateToken(ctx, tk))
		}
		api, err := s.ListTokens(ctx, apitoken.TokenQuery{Account: "acme", Kind: apitoken.KindAPI})
		must(t, err)
		if got, want := fmt.Sprint(ids(api)), fmt.Sprint(ids([]*apitoken.Token{Token(1, "", ""), Token(2, "", ""), Token(4, "", ""), Token(5, "", ""), Token(7, "", ""), Token(8, "", "")})); got != want {
			t.Fatalf("API tokens %s, want %s", got, want)
		}
		sessions, err := s.ListTokens(ctx, apitoken.TokenQuery{Account: "acme", UserID: "u1", Kind: apitoken.KindSession})
		must(t, err)
		if len(sessions) != 3 || sessions[0].Kind != apitoken.KindSession {
			t.Fatalf("sessions of u1: %s", ids(sessions))
		}
		for _, q := range []apitoken.TokenQuery{
			{Account: "acme", Kind: apitoken.KindAPI},
			{Account: "acme", UserID: "u1", Kind: apitoken.KindAPI},
			{Account: "acme"},
		} {
			want, err := s.ListTokens(ctx, q)
			must(t, err)
			var paged []*apitoken.Token
			for {
				q.Limit = 2
				page, err := s.ListTokens(ctx, q)
				must(t, err)
				if len(page) > 2 {
					t.Fatalf("a page of %d records with limit 2", len(page))
				}
				paged = append(paged, page...)
				if len(page) < 2 {
					break
				}
				q.After = page[len(page)-1].Position()
			}
			if fmt.Sprint(ids(paged)) != fmt.Sprint(ids(want)) {
				t.Fatalf("pages of %+v gave %s, want %s", q, ids(paged), ids(want))
			}
		}
		// A position between records (one deleted since) continues after it.
		gone := Token(4, "acme", "u1")
		must(t, s.DeleteToken(ctx, gone.ID))
		rest, err := s.ListTokens(ctx, apitoken.TokenQuery{Account: "acme", Kind: apitoken.KindAPI, After: gone.Position(), Limit: 2})
		must(t, err)
		if got, want := fmt.Sprint(ids(rest)), fmt.Sprint([]string{Token(5, "", "").ID, Token(7, "", "").ID}); got != want {
			t.Fatalf("after a deleted record: %s, want %s", got, want)
		}
	}},
	{"PurgeTokens removes ended records of one kind in bounded batches and nothing live", func(t *testing.T, s apitoken.Store) {
		now := base.Add(100 * 24 * time.Hour)
		var live, ended []*apitoken.Token
		for n := 1; n <= 40; n++ {
			tk := Token(n, "acme", "u1")
			switch n % 4 {
			case 0: // revoked long ago
				tk.Revoked = now.Add(-48 * time.Hour)
				ended = append(ended, tk)
			case 1: // expired long ago
				tk.Expires = now.Add(-48 * time.Hour)
				ended = append(ended, tk)
			case 2: // revoked just now: kept for the retention
				tk.Revoked = now.Add(-time.Minute)
				live = append(live, tk)
			default:
				live = append(live, tk)
			}
			must(t, s.CreateToken(ctx, tk))
		}
		idle := Session(41, "acme", "u1")
		idle.Expires = now.Add(time.Hour)
		idle.LastUsed = now.Add(-2 * time.Hour)
		active := Session(42, "acme", "u1")
		active.Expires = now.Add(time.Hour)
		active.LastUsed = now.Add(-time.Minute)
		expired := Session(43, "acme", "u1")
		expired.Expires = now.Add(-time.Second)
		for _, tk := range []*apitoken.Token{idle, active, expired} {
			must(t, s.CreateToken(ctx, tk))
		}
		// A later use of the idle session, touched after creation, keeps it.
		touched := Session(44, "acme", "u1")
		touched.Expires = now.Add(time.Hour)
		must(t, s.CreateToken(ctx, touched))
		must(t, s.TouchTokens(ctx, []apitoken.Touch{{ID: touched.ID, At: now.Add(-time.Minute)}}))
		q := apitoken.PurgeQuery{Kind: apitoken.KindAPI, EndedBefore: now.Add(-24 * time.Hour), Limit: 7}
		total := 0
		for {
			n, err := s.PurgeTokens(ctx, q)
			must(t, err)
			if n > q.Limit {
				t.Fatalf("a batch of %d with limit %d", n, q.Limit)
			}
			total += n
			if n < q.Limit {
				break
			}
		}
		if total != len(ended) {
			t.Fatalf("purged %d API tokens, want %d", total, len(ended))
		}
		for _, tk := range ended {
			_, err := s.TokenByID(ctx, tk.ID)
			wantErr(t, err, apitoken.ErrNotFound)
			_, err = s.TokenByHash(ctx, tk.Hash)
			wantErr(t, err, apitoken.ErrNotFound)
		}
		for _, tk := range append(live, idle, active, expired, touched) {
			_, err := s.TokenByID(ctx, tk.ID)
			must(t, err)
		}
		n, err := s.PurgeTokens(ctx, apitoken.PurgeQuery{Kind: apitoken.KindSession, EndedBefore: now, IdleBefore: now.Add(-30 * time.Minute), Limit: 100})
		must(t, err)
		if n != 2 {
			t.Fatalf("purged %d sessions, want the idle and the expired one", n)
		}
		for _, tk := range []*apitoken.Token{active, touched} {
			_, err := s.TokenByID(ctx, tk.ID)
			must(t, err)
		}
		left, err := s.ListTokens(ctx, apitoken.TokenQuery{Account: "acme", UserID: "u1"})
		must(t, err)
		if len(left) != len(live)+2 {
			t.Fatalf("%d records listed after the purges, want %d", len(left), len(live)+2)
		}
	}},
	{"UpdateToken with the current Version replaces the record and increments Version", func(t *testing.T, s apitoken.Store) {
		tk := Token(1, "acme", "u1")
		must(t, s.CreateToken(ctx, tk))
		tk.Description = "renamed"
		tk.Privilege = apitoken.ReadOnly
		tk.Apps = append(tk.Apps, apitoken.App{Name: "ci", State: apitoken.Deny, FirstSeen: base, LastSeen: base})
		must(t, s.UpdateToken(ctx, tk))
		if tk.Version != 2 {
			t.Fatalf("Version after update %d, want 2", tk.Version)
		}
		got, err := s.TokenByHash(ctx, tk.Hash)
		must(t, err)
		sameToken(t, got, tk)
	}},
	{"UpdateToken with a stale Version returns ErrConflict and changes nothing", func(t *testing.T, s apitoken.Store) {
		tk := Token(1, "acme", "u1")
		must(t, s.CreateToken(ctx, tk))
		stale := tk.Clone()
		tk.Description = "first"
		must(t, s.UpdateToken(ctx, tk))
		stale.Description = "second"
		wantErr(t, s.UpdateToken(ctx, stale), apitoken.ErrConflict)
		got, err := s.TokenByID(ctx, tk.ID)
		must(t, err)
		sameToken(t, got, tk)
	}},
	{"UpdateToken of a missing ID returns ErrNotFound and creates nothing", func(t *testing.T, s apitoken.Store) {
		tk := Token(1, "acme", "u1")
		tk.Version = 1
		wantErr(t, s.UpdateToken(ctx, tk), apitoken.ErrNotFound)
		_, err := s.TokenByHash(ctx, tk.Hash)
		wantErr(t, err, apitoken.ErrNotFound)
	}},
	{"UpdateToken that changes Hash, Kind or Account returns ErrInvalidArgument", func(t *testing.T, s apitoken.Store) {
		tk := Token(1, "acme", "u1")
		must(t, s.CreateToken(ctx, tk))
		for name, mutate := range map[string]func(*apitoken.Token){
			"hash":    func(c *apitoken.Token) { c.Hash = sha256.Sum256([]byte("new")) },
			"kind":    func(c *apitoken.Token) { c.Kind = apitoken.KindSession },
			"account": func(c *apitoken.Token) { c.Account = "other" },
		} {
			c := tk.Clone()
			mutate(c)
			if err := s.UpdateToken(ctx, c); !errors.Is(err, apitoken.ErrInvalidArgument) {
				t.Fatalf("changing %s: got %v, want ErrInvalidArgument", name, err)
			}
		}
		got, err := s.TokenByHash(ctx, tk.Hash)
		must(t, err)
		sameToken(t, got, tk)
	}},
	{"UpdateToken that moves a token to the account moves it out of the user listing", func(t *testing.T, s apitoken.Store) {
		tk := Token(1, "acme", "u1")
		must(t, s.CreateToken(ctx, tk))
		tk.Owner, tk.UserID = apitoken.OwnerAccount, ""
		must(t, s.UpdateToken(ctx, tk))
		mine, err := s.ListTokens(ctx, apitoken.TokenQuery{Account: "acme", UserID: "u1"})
		must(t, err)
		if len(mine) != 0 {
			t.Fatalf("user listing still has %v", ids(mine))
		}
		all, err := s.ListTokens(ctx, apitoken.TokenQuery{Account: "acme"})
		must(t, err)
		if len(all) != 1 || all[0].Owner != apitoken.OwnerAccount {
			t.Fatalf("account listing %v", ids(all))
		}
	}},
	{"Exactly one of 64 concurrent UpdateTokens from one Version succeeds", func(t *testing.T, s apitoken.Store) {
		tk := Token(1, "acme", "u1")
		must(t, s.CreateToken(ctx, tk))
		var wins, conflicts atomic.Int32
		var wg sync.WaitGroup
		for i := range 64 {
			c := tk.Clone()
			c.Description = fmt.Sprint("writer ", i)
			wg.Go(func() {
				switch err := s.UpdateToken(ctx, c); {
				case err == nil:
					wins.Add(1)
				case errors.Is(err, apitoken.ErrConflict):
					conflicts.Add(1)
				default:
					t.Errorf("unexpected error %v", err)
				}
			})
		}
		wg.Wait()
		if wins.Load() != 1 || conflicts.Load() != 63 {
			t.Fatalf("%d wins and %d conflicts, want 1 and 63", wins.Load(), conflicts.Load())
		}
	}},
	{"DeleteToken removes the record and its hash; deleting a missing ID is not an error", func(t *testing.T, s apitoken.Store) {
		tk := Token(1, "acme", "u1")
		must(t, s.CreateToken(ctx, tk))
		must(t, s.DeleteToken(ctx, tk.ID))
		_, err := s.TokenByHash(ctx, tk.Hash)
		wantErr(t, err, apitoken.ErrNotFound)
		_, err = s.TokenByID(ctx, tk.ID)
		wantErr(t, err, apitoken.ErrNotFound)
		list, err := s.ListTokens(ctx, apitoken.TokenQuery{Account: "acme", UserID: "u1"})
		must(t, err)
		if len(list) != 0 {
			t.Fatalf("deleted token still listed")
		}
		must(t, s.DeleteToken(ctx, tk.ID))
		must(t, s.CreateToken(ctx, tk)) // the hash is free again
	}},
	{"TouchTokens moves LastUsed and app LastSeen forward only and keeps Version", func(t *testing.T, s apitoken.Store) {
		tk := Token(1, "acme", "u1")
		tk.Apps = []apitoken.App{{Name: "ci", State: apitoken.Allow, FirstSeen: base, LastSeen: base}}
		must(t, s.CreateToken(ctx, tk))
		later := base.Add(time.Hour)
		must(t, s.TouchTokens(ctx, []apitoken.Touch{
			{ID: tk.ID, At: later, App: "ci"},
			{ID: tk.ID, At: base.Add(time.Minute), App: "ci"}, // older: ignored
			{ID: "missing", At: later},
			{ID: tk.ID, At: later, App: "unknown-app"},
		}))
		got, err := s.TokenByID(ctx, tk.ID)
		must(t, err)
		if !got.LastUsed.Equal(later) || !got.Apps[0].LastSeen.Equal(later) {
			t.Fatalf("LastUsed %v, app LastSeen %v, want both %v", got.LastUsed, got.Apps[0].LastSeen, later)
		}
		if got.Version != tk.Version || len(got.Apps) != 1 {
			t.Fatalf("touch changed Version (%d→%d) or apps (%d)", tk.Version, got.Version, len(got.Apps))
		}
		tk.Description = "update after touch still succeeds"
		must(t, s.UpdateToken(ctx, tk))
	}},
	{"CreateUser then UserByID and UserByName return an equal user with Version 1", func(t *testing.T, s apitoken.Store) {
		u := User(1, "acme")
		u.MFASecret = []byte("12345678901234567890")
		u.MFALastStep = 42
		u.SessionsValidAfter = base
		u.MFAPending = []byte("pending sealed secret")
		u.MFAFailures, u.MFAWindowFailures, u.LoginWindowFailures = 7, 3, 11
		u.MFAWindowStart, u.LoginWindowStart = base.Add(time.Minute), base.Add(2*time.Minute)
		must(t, s.CreateUser(ctx, u))
		if u.Version != 1 {
			t.Fatalf("Version %d, want 1", u.Version)
		}
		got, err := s.UserByID(ctx, u.ID)
		must(t, err)
		sameUser(t, got, u)
		got, err = s.UserByName(ctx, u.Name)
		must(t, err)
		sameUser(t, got, u)
	}},
	{"UserByID and UserByName of missing users return ErrNotFound", func(t *testing.T, s apitoken.Store) {
		_, err := s.UserByID(ctx, "missing")
		wantErr(t, err, apitoken.ErrNotFound)
		_, err = s.UserByName(ctx, "missing@example.com")
		wantErr(t, err, apitoken.ErrNotFound)
	}},
	{"CreateUser with a taken ID or name returns ErrDuplicate", func(t *testing.T, s apitoken.Store) {
		u := User(1, "acme")
		must(t, s.CreateUser(ctx, u))
		sameID := User(2, "acme")
		sameID.ID = u.ID
		wantErr(t, s.CreateUser(ctx, sameID), apitoken.ErrDuplicate)
		sameName := User(3, "other")
		sameName.Name = u.Name
		wantErr(t, s.CreateUser(ctx, sameName), apitoken.ErrDuplicate)
		_, err := s.UserByID(ctx, sameName.ID)
		wantErr(t, err, apitoken.ErrNotFound)
	}},
	{"ListUsers returns one account's users in creation order", func(t *testing.T, s apitoken.Store) {
		for _, u := range []*apitoken.User{User(3, "acme"), User(1, "acme"), User(2, "other")} {
			must(t, s.CreateUser(ctx, u))
		}
		us, err := s.ListUsers(ctx, apitoken.UserQuery{Account: "acme"})
		must(t, err)
		if len(us) != 2 || us[0].ID != User(1, "").ID || us[1].ID != User(3, "").ID {
			t.Fatalf("ListUsers gave %d users", len(us))
		}
		page, err := s.ListUsers(ctx, apitoken.UserQuery{Account: "acme", Limit: 1})
		must(t, err)
		if len(page) != 1 || page[0].ID != User(1, "").ID {
			t.Fatalf("first page of one: %d users", len(page))
		}
		page, err = s.ListUsers(ctx, apitoken.UserQuery{Account: "acme", After: page[0].Position(), Limit: 1})
		must(t, err)
		if len(page) != 1 || page[0].ID != User(3, "").ID {
			t.Fatalf("second page of one: %d users", len(page))
		}
	}},
	{"UpdateUser is a compare-and-update that keeps the name index right", func(t *testing.T, s apitoken.Store) {
		u := User(1, "acme")
		must(t, s.CreateUser(ctx, u))
		other := User(2, "acme")
		must(t, s.CreateUser(ctx, other))
		stale := u.Clone()
		u.Name, u.Role, u.Disabled = "renamed@example.com", apitoken.Admin, true
		must(t, s.UpdateUser(ctx, u))
		if u.Version != 2 {
			t.Fatalf("Version %d, want 2", u.Version)
		}
		wantErr(t, s.UpdateUser(ctx, stale), apitoken.ErrConflict)
		got, err := s.UserByName(ctx, "renamed@example.com")
		must(t, err)
		sameUser(t, got, u)
		_, err = s.UserByName(ctx, User(1, "").Name)
		wantErr(t, err, apitoken.ErrNotFound)
		taken := u.Clone()
		taken.Name = other.Name
		wantErr(t, s.UpdateUser(ctx, taken), apitoken.ErrDuplicate)
		moved := u.Clone()
		moved.Account = "other"
		wantErr(t, s.UpdateUser(ctx, moved), apitoken.ErrInvalidArgument)
		missing := User(9, "acme")
		missing.Version = 1
		wantErr(t, s.UpdateUser(ctx, missing), apitoken.ErrNotFound)
	}},
	{"DeleteUser removes the user and frees the name; deleting a missing ID is not an error", func(t *testing.T, s apitoken.Store) {
		u := User(1, "acme")
		must(t, s.CreateUser(ctx, u))
		must(t, s.DeleteUser(ctx, u.ID))
		_, err := s.UserByID(ctx, u.ID)
		wantErr(t, err, apitoken.ErrNotFound)
		_, err = s.UserByName(ctx, u.Name)
		wantErr(t, err, apitoken.ErrNotFound)
		must(t, s.DeleteUser(ctx, u.ID))
		must(t, s.CreateUser(ctx, User(1, "acme")))
	}},
	{"Calls with a cancelled context fail with its error", func(t *testing.T, s apitoken.Store) {
		c, cancel := context.WithCancel(ctx)
		cancel()
		wantErr(t, s.CreateToken(c, Token(1, "acme", "u1")), context.Canceled)
		_, err := s.TokenByID(c, "x")
		wantErr(t, err, context.Canceled)
		_, err = s.TokenByID(ctx, Token(1, "", "").ID)
		wantErr(t, err, apitoken.ErrNotFound)
	}},
	{"Calls after Close fail with ErrClosed and Close is idempotent", func(t *testing.T, s apitoken.Store) {
		must(t, s.Close())
		wantErr(t, s.CreateToken(ctx, Token(1, "acme", "u1")), apitoken.ErrClosed)
		_, err := s.TokenByHash(ctx, Token(1, "", "").Hash)
		wantErr(t, err, apitoken.ErrClosed)
		_, err = s.UserByName(ctx, "x")
		wantErr(t, err, apitoken.ErrClosed)
		must(t, s.Close())
	}},
}

// Benchmark measures the store's hot read (TokenByHash, in parallel over
// 10,000 tokens), its create path, and a newest-first page of 25 from the
// middle of a user's listing of 1,000 and of 10,000 tokens, with
// allocations reported. A store with ordered indexes pages in about the
// same time at both sizes.
func Benchmark(b *testing.B, newStore NewStoreFunc) {
	for _, n := range []int{1_000, 10_000} {
		b.Run(fmt.Sprintf("ListTokensNewestPage/tokens=%d", n), func(b *testing.B) {
			s := newStore(b)
			ts := make([]*apitoken.Token, n)
			for i := range ts {
				ts[i] = Token(i, "acme", "u1")
				ts[i].Version = 1
			}
			if imp, ok := s.(migrate.Importer); ok {
				if _, err := imp.ImportTokens(ctx, ts); err != nil {
					b.Fatal(err)
				}
			} else {
				for _, tk := range ts {
					if err := s.CreateToken(ctx, tk); err != nil {
						b.Fatal(err)
					}
				}
			}
			q := apitoken.TokenQuery{Account: "acme", UserID: "u1", Kind: apitoken.KindAPI, Newest: true, After: ts[n/2].Position(), Limit: 25}
			b.ReportAllocs()
			for b.Loop() {
				page, err := s.ListTokens(ctx, q)
				if err != nil || len(page) != 25 || page[0].ID != ts[n/2-1].ID {
					b.Fatalf("a page of %d starting %v: %v", len(page), ids(page[:min(len(page), 1)]), err)
				}
			}
		})
	}
	b.Run("TokenByHash", func(b *testing.B) {
		s := newStore(b)
		const n = 10_000
		hashes := make([]apitoken.Hash, n)
		for i := range n {
			tk := Token(i, "acme", "u1")
			if err := s.CreateToken(ctx, tk); err != nil {
				b.Fatal(err)
			}
			hashes[i] = tk.Hash
		}
		b.ReportAllocs()
		b.ResetTimer()
		var next atomic.Uint64
		b.RunParallel(func(pb *testing.PB) {
			i := int(next.Add(7919))
			for pb.Next() {
				i++
				if _, err := s.TokenByHash(ctx, hashes[i%n]); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
	b.Run("CreateToken", func(b *testing.B) {
		s := newStore(b)
		var next atomic.Int64
		b.ReportAllocs()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := s.CreateToken(ctx, Token(int(next.Add(1)), "acme", "u1")); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}
