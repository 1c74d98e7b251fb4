package tokenpage

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/apitoken/apitoken"
)

// The token table: newest first, filtered and searched, a page at a time.
//
// Manager.List pages through the store in its (Created, ID) order, oldest
// first, and the store has no reverse order. So the table reads the
// caller's visible listing through Manager.List's cursor, 1,000 records a
// call, and keeps only what one screen needs: the PageSize newest matching
// tokens before the page's position, the PageSize+1 just after it (for the
// link to newer ones) and the applications waiting for approval. Memory is
// bounded by the page size; the reads grow with the number of tokens the
// caller can see (at most Options.MaxTokensPerUser for a user, the whole
// account for an admin), up to maxScan.

// maxScan bounds how many visible tokens one view reads.
const maxScan = 50_000

// maxPending bounds the waiting applications listed at the top.
const maxPending = 20

// listState is the table's filter, search and page, carried in the query
// string of GET / and in a "back" field of every form posted from it.
type listState struct {
	Show   string // "mine", "account" or "all" ("" is the caller's default)
	Query  string // a case-insensitive search in descriptions and hints
	Before string // the page shows tokens older than this position
}

// parseListState reads a listState from q, dropping what is malformed.
// maxSearch bounds the search text, in bytes.
const maxSearch = 256

func parseListState(q url.Values) listState {
	s := listState{Show: q.Get("show"), Query: q.Get("q"), Before: q.Get("before")}
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
	if _, ok := parsePosition(s.Before); !ok {
		s.Before = ""
	}
	return s
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

// position is a token's place in the store's order, as the page's own
// cursor: "<unix nanoseconds>.<id>". It carries no secret.
type position struct {
	created int64
	id      string
}

func positionOf(t *apitoken.Token) position { return position{t.Created.UnixNano(), t.ID} }

func (p position) String() string { return strconv.FormatInt(p.created, 10) + "." + p.id }

func parsePosition(s string) (position, bool) {
	ns, id, ok := strings.Cut(s, ".")
	if !ok || len(s) > 128 || id == "" {
		return position{}, false
	}
	n, err := strconv.ParseInt(ns, 10, 64)
	if err != nil {
		return position{}, false
	}
	for _, c := range id {
		if c <= ' ' || c > '~' {
			return position{}, false
		}
	}
	return position{n, id}, true
}

// less orders positions as the store does.
func (p position) less(o position) bool {
	return p.created < o.created || p.created == o.created && p.id < o.id
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

// fillList reads the table of v.List for pr.
func (p *Handler) fillList(ctx context.Context, v *view, pr apitoken.Principal) error {
	admin := pr.ManagesAccount()
	show := v.List.Show
	if !admin || show == "" {
		show = map[bool]string{true: "all", false: "mine"}[admin]
	}
	v.List.Show = show
	v.ListURL = p.listURL(v.List)
	if admin {
		for _, f := range []filterChoice{{Value: "all", Label: "All"}, {Value: "mine", Label: "Mine"}, {Value: "account", Label: "Account"}} {
			f.Current = f.Value == show
			f.Href = p.listURL(listState{Show: f.Value, Query: v.List.Query})
			v.Filters = append(v.Filters, f)
		}
	}
	before, paged := parsePosition(v.List.Before)
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
	size := p.opts.PageSize
	var (
		older   []*apitoken.Token // a ring of the newest matches before the position
		count   int               // matches before the position
		newer   []*apitoken.Token // the first size+1 matches at or after it
		scanned int
		cursor  string
	)
	for {
		page, err := p.m.List(ctx, pr, apitoken.ListOptions{Cursor: cursor, Limit: apitoken.MaxListLimit})
		if err != nil {
			return err
		}
		for _, t := range page.Items {
			for _, a := range t.Apps {
				if a.State == apitoken.Pending {
					if len(v.Pending) < maxPending {
						v.Pending = append(v.Pending, pendingApp{Token: t, App: a})
					} else {
						v.PendingMore++
					}
				}
			}
			if !match(t) {
				continue
			}
			if !paged || positionOf(t).less(before) {
				if len(older) < size+1 {
					older = append(older, t)
				} else {
					older[count%(size+1)] = t
				}
				count++
			} else if len(newer) <= size {
				newer = append(newer, t)
			}
		}
		scanned += len(page.Items)
		if page.Next == "" {
			break
		}
		if scanned >= maxScan {
			v.Truncated = true
			break
		}
		cursor = page.Next
	}
	// The ring holds the last min(count, size+1) matches; order them
	// newest first.
	if count > len(older) {
		k := count % len(older)
		older = slices.Concat(older[k:], older[:k])
	}
	slices.Reverse(older)
	shown := older[:min(len(older), size)]
	now := time.Now()
	for _, t := range shown {
		r := row{T: t, Mine: t.Owner == apitoken.OwnerUser && t.UserID == pr.UserID, NeverUsed: t.LastUsed.IsZero(),
			ExpiresSoon: t.Expires.Sub(now) < expiresSoonWithin}
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
	if count > size {
		v.Older = p.listURL(listState{Show: v.List.Show, Query: v.List.Query, Before: positionOf(shown[len(shown)-1]).String()})
	}
	if paged && len(newer) > 0 {
		v.NotFirst = true
		n := listState{Show: v.List.Show, Query: v.List.Query}
		if len(newer) > size {
			n.Before = positionOf(newer[size]).String()
		}
		v.Newer = p.listURL(n)
	}
	return nil
}
