package storetest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/apitoken/apitoken"
)

// newestCases check TokenQuery.Newest: listings newest first, in
// descending (Created, ID) order, paged after a position in that order.
var newestCases = []storeCase{
	{"ListTokens with Newest orders by Created then ID, both descending", func(t *testing.T, s apitoken.Store) {
		for _, tk := range []*apitoken.Token{
			Token(5, "acme", "u1"), Token(3, "acme", "u2"), Token(4, "acme", ""),
			Token(1, "other", "u1"), Token(2, "acme", "u1"),
		} {
			must(t, s.CreateToken(ctx, tk))
		}
		tie := Token(6, "acme", "u1")
		tie.Created = Token(2, "", "").Created // same Created as token 2; the greater ID comes first
		must(t, s.CreateToken(ctx, tie))
		for _, tc := range []struct {
			q    apitoken.TokenQuery
			want []int
		}{
			{apitoken.TokenQuery{Account: "acme", Newest: true}, []int{5, 4, 3, 6, 2}},
			{apitoken.TokenQuery{Account: "acme", UserID: "u1", Newest: true}, []int{5, 6, 2}},
			{apitoken.TokenQuery{Account: "acme", UserID: "u1", Kind: apitoken.KindAPI, Newest: true}, []int{5, 6, 2}},
			{apitoken.TokenQuery{Account: "acme", Kind: apitoken.KindSession, Newest: true}, nil},
			{apitoken.TokenQuery{Account: "acme", Newest: true, Limit: 2}, []int{5, 4}},
			{apitoken.TokenQuery{Account: "acme", Newest: true, After: tie.Position()}, []int{2}},
			{apitoken.TokenQuery{Account: "acme", Newest: true, After: Token(2, "", "").Position()}, nil},
			{apitoken.TokenQuery{Account: "nobody", Newest: true}, nil},
		} {
			got, err := s.ListTokens(ctx, tc.q)
			must(t, err)
			want := make([]string, len(tc.want))
			for i, n := range tc.want {
				want[i] = Token(n, "", "").ID
			}
			if fmt.Sprint(ids(got)) != fmt.Sprint(want) {
				t.Fatalf("%+v listed %s, want %s", tc.q, ids(got), want)
			}
		}
	}},
	{"ListTokens with Newest pages after a position: every record once, filters and limits kept", func(t *testing.T, s apitoken.Store) {
		for n := 1; n <= 30; n++ {
			user := []string{"u1", "u2", ""}[n%3]
			tk := Token(n, "acme", user)
			if n%4 == 0 && user != "" {
				tk = Session(n, "acme", user)
			}
			if n%5 == 0 { // ties in Created across users and kinds
				tk.Created = Token(n-1, "", "").Created
			}
			must(t, s.CreateToken(ctx, tk))
		}
		must(t, s.CreateToken(ctx, Token(31, "other", "u1")))
		for _, q := range []apitoken.TokenQuery{
			{Account: "acme"},
			{Account: "acme", Kind: apitoken.KindAPI},
			{Account: "acme", Kind: apitoken.KindSession},
			{Account: "acme", UserID: "u1"},
			{Account: "acme", UserID: "u1", Kind: apitoken.KindAPI},
			{Account: "acme", UserID: "u2", Kind: apitoken.KindSession},
		} {
			oldest, err := s.ListTokens(ctx, q)
			must(t, err)
			if len(oldest) < 3 {
				t.Fatalf("%+v: only %d records, the case needs more", q, len(oldest))
			}
			want := ids(oldest)
			slices.Reverse(want)
			q.Newest = true
			all, err := s.ListTokens(ctx, q)
			must(t, err)
			if fmt.Sprint(ids(all)) != fmt.Sprint(want) {
				t.Fatalf("%+v listed %s, want the oldest-first listing reversed, %s", q, ids(all), want)
			}
			for _, limit := range []int{1, 2, 3, 7} {
				var paged []string
				p := q
				for {
					p.Limit = limit
					page, err := s.ListTokens(ctx, p)
					must(t, err)
					if len(page) > limit {
						t.Fatalf("a page of %d records with limit %d", len(page), limit)
					}
					for _, tk := range page {
						if tk.Account != "acme" || (q.UserID != "" && tk.UserID != q.UserID) || (q.Kind != 0 && tk.Kind != q.Kind) {
							t.Fatalf("%+v listed %s of %s/%s, kind %v", q, tk.ID, tk.Account, tk.UserID, tk.Kind)
						}
					}
					paged = append(paged, ids(page)...)
					if len(page) < limit {
						break
					}
					p.After = page[len(page)-1].Position()
				}
				if fmt.Sprint(paged) != fmt.Sprint(want) {
					t.Fatalf("pages of %d of %+v gave %s, want %s (every record once, newest first)", limit, q, paged, want)
				}
			}
		}
		// A position between records (one deleted since) continues with
		// the older ones; a position newer than every record lists all.
		gone := Token(9, "acme", "u1")
		must(t, s.DeleteToken(ctx, gone.ID))
		rest, err := s.ListTokens(ctx, apitoken.TokenQuery{Account: "acme", UserID: "u1", Kind: apitoken.KindAPI, Newest: true, After: gone.Position(), Limit: 2})
		must(t, err)
		if got, want := fmt.Sprint(ids(rest)), fmt.Sprint([]string{Token(6, "", "").ID, Token(3, "", "").ID}); got != want {
			t.Fatalf("after a deleted record: %s, want %s", got, want)
		}
		future := apitoken.Position{Created: base.Add(time.Hour), ID: "a"}
		first, err := s.ListTokens(ctx, apitoken.TokenQuery{Account: "acme", Kind: apitoken.KindAPI, Newest: true, After: future, Limit: 1})
		must(t, err)
		if len(first) != 1 || first[0].ID != Token(30, "", "").ID { // 30 ties with 29 in Created
			t.Fatalf("after a future position: %s, want the newest record", ids(first))
		}
	}},
}
