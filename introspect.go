package apitoken

import (
	"context"
	"errors"
	"time"
)

// Introspection is what token introspection (RFC 7662) says of a token.
// Its JSON form is the RFC's response: a token that is not valid for the
// caller is exactly {"active":false}, whatever the reason.
type Introspection struct {
	// Active is true only for a token that verifies.
	Active bool `json:"active"`
	// Subject is the user acted for, or the account for an account token
	// (Owner tells which).
	Subject string `json:"sub,omitempty"`
	// Expires is when the token stops working, in Unix seconds: its
	// expiry, or for a session the earlier of its absolute and idle ends.
	Expires int64 `json:"exp,omitempty"`
	// IssuedAt is when the token was issued, in Unix seconds.
	IssuedAt int64 `json:"iat,omitempty"`
	// TokenType is "Bearer": every token of this library is a bearer token.
	TokenType string `json:"token_type,omitempty"`
	// TokenID is the token's non-secret ID (the RFC's jti).
	TokenID string `json:"jti,omitempty"`
	// Account is the account the token acts in.
	Account string `json:"account,omitempty"`
	// Owner is "user" or "account".
	Owner string `json:"owner,omitempty"`
	// Kind is "api" or "session".
	Kind string `json:"kind,omitempty"`
	// Privilege is the effective privilege: "read-only", "normal" or
	// "admin". The library has no OAuth scopes, so there is no scope
	// member.
	Privilege string `json:"privilege,omitempty"`
}

// Introspect says whether token is valid and, if it is, what it is, for
// caller, an authenticated Principal (from the Guard or Verify) whom the
// host allows to introspect (see IntrospectionOptions.Allow). A token is
// active exactly when the Guard would accept it from a request that names
// no application (Options.DefaultApp's approval applies, locked sessions
// are not active), and only if it belongs to the caller's account: tokens
// of other accounts are inactive, as are malformed, unknown, revoked and
// expired ones and those of disabled users. Introspecting an active token
// counts as a use of it, as the Guard's verification does.
//
// The error is only ever a store failure (or ctx's); an inactive token is
// Introspection{} and nil.
func (m *Manager) Introspect(ctx context.Context, caller Principal, token string) (Introspection, error) {
	var v view
	p, app, now, err := m.check(ctx, token, "", &v)
	if err == nil && (caller.Account == "" || p.Account != caller.Account) {
		err = ErrUnknown // another account's token is nobody's business here
	}
	if err == nil {
		p, err = m.use(ctx, &v, p, app, now)
	}
	if err != nil {
		m.emit(Event{Type: EventVerifyFailed, TokenID: p.TokenID, Account: p.Account, UserID: p.UserID, App: p.App, Err: err})
		if isStoreFailure(err) {
			return Introspection{}, err
		}
		return Introspection{}, nil
	}
	in := Introspection{Active: true, Subject: p.UserID, TokenType: "Bearer", TokenID: p.TokenID,
		Account: p.Account, Owner: p.Owner.String(), Kind: p.Kind.String(), Privilege: p.Privilege.String()}
	if p.Owner == OwnerAccount {
		in.Subject = p.Account
	}
	exp := v.expires
	if v.kind == KindSession {
		if idle := m.lastActive(&v).Add(m.opts.Sessions.IdleTimeout); idle.Before(exp) {
			exp = idle
		}
	}
	in.Expires = exp.Unix()
	issued, err := m.issuedAt(ctx, token, v.id)
	if err != nil {
		return Introspection{}, err
	}
	in.IssuedAt = issued.Unix()
	return in, nil
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
