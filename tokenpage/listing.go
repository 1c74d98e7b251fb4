package tokenpage

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/apitoken/apitoken"
)

// The token table: newest first, filtered and searched, a page at a time.
//
// The table pages on Manager.List's cursor, newest first (ListOptions.
// Newest), so a view reads about one page of tokens plus what its filter
// and search drop, however many tokens the caller can see:
//
//   - A page older than a place ("before", a newest-first cursor) reads
//     newest first from it until it has PageSize+1 matches: the rows, and
//     one more to show that an older page exists. "Older" continues from
//     the last row (Page.CursorAt).
//   - "Newer" ("after", an oldest-first cursor at the page's first row)
//     reads oldest first from there, takes the PageSize nearest matches
//     and shows them newest first; when fewer than a page are newer, the
//     view is the first page.
//   - Filters and searches that drop tokens read on, in growing batches,
//     up to maxScan tokens a view. When that bound stops a view before its
//     page is full, the page says so and its "Older" (or "Newer") link
//     goes on searching from the last token read.
//   - The banner of applications waiting for approval reads the caller's
//     newest maxPendingScan visible tokens, one listing call, whatever
//     the page, filter or search; the first page's rows come from the same
//     call. That covers every live token of a user at the default
//     Options.MaxTokensPerUser; an admin's banner covers the account's
//     newest maxPendingScan tokens, and says so when there are more.

// maxScan bounds how many tokens the table reads in one view, besides the
// banner's maxPendingScan.
const maxScan = 5_000

// maxListLimit is the most records Manager.List returns in one page.
const maxListLimit = 1000

// maxPendingScan bounds how many of the caller's tokens, newest first, a
// view reads to find applications waiting for approval: one listing call.
const maxPendingScan = maxListLimit

// maxPending bounds the waiting applications listed at the top.
const maxPending = 20

// listState is the table's filter, search and page, carried in the query
// string of GET / and in a "back" field of every form posted from it.
type listState struct {
	Show   string // "mine", "account" or "all" ("" is the caller's default)
	Query  string // a case-insensitive search in descriptions and hints
	Before string // a newest-first cursor: the page shows older tokens
	After  string // an oldest-first cursor: the page shows newer tokens
}

// parseListState reads a listState from q, dropping what is malformed.
// maxSearch bounds the search text, in bytes.
const maxSearch = 256

func parseListState(q url.Values) listState {
	s := listState{Show: q.Get("show"), Query: q.Get("q"), Before: q.Get("before"), After: q.Get("after")}
	if !slices.Contains([]string{"mine", "account", "all"}, s.Show) {
		s.Show = ""
	}
	if len(s.Query) > maxSearch {
		// Cut at a rune boundary, then trim: trimming first could leave a
		// space at the cut, which the next parse would trim away.
		cut := maxSearch
		for cut > 0 && !utf8.RuneStart(s.Query[cut]) {
			cut--
		}
		s.Query = s.Query[:cut]
	}
	s.Query = strings.TrimSpace(s.Query)
	for _, c := range []*string{&s.Before, &s.After} {
		if !cursorLike(*c) {
			*c = ""
		}
	}
	if s.Before != "" {
		s.After = "" // one place at most
	}
	return s
}

// maxCursor bounds a cursor in the query string. Manager.List checks the
// rest and refuses what it did not make.
const maxCursor = 128

// cursorLike reports whether c looks like a listing cursor: base64url,
// at most maxCursor bytes.
func cursorLike(c string) bool {
	if c == "" || len(c) > maxCursor {
		return false
	}
	for _, r := range c {
		if !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

// values is s as a query.
func (s listState) values() url.Values {
	q := url.Values{}
	if s.Show != "" {
		q.Set("show", s.Show)
	}
	if s.Query != "" {
		q.Set("q", s.Query)
	}
	if s.Before != "" {
		q.Set("before", s.Before)
	}
	if s.After != "" {
		q.Set("after", s.After)
	}
	return q
}

// Encode is s as a query string, for links and the "back" field.
func (s listState) Encode() string { return s.values().Encode() }

// listURL is the table's address for s.
func (p *Handler) listURL(s listState) string {
	if q := s.Encode(); q != "" {
		return p.opts.BasePath + "?" + q
	}
	return p.opts.BasePath
}

// backQuery reads the "back" field of a posted form: the query string of
// the table the form was posted from.
func backQuery(r *http.Request) url.Values {
	q, _ := url.ParseQuery(r.PostForm.Get("back"))
	return q
}

type filterChoice struct {
	Value, Label string
	Current      bool
	Href         string
}

// row is one token of the table.
type row struct {
	T           *apitoken.Token
	Mine        bool
	NeverUsed   bool
	ExpiresSoon bool
	Waiting     int // applications waiting for approval
	Confirm     *confirmation
}

// pendingApp is an application waiting for approval on a token.
type pendingApp struct {
	Token *apitoken.Token
	App   apitoken.App
}

// expiresSoonWithin marks tokens that stop within a week.
const expiresSoonWithin = 7 * 24 * time.Hour

// expiresSoon reports whether t, listed as live, stops within
// expiresSoonWithin of now.
func expiresSoon(t *apitoken.Token, now time.Time) bool {
	return t.Expires.Sub(now) < expiresSoonWithin
}

// hit is a token a scan kept, with the listing page it came in, for a
// cursor at its place.
type hit struct {
	page apitoken.Page[*apitoken.Token]
	i    int
}

func (h hit) token() *apitoken.Token { return h.page.Items[h.i] }

// cursor is a cursor at h's place for a listing in the order newest says.
func (h hit) cursor(newest bool) string { return h.page.CursorAt(h.i, newest) }

// scan reads the caller's visible tokens through Manager.List in one
// order, from cursor (first, when set, is that listing's first page,
// already read), and keeps those match accepts until it has want of them
// or the listing ends. It reads the first call's worth (want) and then
// batches that double, as a filter that drops tokens needs more, taking
// each token read from *budget. When the budget runs out first, rest is
// the cursor that continues after the last token read.
func (p *Handler) scan(ctx context.Context, pr apitoken.Principal, newest bool, cursor string, first *apitoken.Page[*apitoken.Token],
	want int, match func(*apitoken.Token) bool, budget *int) (hits []hit, rest string, err error) {
	n := want
	for {
		var page apitoken.Page[*apitoken.Token]
		if first != nil {
			page, first = *first, nil
		} else {
			if *budget < 1 {
				return hits, cursor, nil
			}
			n = min(n, maxListLimit, *budget)
			if page, err = p.m.List(ctx, pr, apitoken.ListOptions{Newest: newest, Cursor: cursor, Limit: n}); err != nil {
				return nil, "", err
			}
			*budget -= len(page.Items)
			n *= 2
		}
		for i, t := range page.Items {
			if match(t) {
				if hits = append(hits, hit{page, i}); len(hits) == want {
					return hits, "", nil
				}
			}
		}
		if page.Next == "" {
			return hits, "", nil
		}
		cursor = page.Next
	}
}

// fillList reads the table of v.List for pr.
func (p *Handler) fillList(ctx context.Context, v *view, pr apitoken.Principal) error {
	admin := pr.ManagesAccount()
	show := v.List.Show
	if !admin || show == "" {
		show = map[bool]string{true: "all", false: "mine"}[admin]
	}
	v.List.Show = show
	if admin {
		for _, f := range []filterChoice{{Value: "all", Label: "All"}, {Value: "mine", Label: "Mine"}, {Value: "account", Label: "Account"}} {
			f.Current = f.Value == show
			f.Href = p.listURL(listState{Show: f.Value, Query: v.List.Query})
			v.Filters = append(v.Filters, f)
		}
	}
	query := strings.ToLower(v.List.Query)
	match := func(t *apitoken.Token) bool {
		switch show {
		case "mine":
			if t.Owner != apitoken.OwnerUser || t.UserID != pr.UserID {
				return false
			}
		case "account":
			if t.Owner != apitoken.OwnerAccount {
				return false
			}
		}
		return query == "" || strings.Contains(strings.ToLower(t.Description), query) || strings.Contains(strings.ToLower(t.Hint), query)
	}

	// The banner: the newest maxPendingScan tokens, one call.
	newest, err := p.m.List(ctx, pr, apitoken.ListOptions{Newest: true, Limit: maxPendingScan})
	if err != nil {
		return err
	}
	now := time.Now()
	for _, t := range newest.Items {
		if expiresSoon(t, now) {
			v.ExpiringSoon++
		}
		for _, a := range t.Apps {
			if a.State == apitoken.Pending {
				if len(v.Pending) < maxPending {
					v.Pending = append(v.Pending, pendingApp{Token: t, App: a})
				} else {
					v.PendingMore++
				}
			}
		}
	}
	if newest.Next != "" {
		v.PendingScanned = maxPendingScan
	}

	shown, err := p.fillPage(ctx, v, pr, &newest, match)
	if errors.Is(err, apitoken.ErrInvalidArgument) && (v.List.Before != "" || v.List.After != "") {
		// A cursor Manager.List did not make, or for a token gone from
		// the listing's order: show the first page.
		v.List.Before, v.List.After = "", ""
		shown, err = p.fillPage(ctx, v, pr, &newest, match)
	}
	if err != nil {
		return err
	}
	v.ListURL = p.listURL(v.List)
	for _, t := range shown {
		r := row{T: t, Mine: t.Owner == apitoken.OwnerUser && t.UserID == pr.UserID, NeverUsed: t.LastUsed.IsZero(),
			ExpiresSoon: expiresSoon(t, now)}
		for _, a := range t.Apps {
			if a.State == apitoken.Pending {
				r.Waiting++
			}
		}
		if v.Confirm != nil && v.Confirm.Token.ID == t.ID {
			r.Confirm = v.Confirm
		}
		v.Rows = append(v.Rows, r)
	}
	if v.Confirm != nil && !slices.ContainsFunc(v.Rows, func(r row) bool { return r.Confirm != nil }) {
		v.ConfirmTop = true
	}
	return nil
}

// fillPage reads the rows of v.List's page, newest first, and sets the
// page's links. first is the listing's first page newest first, already
// read for the banner.
func (p *Handler) fillPage(ctx context.Context, v *view, pr apitoken.Principal, first *apitoken.Page[*apitoken.Token],
	match func(*apitoken.Token) bool) ([]*apitoken.Token, error) {
	size, budget := p.opts.PageSize, maxScan
	keep := listState{Show: v.List.Show, Query: v.List.Query}
	link := func(before, after string) string {
		s := keep
		s.Before, s.After = before, after
		return p.listURL(s)
	}
	v.Older, v.Newer, v.First, v.NotFirst, v.Truncated, v.ScanLimit = "", "", "", false, false, maxScan
	if v.List.After != "" {
		hits, rest, err := p.scan(ctx, pr, false, v.List.After, nil, size+1, match, &budget)
		if err != nil {
			return nil, err
		}
		if len(hits) > size || rest != "" {
			hits = hits[:min(len(hits), size)]
			shown := make([]*apitoken.Token, len(hits))
			for i, h := range hits {
				shown[len(hits)-1-i] = h.token()
			}
			v.NotFirst, v.First = true, link("", "")
			switch {
			case rest != "":
				v.Truncated, v.Newer = true, link("", rest)
			default:
				v.Newer = link("", hits[size-1].cursor(false))
			}
			if len(hits) > 0 {
				v.Older = link(hits[0].cursor(true), "")
			}
			return shown, nil
		}
		// Less than a page is newer: this is the first page.
		v.List.After = ""
	}
	if v.List.Before != "" {
		first = nil
	}
	hits, rest, err := p.scan(ctx, pr, true, v.List.Before, first, size+1, match, &budget)
	if err != nil {
		return nil, err
	}
	shown := make([]*apitoken.Token, 0, size)
	for _, h := range hits[:min(len(hits), size)] {
		shown = append(shown, h.token())
	}
	switch {
	case len(hits) > size:
		v.Older = link(hits[size-1].cursor(true), "")
	case rest != "":
		v.Truncated, v.Older = true, link(rest, "")
	}
	if v.List.Before != "" {
		v.NotFirst, v.First, v.Newer = true, link("", ""), link("", "")
		if len(hits) > 0 {
			v.Newer = link("", hits[0].cursor(false))
		}
	}
	return shown, nil
}
