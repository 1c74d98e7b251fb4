package storetest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/apitoken/apitoken"
)

// expiryCases check TokenQuery's expiry range (ExpiresBefore, ExpiresAfter,
// Unwarned) and Token.ExpiryWarned: the listing of tokens about to expire,
// with every other filter, both orders and paging, and the marker the
// Manager's expiry warnings set with a compare-and-update.
var expiryCases = []storeCase{
	{"ListTokens with ExpiresBefore keeps the live records expiring in the range, with every filter, order and page", func(t *testing.T, s apitoken.Store) {
		from, to := expiryPopulation(t, s)
		for _, q := range []apitoken.TokenQuery{
			{Account: "acme"},
			{Account: "acme", Kind: apitoken.KindAPI},
			{Account: "acme", Kind: apitoken.KindSession},
			{Account: "acme", UserID: "u1"},
			{Account: "acme", UserID: "u2", Kind: apitoken.KindAPI},
			{Account: "acme", Kind: apitoken.KindAPI, Unwarned: true},
			{Kind: apitoken.KindAPI, Unwarned: true}, // every account: the Manager's warning pass
			{Unwarned: true},
		} {
			q.ExpiresAfter, q.ExpiresBefore = from, to
			checkExpiringListing(t, s, q)
		}
	}},
	{"ListTokens without ExpiresBefore still lists revoked, expired and warned records", func(t *testing.T, s apitoken.Store) {
		expiryPopulation(t, s)
		all, err := s.ListTokens(ctx, apitoken.TokenQuery{Account: "acme"})
		must(t, err)
		var want []string
		for n := 1; n <= expiryRecords; n++ {
			if expiryAccount(n) == "acme" {
				want = append(want, Token(n, "", "").ID)
			}
		}
		if fmt.Sprint(ids(all)) != fmt.Sprint(want) {
			t.Fatalf("listed %s, want every acme record %s", ids(all), want)
		}
		// A query of no account without the warning form is refused or
		// empty, never every account's records.
		if none, err := s.ListTokens(ctx, apitoken.TokenQuery{Kind: apitoken.KindAPI}); err == nil && len(none) > 0 {
			t.Fatalf("a query with no account listed %s", ids(none))
		}
	}},
	{"ExpiryWarned is stored, kept by touches and set once by compare-and-update", func(t *testing.T, s apitoken.Store) {
		tk := Token(1, "acme", "u1")
		must(t, s.CreateToken(ctx, tk))
		got, err := s.TokenByID(ctx, tk.ID)
		must(t, err)
		if !got.ExpiryWarned.IsZero() {
			t.Fatalf("a new record has ExpiryWarned %v", got.ExpiryWarned)
		}
		a, b := got.Clone(), got.Clone()
		a.ExpiryWarned, b.ExpiryWarned = base.Add(time.Minute), base.Add(2*time.Minute)
		must(t, s.UpdateToken(ctx, a))
		wantErr(t, s.UpdateToken(ctx, b), apitoken.ErrConflict) // a second process, from the same version
		must(t, s.TouchTokens(ctx, []apitoken.Touch{{ID: tk.ID, At: base.Add(time.Hour)}}))
		got, err = s.TokenByID(ctx, tk.ID)
		must(t, err)
		if !got.ExpiryWarned.Equal(a.ExpiryWarned) || got.Version != a.Version {
			t.Fatalf("stored ExpiryWarned %v version %d, want %v version %d", got.ExpiryWarned, got.Version, a.ExpiryWarned, a.Version)
		}
		byHash, err := s.TokenByHash(ctx, tk.Hash)
		must(t, err)
		sameToken(t, byHash, got)
		// The warned record leaves the Unwarned range and stays in the plain one.
		q := apitoken.TokenQuery{Account: "acme", ExpiresAfter: base, ExpiresBefore: tk.Expires.Add(time.Second)}
		live, err := s.ListTokens(ctx, q)
		must(t, err)
		q.Unwarned = true
		unwarned, err := s.ListTokens(ctx, q)
		must(t, err)
		if len(live) != 1 || len(unwarned) != 0 {
			t.Fatalf("listed %s in the range and %s unwarned, want the record and nothing", ids(live), ids(unwarned))
		}
	}},
}

// expiryRecords is the size of expiryPopulation.
const expiryRecords = 60

func expiryAccount(n int) string {
	if n%6 == 5 {
		return "other"
	}
	return "acme"
}

// expiryPopulation stores expiryRecords records of two accounts, three
// owners and both kinds, with expiries before, inside and after the range
// it returns, some revoked and some already warned, with ties in Created.
func expiryPopulation(t *testing.T, s apitoken.Store) (from, to time.Time) {
	from, to = base.Add(24*time.Hour), base.Add(8*24*time.Hour)
	for n := 1; n <= expiryRecords; n++ {
		user := []string{"u1", "u2", ""}[n%3]
		tk := Token(n, expiryAccount(n), user)
		if n%4 == 0 && user != "" {
			tk = Session(n, tk.Account, user)
		}
		if n%7 == 0 {
			tk.Created = Token(n-1, "", "").Created
		}
		switch n % 5 {
		case 0:
			tk.Expires = from.Add(-time.Hour) // expired before the range
		case 1:
			tk.Expires = to.Add(time.Hour) // after it
		case 2:
			tk.Expires = to // at its end: outside
		default:
			tk.Expires = from.Add(time.Duration(n) * time.Hour) // inside
		}
		if n%8 == 3 {
			tk.Revoked = base.Add(time.Hour)
		}
		if n%9 == 4 {
			tk.ExpiryWarned = base.Add(2 * time.Hour)
		}
		must(t, s.CreateToken(ctx, tk))
	}
	return from, to
}

// checkExpiringListing compares q's listing, whole and in pages of several
// sizes, in both orders, with the records expiryPopulation stored that q
// should keep, judged here on their own.
func checkExpiringListing(t *testing.T, s apitoken.Store, q apitoken.TokenQuery) {
	t.Helper()
	var want []*apitoken.Token
	for n := 1; n <= expiryRecords; n++ {
		var tk *apitoken.Token
		for _, r := range mustList(t, s, apitoken.TokenQuery{Account: expiryAccount(n)}) {
			if r.ID == Token(n, "", "").ID {
				tk = r
			}
		}
		if tk == nil {
			t.Fatalf("record %d is missing", n)
		}
		if (q.Account != "" && tk.Account != q.Account) || (q.UserID != "" && tk.UserID != q.UserID) ||
			(q.Kind != 0 && tk.Kind != q.Kind) || !tk.Revoked.IsZero() || !tk.Expires.After(q.ExpiresAfter) ||
			!tk.Expires.Before(q.ExpiresBefore) || (q.Unwarned && !tk.ExpiryWarned.IsZero()) {
			continue
		}
		want = append(want, tk)
	}
	slices.SortFunc(want, func(a, b *apitoken.Token) int {
		if a.Position().Before(b.Position()) {
			return -1
		}
		return 1
	})
	if len(want) < 3 {
		t.Fatalf("%+v: only %d records to list, the case needs more", q, len(want))
	}
	for _, newest := range []bool{false, true} {
		w := ids(want)
		if newest {
			slices.Reverse(w)
		}
		q.Newest = newest
		all := mustList(t, s, q)
		if fmt.Sprint(ids(all)) != fmt.Sprint(w) {
			t.Fatalf("%+v listed %s, want %s", q, ids(all), w)
		}
		for _, limit := range []int{1, 2, 3, 7} {
			var paged []string
			p := q
			p.Limit = limit
			for {
				page := mustList(t, s, p)
				if len(page) > limit {
					t.Fatalf("a page of %d records with limit %d", len(page), limit)
				}
				paged = append(paged, ids(page)...)
				if len(page) < limit {
					break
				}
				p.After = page[len(page)-1].Position()
			}
			if fmt.Sprint(paged) != fmt.Sprint(w) {
				t.Fatalf("pages of %d of %+v gave %s, want %s (every record once)", limit, q, paged, w)
			}
		}
	}
}

func mustList(t *testing.T, s apitoken.Store, q apitoken.TokenQuery) []*apitoken.Token {
	t.Helper()
	ts, err := s.ListTokens(ctx, q)
	if err != nil {
		t.Fatalf("%+v: %v", q, err)
	}
	return ts
}
