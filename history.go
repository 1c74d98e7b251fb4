package apitoken

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"slices"
	"time"

	"github.com/apitoken/apitoken/event"
)

// Listing and purging: listings read a page at a time through the store's
// (Created, ID) order, either way, and a purge removes ended records in
// bounded batches, so neither costs more as history grows.

// Defaults for listing and history options.
const (
	// defaultListLimit is a page's size when ListOptions.Limit is 0, and
	// maxListLimit the largest a caller may ask for.
	defaultListLimit = 1000
	maxListLimit     = 1000
	// defaultRetention is how long revoked and expired API tokens are
	// kept before a purge removes them.
	defaultRetention = 30 * 24 * time.Hour
	// defaultPurgeInterval is how often the Manager purges by itself.
	defaultPurgeInterval = time.Hour
	// defaultMaxSessionsPerUser and defaultMaxTokensPerUser cap a user's
	// live sessions and live API tokens.
	defaultMaxSessionsPerUser = 100
	defaultMaxTokensPerUser   = 1000
)

// purgeBatch is how many records one store call of a purge removes: small
// enough that its write transaction is short, so verification and issuance
// go on while millions are removed.
const purgeBatch = 1000

// ListOptions pages a listing. The zero value asks for the first page of
// 1,000 records.
type ListOptions struct {
	// Limit is the page size, 1 to 1,000; 0 means
	// 1,000.
	Limit int
	// Cursor continues a listing: the Next of the previous page. Empty
	// starts at the beginning. Cursors are opaque and carry no secret.
	Cursor string
	// Newest lists newest first, in descending (Created, ID) order, as
	// Manager.List can; ListUsers lists oldest first only and refuses
	// it. A cursor continues only a listing in the order it was made
	// for: one made for the other order is ErrInvalidArgument.
	Newest bool
	// ExpiringWithin, when positive, keeps only the live tokens that
	// expire within that long from now (Manager.List only; other listings
	// refuse it, and a negative one is ErrInvalidArgument). Paging and
	// both orders work as without it.
	ExpiringWithin time.Duration
}

// Page is one page of a listing.
type Page[T any] struct {
	// Items are the page's records in the listing's order: oldest first,
	// or newest first with ListOptions.Newest.
	Items []T
	// Next continues the listing; empty on the last page.
	Next string
}

// CursorAt returns a cursor at Items[i]'s place, for a listing in the
// order newest says: with ListOptions.Newest equal to newest it continues
// after Items[i] in that order, so with the records older than it when
// newest is set and with the newer ones when not. A caller that shows
// only part of a page continues from the last item it showed; one that
// turns back reads the other way from the first. Out of range, it
// returns "".
func (p Page[T]) CursorAt(i int, newest bool) string {
	if i < 0 || i >= len(p.Items) {
		return ""
	}
	r, ok := any(p.Items[i]).(interface{ Position() Position })
	if !ok {
		return ""
	}
	return encodeCursor(r.Position(), newest)
}

// parse checks o for a listing that is oldest first only: Newest is
// ErrInvalidArgument. It returns the page size and the place to start
// after.
func (o ListOptions) parse() (int, Position, error) {
	if o.Newest {
		return 0, Position{}, fmt.Errorf("%w: this listing is oldest first only", ErrInvalidArgument)
	}
	if o.ExpiringWithin != 0 {
		return 0, Position{}, fmt.Errorf("%w: only token listings filter by expiry", ErrInvalidArgument)
	}
	return o.parseOrdered()
}

// parseOrdered checks o for a listing in either order and returns the
// page size and the place to start after, in o's order.
func (o ListOptions) parseOrdered() (int, Position, error) {
	if o.ExpiringWithin < 0 {
		return 0, Position{}, fmt.Errorf("%w: an expiry window cannot be negative", ErrInvalidArgument)
	}
	limit := o.Limit
	if limit == 0 {
		limit = defaultListLimit
	}
	if limit < 1 || limit > maxListLimit {
		return 0, Position{}, fmt.Errorf("%w: a page holds 1 to %d records", ErrInvalidArgument, maxListLimit)
	}
	after, newest, err := decodeCursor(o.Cursor)
	if err == nil && o.Cursor != "" && newest != o.Newest {
		err = fmt.Errorf("%w: the cursor is for a listing in the other order", ErrInvalidArgument)
	}
	return limit, after, err
}

// maxCursor bounds a cursor's length before it is decoded.
const maxCursor = 128

// newestMark ends the cursor of a newest-first listing. Record IDs are
// printable ASCII, so it cannot be taken for the end of an ID, and cursors
// of oldest-first listings keep the form they had before listings could
// go newest first.
const newestMark = 0x01

// encodeCursor makes the opaque cursor of the place after p in the order
// newest says: the creation time in Unix nanoseconds, the ID and, for a
// newest-first listing, newestMark, base64url without padding.
func encodeCursor(p Position, newest bool) string {
	b := append(binary.AppendVarint(nil, p.Created.UnixNano()), p.ID...)
	if newest {
		b = append(b, newestMark)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// decodeCursor parses a cursor from encodeCursor, returning its place and
// order; anything else is ErrInvalidArgument.
func decodeCursor(s string) (p Position, newest bool, err error) {
	if s == "" {
		return Position{}, false, nil
	}
	bad := fmt.Errorf("%w: the cursor is not one this listing gave", ErrInvalidArgument)
	if len(s) > maxCursor {
		return Position{}, false, bad
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(s)
	if err != nil {
		return Position{}, false, bad
	}
	if newest = len(b) > 0 && b[len(b)-1] == newestMark; newest {
		b = b[:len(b)-1]
	}
	ns, n := binary.Varint(b)
	id := b[max(n, 0):]
	if n <= 0 || len(id) == 0 || encodeCursor(Position{time.Unix(0, ns), string(id)}, newest) != s {
		return Position{}, false, bad
	}
	for _, c := range id {
		if c <= ' ' || c > '~' { // record IDs are printable ASCII
			return Position{}, false, bad
		}
	}
	return Position{Created: time.Unix(0, ns).UTC(), ID: string(id)}, newest, nil
}

// listPage is listPageIn for a listing that is oldest first.
func listPage[T any](ctx context.Context, limit int, after Position,
	read func(ctx context.Context, after Position, n int) ([]T, error),
	pos func(T) Position, keep func(T) bool) (Page[T], error) {
	return listPageIn(ctx, limit, after, false, read, pos, keep)
}

// listPageIn reads records through read, which lists in the order newest
// says, from after, keeps those keep accepts, and returns a page of at
// most limit of them with the cursor of the next, for the same order. It
// reads in batches until the page is full and one more kept record shows
// that a next page exists.
func listPageIn[T any](ctx context.Context, limit int, after Position, newest bool,
	read func(ctx context.Context, after Position, n int) ([]T, error),
	pos func(T) Position, keep func(T) bool) (Page[T], error) {
	var page Page[T]
	for {
		batch, err := read(ctx, after, limit+1)
		if err != nil {
			return Page[T]{}, storeErr(err)
		}
		for _, r := range batch {
			if !keep(r) {
				after = pos(r)
				continue
			}
			if len(page.Items) == limit {
				page.Next = encodeCursor(pos(page.Items[limit-1]), newest)
				return page, nil
			}
			page.Items = append(page.Items, r)
			after = pos(r)
		}
		if len(batch) < limit+1 {
			return page, nil
		}
	}
}

// Purge removes ended records now and reports how many: sessions that
// were logged out, idled out or reached their absolute timeout, and API
// tokens revoked or expired more than Options.Retention ago (rotated-out
// secrets included). It works in batches of at most 1,000 records, each
// one short store transaction, so verification and issuance go on while it
// runs. The Manager also purges every Options.PurgeInterval by itself.
//
// It first writes this process's pending uses (as the background flush
// does, cached API tokens' at Options.LastUsedResolution), since a
// session's latest use may still be in memory and a session used within
// the idle timeout is live; if that write fails nothing is purged. Uses
// another instance has not flushed yet are not seen: there a session idle
// for almost the whole timeout and then used may be purged within that
// instance's FlushInterval of the use.
//
// Purge then reports, with event.Expiring, up to 100 live API tokens that
// expire within Options.ExpiryWarning and were not reported before, each
// once (Token.ExpiryWarned), even across restarts and processes sharing
// the store; later passes report the rest.
func (m *Manager) Purge(ctx context.Context) (int, error) {
	if err := m.flush(ctx, m.opts.LastUsedResolution); err != nil {
		return 0, err
	}
	now := m.now()
	total := 0
	for _, q := range []PurgeQuery{
		{Kind: KindSession, EndedBefore: now, IdleBefore: now.Add(-m.opts.SessionIdleTimeout), Limit: purgeBatch},
		{Kind: KindAPI, EndedBefore: now.Add(-m.opts.Retention), Limit: purgeBatch},
	} {
		for {
			n, err := m.store.PurgeTokens(ctx, q)
			total += n
			if err != nil {
				return total, storeErr(err)
			}
			if n < q.Limit {
				break
			}
		}
	}
	m.usage.forgetIdle(now.Add(-m.opts.SessionIdleTimeout))
	if _, err := m.warnExpiring(ctx, now); err != nil {
		return total, err
	}
	return total, nil
}

// purgeInBackground is the background loop's purge: failures are
// reported as events and retried at the next interval.
func (m *Manager) purgeInBackground() {
	ctx, cancel := context.WithTimeout(context.Background(), m.opts.PurgeInterval)
	defer cancel()
	if _, err := m.Purge(ctx); err != nil {
		m.emit(Event{Type: event.PurgeFailed, Err: err})
	}
}

// checkTokenCap refuses a new user token when user already holds
// MaxTokensPerUser live ones. It also bounds what the user's history
// costs: when the user's stored API tokens, live and ended together, reach
// the cap, the oldest ended ones are removed at once rather than after the
// retention, so a user who issues and revokes in a loop cannot make every
// listing of theirs (and their admins') read an unbounded history.
// Concurrent issuances may each pass the check, so the cap can be exceeded
// by their number.
func (m *Manager) checkTokenCap(ctx context.Context, account, userID string) error {
	limit := m.opts.MaxTokensPerUser
	if limit < 0 {
		return nil
	}
	ts, err := m.store.ListTokens(ctx, TokenQuery{Account: account, UserID: userID, Kind: KindAPI})
	if err != nil {
		return storeErr(err)
	}
	now, live := m.now(), 0
	var ended []*Token
	for _, t := range ts {
		if active(t, now) {
			live++
		} else {
			ended = append(ended, t)
		}
	}
	if live >= limit {
		return ErrLimitReached
	}
	slices.SortFunc(ended, func(a, b *Token) int { return a.End().Compare(b.End()) })
	for i := 0; len(ts)-i >= limit && i < len(ended); i++ {
		if err := m.store.DeleteToken(ctx, ended[i].ID); err != nil {
			return storeErr(err)
		}
		m.cache.invalidateToken(ended[i].Hash)
	}
	return nil
}

// makeRoomForSession ends the user's oldest live sessions so that one more
// stays within MaxSessionsPerUser. Locked sessions (awaiting MFA) go
// first, oldest first, and unlocked ones only when no locked one is left:
// a login with the password but without the second factor must not end
// the sessions of the user who has both.
func (m *Manager) makeRoomForSession(ctx context.Context, u *User) error {
	limit := m.opts.MaxSessionsPerUser
	if limit < 0 {
		return nil
	}
	ts, err := m.store.ListTokens(ctx, TokenQuery{Account: u.Account, UserID: u.ID, Kind: KindSession})
	if err != nil {
		return storeErr(err)
	}
	now := m.now()
	var locked, unlocked []*Token
	for _, t := range ts {
		if t.Kind == KindSession && m.checkLive(new(newView(t, nil, "")), now) == nil {
			if t.Unlocked {
				unlocked = append(unlocked, t)
			} else {
				locked = append(locked, t)
			}
		}
	}
	live := append(locked, unlocked...) // each oldest first, as listed
	for i := 0; len(live)-i >= limit; i++ {
		if err := m.endSession(ctx, live[i]); err != nil {
			return err
		}
		m.emit(Event{Type: event.Logout, TokenID: live[i].ID, Account: u.Account, UserID: u.ID, Err: ErrLimitReached})
	}
	return nil
}
