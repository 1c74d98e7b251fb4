package storetest

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/apitoken/apitoken"
	"github.com/apitoken/apitoken/migrate"
)

// The optional capabilities migrate.Walker and migrate.Importer: Run
// checks them on every store that implements them and skips them on one
// that does not.

func walker(t *testing.T, s apitoken.Store) migrate.Walker {
	t.Helper()
	w, ok := s.(migrate.Walker)
	if !ok {
		t.Skip("the store is not a migrate.Walker")
	}
	return w
}

func importer(t *testing.T, s apitoken.Store) migrate.Importer {
	t.Helper()
	im, ok := s.(migrate.Importer)
	if !ok {
		t.Skip("the store is not a migrate.Importer")
	}
	return im
}

// walkAllTokens walks every token in pages of page records.
func walkAllTokens(t *testing.T, w migrate.Walker, after string, page int) []*apitoken.Token {
	t.Helper()
	var out []*apitoken.Token
	for {
		ts, err := w.WalkTokens(ctx, after, page)
		must(t, err)
		if len(ts) > page {
			t.Fatalf("WalkTokens returned %d records for a limit of %d", len(ts), page)
		}
		out = append(out, ts...)
		if len(ts) < page {
			return out
		}
		after = ts[len(ts)-1].ID
	}
}

func walkAllUsers(t *testing.T, w migrate.Walker, after string, page int) []*apitoken.User {
	t.Helper()
	var out []*apitoken.User
	for {
		us, err := w.WalkUsers(ctx, after, page)
		must(t, err)
		if len(us) > page {
			t.Fatalf("WalkUsers returned %d users for a limit of %d", len(us), page)
		}
		out = append(out, us...)
		if len(us) < page {
			return out
		}
		after = us[len(us)-1].ID
	}
}

// mixedRecords returns API tokens and sessions of two accounts, users
// and account tokens, with apps, usage and revocations, and users with
// throttling state: records as a live store holds them.
func mixedRecords() ([]*apitoken.Token, []*apitoken.User) {
	var ts []*apitoken.Token
	var us []*apitoken.User
	for n := 1; n <= 5; n++ {
		acct := []string{"acme", "globex"}[n%2]
		u := User(n, acct)
		u.MFAFailures, u.LoginWindowFailures = n, n+1
		u.LoginWindowStart = base.Add(time.Duration(n) * time.Minute)
		if n == 3 {
			u.MFASecret, u.Disabled = []byte("sealed secret"), true
		}
		us = append(us, u)
		tk := Token(n, acct, u.ID)
		tk.LastUsed = base.Add(time.Duration(n) * time.Hour)
		tk.Apps = []apitoken.App{{Name: "ci", State: apitoken.Allow, FirstSeen: base, LastSeen: tk.LastUsed}}
		if n == 2 {
			tk.Revoked = base.Add(time.Hour)
		}
		ts = append(ts, tk, Session(100+n, acct, u.ID), Token(200+n, acct, ""))
	}
	return ts, us
}

func tokenIDs(ts []*apitoken.Token) []string { return ids(ts) }

func userIDs(us []*apitoken.User) []string {
	out := make([]string, len(us))
	for i, u := range us {
		out[i] = u.ID
	}
	return out
}

var walkCases = []storeCase{
	{"WalkTokens and WalkUsers return every record once, equal to the stored one, in pages that resume from the last ID", func(t *testing.T, s apitoken.Store) {
		w := walker(t, s)
		if ts, err := w.WalkTokens(ctx, "", 10); err != nil || len(ts) != 0 {
			t.Fatalf("walk of an empty store: %d records, %v", len(ts), err)
		}
		ts, us := mixedRecords()
		for _, tk := range ts {
			must(t, s.CreateToken(ctx, tk))
		}
		for _, u := range us {
			must(t, s.CreateUser(ctx, u))
		}
		// Some versions above 1, and usage, as a live store has them.
		must(t, s.UpdateToken(ctx, ts[0]))
		must(t, s.UpdateUser(ctx, us[0]))
		must(t, s.TouchTokens(ctx, []apitoken.Touch{{ID: ts[3].ID, At: base.Add(99 * time.Hour), App: "ci"}}))
		apitoken.Touch{ID: ts[3].ID, At: base.Add(99 * time.Hour), App: "ci"}.Apply(ts[3])

		whole := walkAllTokens(t, w, "", 1000)
		for _, page := range []int{1, 2, 3, 7} {
			if got := walkAllTokens(t, w, "", page); fmt.Sprint(tokenIDs(got)) != fmt.Sprint(tokenIDs(whole)) {
				t.Fatalf("pages of %d walk %v, one page walks %v", page, tokenIDs(got), tokenIDs(whole))
			}
		}
		if got, want := len(whole), len(ts); got != want {
			t.Fatalf("walked %d tokens, stored %d", got, want)
		}
		byID := map[string]*apitoken.Token{}
		for _, tk := range ts {
			byID[tk.ID] = tk
		}
		for _, got := range whole {
			want := byID[got.ID]
			if want == nil {
				t.Fatalf("walked an unknown or repeated token %q", got.ID)
			}
			sameToken(t, got, want)
			delete(byID, got.ID)
		}
		// Resuming from any record continues with the records after it.
		for i := range whole {
			rest := walkAllTokens(t, w, whole[i].ID, 4)
			if fmt.Sprint(tokenIDs(rest)) != fmt.Sprint(tokenIDs(whole[i+1:])) {
				t.Fatalf("resumed after %q: %v, want %v", whole[i].ID, tokenIDs(rest), tokenIDs(whole[i+1:]))
			}
		}

		users := walkAllUsers(t, w, "", 2)
		if fmt.Sprint(userIDs(users)) != fmt.Sprint(userIDs(walkAllUsers(t, w, "", 100))) || len(users) != len(us) {
			t.Fatalf("walked users %v, stored %d", userIDs(users), len(us))
		}
		byUID := map[string]*apitoken.User{}
		for _, u := range us {
			byUID[u.ID] = u
		}
		for _, got := range users {
			if byUID[got.ID] == nil {
				t.Fatalf("walked an unknown or repeated user %q", got.ID)
			}
			sameUser(t, got, byUID[got.ID])
			delete(byUID, got.ID)
		}
		if _, err := w.WalkTokens(ctx, "", 0); !errors.Is(err, apitoken.ErrInvalidArgument) {
			t.Fatalf("a walk with limit 0: %v, want ErrInvalidArgument", err)
		}
	}},
	{"A walk returns once every record present throughout, whatever is created and deleted between pages", func(t *testing.T, s apitoken.Store) {
		w := walker(t, s)
		for n := 1; n <= 20; n++ {
			must(t, s.CreateToken(ctx, Token(n, "acme", "")))
		}
		first, err := w.WalkTokens(ctx, "", 5)
		must(t, err)
		seen := tokenIDs(first)
		rest := walkAllTokens(t, w, first[len(first)-1].ID, 3)
		order := append(slices.Clone(seen), tokenIDs(rest)...)
		// Again, changing the store after the first page: one record ahead
		// of the walk deleted, one behind it deleted, two created.
		s2 := rest[len(rest)/2].ID
		must(t, s.DeleteToken(ctx, s2))
		must(t, s.DeleteToken(ctx, first[0].ID))
		must(t, s.CreateToken(ctx, Token(30, "acme", "")))
		must(t, s.CreateToken(ctx, Token(31, "acme", "")))
		again := walkAllTokens(t, w, first[len(first)-1].ID, 3)
		count := map[string]int{}
		for _, id := range append(slices.Clone(seen), tokenIDs(again)...) {
			count[id]++
		}
		for _, id := range order {
			if id == s2 || id == first[0].ID {
				continue
			}
			if count[id] != 1 {
				t.Fatalf("record %q present throughout was walked %d times", id, count[id])
			}
		}
		if count[s2] != 0 {
			t.Fatalf("a record deleted ahead of the walk was walked")
		}
	}},
	{"ImportTokens and ImportUsers keep every field and Version, index the records, and importing twice adds nothing", func(t *testing.T, s apitoken.Store) {
		im := importer(t, s)
		ts, us := mixedRecords()
		for i, tk := range ts {
			tk.Version = uint64(1 + i%4)
		}
		for i, u := range us {
			u.Version = uint64(3 + i)
		}
		n, err := im.ImportUsers(ctx, us)
		must(t, err)
		if n != len(us) {
			t.Fatalf("ImportUsers added %d of %d", n, len(us))
		}
		n, err = im.ImportTokens(ctx, ts)
		must(t, err)
		if n != len(ts) {
			t.Fatalf("ImportTokens added %d of %d", n, len(ts))
		}
		for _, want := range ts {
			got, err := s.TokenByHash(ctx, want.Hash)
			must(t, err)
			sameToken(t, got, want)
			got, err = s.TokenByID(ctx, want.ID)
			must(t, err)
			sameToken(t, got, want)
		}
		for _, want := range us {
			got, err := s.UserByName(ctx, want.Name)
			must(t, err)
			sameUser(t, got, want)
		}
		// Indexed like created records: listings by account, user and kind.
		u := us[0]
		list, err := s.ListTokens(ctx, apitoken.TokenQuery{Account: u.Account, UserID: u.ID, Kind: apitoken.KindSession})
		must(t, err)
		if len(list) != 1 || list[0].Kind != apitoken.KindSession {
			t.Fatalf("imported session not listed for its user: %v", ids(list))
		}
		ul, err := s.ListUsers(ctx, apitoken.UserQuery{Account: u.Account})
		must(t, err)
		if len(ul) == 0 {
			t.Fatalf("imported users not listed")
		}
		// A compare-and-update continues from the imported version.
		c := ts[0].Clone()
		c.Description = "changed"
		must(t, s.UpdateToken(ctx, c))
		if c.Version != ts[0].Version+1 {
			t.Fatalf("update of an imported version %d gave %d", ts[0].Version, c.Version)
		}
		ts[0] = c
		// Twice: nothing added, nothing changed.
		if n, err := im.ImportTokens(ctx, ts); err != nil || n != 0 {
			t.Fatalf("second ImportTokens: added %d, %v", n, err)
		}
		if n, err := im.ImportUsers(ctx, us); err != nil || n != 0 {
			t.Fatalf("second ImportUsers: added %d, %v", n, err)
		}
		got, err := s.TokenByID(ctx, c.ID)
		must(t, err)
		sameToken(t, got, c)
	}},
	{"Import refuses a different record under a stored ID or hash, or a taken name, and stores nothing of the batch", func(t *testing.T, s apitoken.Store) {
		im := importer(t, s)
		stored := Token(1, "acme", "")
		must(t, s.CreateToken(ctx, stored))
		u := User(1, "acme")
		must(t, s.CreateUser(ctx, u))

		fresh := Token(2, "acme", "")
		fresh.Version = 1
		changed := stored.Clone()
		changed.Description = "another record"
		sameHash := Token(3, "acme", "")
		sameHash.Hash, sameHash.Version = stored.Hash, 1
		newer := stored.Clone()
		newer.Version = 2
		for name, bad := range map[string]*apitoken.Token{"other content": changed, "a stored hash": sameHash, "another version": newer} {
			if _, err := im.ImportTokens(ctx, []*apitoken.Token{fresh, bad}); !errors.Is(err, apitoken.ErrDuplicate) {
				t.Fatalf("import of %s: %v, want ErrDuplicate", name, err)
			}
			if _, err := s.TokenByID(ctx, fresh.ID); !errors.Is(err, apitoken.ErrNotFound) {
				t.Fatalf("a refused batch (%s) stored another record: %v", name, err)
			}
		}
		got, err := s.TokenByID(ctx, stored.ID)
		must(t, err)
		sameToken(t, got, stored)

		freshUser := User(2, "acme")
		freshUser.Version = 1
		other := User(3, "acme")
		other.Name, other.Version = u.Name, 1
		changedUser := u.Clone()
		changedUser.Role = apitoken.Admin
		for name, bad := range map[string]*apitoken.User{"a taken name": other, "other content": changedUser} {
			if _, err := im.ImportUsers(ctx, []*apitoken.User{freshUser, bad}); !errors.Is(err, apitoken.ErrDuplicate) {
				t.Fatalf("import of a user with %s: %v, want ErrDuplicate", name, err)
			}
			if _, err := s.UserByID(ctx, freshUser.ID); !errors.Is(err, apitoken.ErrNotFound) {
				t.Fatalf("a refused user batch (%s) stored another user: %v", name, err)
			}
		}
		noVersion := Token(4, "acme", "")
		if _, err := im.ImportTokens(ctx, []*apitoken.Token{noVersion}); !errors.Is(err, apitoken.ErrInvalidArgument) {
			t.Fatalf("import of a record without a version: %v, want ErrInvalidArgument", err)
		}
	}},
}
