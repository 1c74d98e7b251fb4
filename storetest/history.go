package storetest

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/apitoken/apitoken"
)

// runListingPages pages a listing through the Manager: every visible
// token once, in order, across pages; other users' tokens, revoked ones
// and sessions never shown; bad limits and cursors refused.
func runListingPages(t *testing.T, ns NewStoreFunc, _ LifecycleConfig) {
	e := newEnv(t, ns, nil)
	u := e.user(apitoken.Normal)
	_, s := e.session(u)
	_, other := e.session(e.user(apitoken.Normal))
	var want []string
	for i := range 23 {
		e.clock.Advance(time.Millisecond)
		switch i % 4 {
		case 1: // another user's, invisible to u
			e.issue(other, apitoken.IssueRequest{})
		case 2: // revoked: not listed
			iss := e.issue(s, apitoken.IssueRequest{})
			must(t, e.m.Revoke(ctx, s, iss.Token.ID))
		default:
			want = append(want, e.issue(s, apitoken.IssueRequest{}).Token.ID)
			e.session(u) // sessions never appear in a token listing
		}
	}
	var got []string
	opts := apitoken.ListOptions{Limit: 4}
	pages := 0
	for {
		page, err := e.m.List(ctx, s, opts)
		must(t, err)
		pages++
		if len(page.Items) > 4 {
			t.Fatalf("page of %d with limit 4", len(page.Items))
		}
		for _, tk := range page.Items {
			got = append(got, tk.ID)
		}
		if page.Next == "" {
			break
		}
		opts.Cursor = page.Next
	}
	if len(got) != len(want) || pages != (len(want)+3)/4 {
		t.Fatalf("%d tokens in %d pages, want %d in %d", len(got), pages, len(want), (len(want)+3)/4)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("token %d is %s, want %s (every token once, in order)", i, got[i], want[i])
		}
	}
	for _, bad := range []apitoken.ListOptions{{Limit: -1}, {Limit: 1001}, {Cursor: "not a cursor"}, {Cursor: "AAAA"}} {
		if _, err := e.m.List(ctx, s, bad); !errors.Is(err, apitoken.ErrInvalidArgument) {
			t.Errorf("List with %+v: %v, want ErrInvalidArgument", bad, err)
		}
	}
}

// runListingNewest pages a listing through the Manager newest first:
// every visible token once, in the reverse of the oldest-first order;
// a cursor never read in the other order; and a page of N reads about
// N records from the store, not the whole listing.
func runListingNewest(t *testing.T, ns NewStoreFunc, _ LifecycleConfig) {
	e := newEnv(t, ns, func(o *apitoken.Options) { o.MaxTokensPerUser = -1 })
	u := e.user(apitoken.Normal)
	_, s := e.session(u)
	_, other := e.session(e.user(apitoken.Normal))
	n := 150
	if Long() {
		n = 2000
	}
	var want []string
	for i := range n {
		e.clock.Advance(time.Millisecond)
		switch i % 6 {
		case 1:
			e.issue(other, apitoken.IssueRequest{})
		case 2:
			iss := e.issue(s, apitoken.IssueRequest{})
			must(t, e.m.Revoke(ctx, s, iss.Token.ID))
		default:
			want = append(want, e.issue(s, apitoken.IssueRequest{}).Token.ID)
		}
	}
	slices.Reverse(want)
	var got []string
	opts := apitoken.ListOptions{Limit: 4, Newest: true}
	var firstNext string
	for {
		page, err := e.m.List(ctx, s, opts)
		must(t, err)
		for _, tk := range page.Items {
			got = append(got, tk.ID)
		}
		if page.Next == "" {
			break
		}
		if firstNext == "" {
			firstNext = page.Next
		}
		if at := page.CursorAt(len(page.Items)-1, true); at != page.Next {
			t.Fatalf("CursorAt the last item %q differs from Next %q", at, page.Next)
		}
		opts.Cursor = page.Next
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("newest first gave %d tokens %v, want %d %v", len(got), got, len(want), want)
	}

	// A cursor belongs to its order.
	asc, err := e.m.List(ctx, s, apitoken.ListOptions{Limit: 4})
	must(t, err)
	for _, bad := range []apitoken.ListOptions{
		{Cursor: firstNext},              // a newest-first cursor read oldest first
		{Cursor: asc.Next, Newest: true}, // and the reverse
		{Cursor: firstNext + "A", Newest: true},
	} {
		if _, err := e.m.List(ctx, s, bad); !errors.Is(err, apitoken.ErrInvalidArgument) {
			t.Errorf("List with %+v: %v, want ErrInvalidArgument", bad, err)
		}
	}
	// Turning back: from a newest-first page's first item, oldest first
	// lists the newer tokens, nearest first.
	second, err := e.m.List(ctx, s, apitoken.ListOptions{Limit: 4, Newest: true, Cursor: firstNext})
	must(t, err)
	back, err := e.m.List(ctx, s, apitoken.ListOptions{Limit: 4, Cursor: second.CursorAt(0, false)})
	must(t, err)
	if gotBack, wantBack := fmt.Sprint(ids(back.Items)), fmt.Sprint([]string{want[3], want[2], want[1], want[0]}); gotBack != wantBack {
		t.Fatalf("turning back from the second page gave %s, want %s", gotBack, wantBack)
	}

	// A page of 10 newest first reads about 10 records, however long the
	// listing (125 of u's records here): at most a few batches of 11 (the
	// page and one to show that more follow), as the policy drops a
	// revoked token in every five.
	for _, cursor := range []string{"", firstNext} {
		before := e.store.Listed()
		page, err := e.m.List(ctx, s, apitoken.ListOptions{Limit: 10, Newest: true, Cursor: cursor})
		must(t, err)
		if read := e.store.Listed() - before; len(page.Items) != 10 || read > 3*11 {
			t.Fatalf("a newest-first page of %d of %d tokens read %d records", len(page.Items), n, read)
		}
	}
}

// runCapsAndPurge checks the per-user caps and the purge: the oldest
// session ends when a new one would pass the cap; issuing past the token
// cap is refused until one is revoked; a purge removes ended sessions at
// once and revoked or expired tokens only after the retention.
func runCapsAndPurge(t *testing.T, ns NewStoreFunc, _ LifecycleConfig) {
	e := newEnv(t, ns, func(o *apitoken.Options) {
		o.MaxSessionsPerUser, o.MaxTokensPerUser = 3, 4
		o.PurgeInterval = -1 // purged by hand
	})
	u := e.user(apitoken.Normal)
	var sessions []string
	for range 4 {
		e.clock.Advance(time.Millisecond)
		secret, _ := e.session(u)
		sessions = append(sessions, secret)
	}
	if _, err := e.m.Verify(ctx, sessions[0], ""); !errors.Is(err, apitoken.ErrUnknown) {
		t.Fatalf("the oldest of 4 sessions with a cap of 3: %v, want it ended", err)
	}
	for _, s := range sessions[1:] {
		e.verify(s)
	}
	s := e.verify(sessions[3])
	var toks []apitoken.Issued
	for range 4 {
		toks = append(toks, e.issue(s, apitoken.IssueRequest{}))
	}
	if _, err := e.m.Issue(ctx, s, apitoken.IssueRequest{}); !errors.Is(err, apitoken.ErrLimitReached) {
		t.Fatalf("a fifth token with a cap of 4: %v, want ErrLimitReached", err)
	}
	must(t, e.m.Revoke(ctx, s, toks[0].Token.ID))
	e.issue(s, apitoken.IssueRequest{}) // a revoked token frees its place (and, at the cap, is removed)
	if _, err := e.store.TokenByID(ctx, toks[0].Token.ID); !errors.Is(err, apitoken.ErrNotFound) {
		t.Fatalf("the user's ended token beyond the cap is still stored: %v", err)
	}
	// Purge: another user's revoked token is kept for the retention.
	_, other := e.session(e.user(apitoken.Normal))
	revoked := e.issue(other, apitoken.IssueRequest{})
	must(t, e.m.Revoke(ctx, other, revoked.Token.ID))
	n, err := e.m.Purge(ctx)
	must(t, err)
	if n != 0 {
		t.Fatalf("purged %d records at once, want none (the ended session is deleted already, the revoked token is retained)", n)
	}
	e.clock.Advance(defaultIdleTimeout + time.Second) // every session idles out
	n, err = e.m.Purge(ctx)
	must(t, err)
	if n != 4 {
		t.Fatalf("purged %d records after the idle timeout, want the 4 sessions", n)
	}
	got, err := e.store.ListTokens(ctx, apitoken.TokenQuery{Account: u.Account, UserID: u.ID, Kind: apitoken.KindSession})
	must(t, err)
	if len(got) != 0 {
		t.Fatalf("%d sessions stored after the purge", len(got))
	}
	e.clock.Advance(defaultRetention - defaultIdleTimeout - 2*time.Second)
	n, err = e.m.Purge(ctx)
	must(t, err)
	if n != 0 {
		t.Fatalf("purged %d records within the retention", n)
	}
	if _, err := e.store.TokenByID(ctx, revoked.Token.ID); err != nil {
		t.Fatalf("a token revoked within the retention is gone: %v", err)
	}
	e.clock.Advance(2 * time.Second)
	n, err = e.m.Purge(ctx)
	must(t, err)
	if n != 1 {
		t.Fatalf("purged %d records after the retention, want the revoked token", n)
	}
	if _, err := e.m.Verify(ctx, revoked.Secret, ""); !errors.Is(err, apitoken.ErrUnknown) {
		t.Fatalf("a purged token verifies with %v, want ErrUnknown", err)
	}
	e.verify(toks[1].Secret)
}

// runHistoryPerUserIsBounded: a user who issues and revokes in a loop
// keeps at most MaxTokensPerUser records stored, the oldest ended ones
// going first, so their listings read a bounded history.
func runHistoryPerUserIsBounded(t *testing.T, ns NewStoreFunc, _ LifecycleConfig) {
	e := newEnv(t, ns, func(o *apitoken.Options) { o.MaxTokensPerUser = 5 })
	u := e.user(apitoken.Normal)
	_, s := e.session(u)
	live := e.issue(s, apitoken.IssueRequest{})
	var last apitoken.Issued
	for range 20 {
		e.clock.Advance(time.Second)
		last = e.issue(s, apitoken.IssueRequest{})
		must(t, e.m.Revoke(ctx, s, last.Token.ID))
	}
	all, err := e.store.ListTokens(ctx, apitoken.TokenQuery{Account: u.Account, UserID: u.ID, Kind: apitoken.KindAPI})
	must(t, err)
	if len(all) > 5 {
		t.Fatalf("%d API tokens stored for a user with a cap of 5", len(all))
	}
	if _, err := e.store.TokenByID(ctx, last.Token.ID); err != nil {
		t.Fatalf("the newest revoked token was removed first: %v", err)
	}
	e.verify(live.Secret) // the live token stays
}
