package apitoken

import (
	"context"
	"errors"
	"net/netip"
	"time"

	"github.com/apitoken/apitoken/event"
)

// Introspect says whether token is valid and, if it is, what it is and
// when it was issued and stops working, for caller, an authenticated
// Principal (from the Guard or Verify) whom the host allows to ask (the
// oauth package's introspection endpoint, RFC 7662, is built on it). A
// token is active exactly when the Guard would accept it from a request
// that names no application (Options.DefaultApp's approval applies,
// locked sessions are not active), and only if it belongs to the caller's
// account: tokens of other accounts are inactive, as are malformed,
// unknown, revoked and expired ones and those of disabled users. A token
// with an allow-list (Token.AllowedCIDRs) is inactive here: introspection
// does not know the address its holder uses it from.
// Introspecting an active token counts as a use of it, as the Guard's
// verification does.
//
// For an active token it returns its Principal, its issue time and when
// it stops working: its expiry, or for a session the earlier of its
// absolute and idle ends. An inactive token, whatever the reason, returns
// the zero Principal, zero times and nil; the error is only ever a store
// failure (or ctx's).
func (m *Manager) Introspect(ctx context.Context, caller Principal, token string) (p Principal, issued, expires time.Time, err error) {
	var v view
	p, app, now, err := m.check(ctx, token, "", netip.Addr{}, &v)
	if err == nil && (caller.Account == "" || p.Account != caller.Account) {
		err = ErrUnknown // another account's token is nobody's business here
	}
	if err == nil {
		p, err = m.use(ctx, &v, p, app, netip.Addr{}, now)
	}
	if err != nil {
		m.emit(Event{Type: event.VerifyFailed, TokenID: p.TokenID, Account: p.Account, UserID: p.UserID, App: p.App, Err: err})
		if isStoreFailure(err) {
			return Principal{}, time.Time{}, time.Time{}, err
		}
		return Principal{}, time.Time{}, time.Time{}, nil
	}
	expires = v.expires
	if v.kind == KindSession {
		if idle := m.lastActive(&v).Add(m.opts.SessionIdleTimeout); idle.Before(expires) {
			expires = idle
		}
	}
	if issued, err = m.issuedAt(ctx, token, v.id); err != nil {
		return Principal{}, time.Time{}, time.Time{}, err
	}
	return p, issued, expires, nil
}

// issuedAt returns when token (whose record has ID id) was issued: from
// the time it carries, or for a token from before issue times, from its
// record.
func (m *Manager) issuedAt(ctx context.Context, token, id string) (time.Time, error) {
	if _, ms, err := m.format.parse(token); err == nil && ms != noIssueTime {
		return time.UnixMilli(ms), nil
	}
	t, err := m.store.TokenByID(ctx, id)
	if err != nil {
		return time.Time{}, storeErr(err)
	}
	return t.Created, nil
}

// isStoreFailure reports whether err is a failure to decide (a store
// outage, a cancelled context) rather than a refusal.
func isStoreFailure(err error) bool {
	var se *StoreError
	return errors.As(err, &se) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}
