package apitoken

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Principal is a verified credential: what the request may do and on whose
// behalf. It holds no secret. Middleware puts it in the request context.
type Principal struct {
	// TokenID is the credential's non-secret ID.
	TokenID string
	// Kind is KindSession or KindAPI.
	Kind Kind
	// Owner is OwnerUser or OwnerAccount.
	Owner Owner
	// Account is the account the credential acts in.
	Account string
	// UserID is the user acted for; empty for account tokens.
	UserID string
	// Privilege is the effective privilege: the token's own capped by
	// its owner's current role.
	Privilege Privilege
	// App is the application name the verification was made for (API
	// tokens only).
	App string
	// Unlocked is false for a session awaiting its MFA unlock.
	Unlocked bool
}

// Verify checks token for application app (empty means Options.DefaultApp)
// and returns its Principal. Every failure wraps one sentinel: ErrMalformed,
// ErrUnknown, ErrRevoked, ErrExpired, ErrUserDisabled,
// ErrInsufficientPrivilege (an unset privilege), ErrAppPending,
// ErrAppDenied, ErrTooManyApps, ErrSessionLocked, or a *StoreError.
//
// A locked session returns its Principal together with ErrSessionLocked,
// so hosts can let it reach the unlock and logout routes only.
//
// Malformed tokens are refused before any store call. A hot token costs no
// store read and no store write: usage is recorded in memory and flushed in
// batches; only an application name new to the token is written at once.
func (m *Manager) Verify(ctx context.Context, token, app string) (Principal, error) {
	p, err := m.verify(ctx, token, app)
	if err != nil {
		m.emit(Event{Type: EventVerifyFailed, TokenID: p.TokenID, Account: p.Account, UserID: p.UserID, App: p.App, Err: err})
	}
	return p, err
}

func (m *Manager) verify(ctx context.Context, token, app string) (Principal, error) {
	kind, err := m.format.Parse(token)
	if err != nil {
		return Principal{}, err
	}
	h := m.hasher.Sum(token)
	t, u, err := m.lookup(ctx, h)
	if err != nil {
		return Principal{}, err
	}
	if t.Kind != kind {
		return Principal{}, ErrUnknown // a record whose kind disagrees with its prefix
	}
	p := Principal{TokenID: t.ID, Kind: t.Kind, Owner: t.Owner, Account: t.Account, UserID: t.UserID, Unlocked: t.Unlocked}
	now := m.now()
	if err := m.checkLive(t, now, m.lastActive(t)); err != nil {
		if t.Kind == KindSession {
			m.usage.forget(t.ID)
		}
		return p, err
	}
	if p.Privilege, err = effectivePrivilege(t, u); err != nil {
		return p, err
	}
	if !p.Privilege.Valid() {
		return p, ErrInsufficientPrivilege
	}
	if t.Kind == KindSession {
		m.usage.touchSession(t.ID, now)
		if !t.Unlocked {
			return p, ErrSessionLocked
		}
		return p, nil
	}
	if app == "" {
		app = m.opts.DefaultApp
	}
	p.App = app
	if err := m.approveApp(ctx, t, app, now); err != nil {
		return p, err
	}
	m.usage.touch(t.ID, now, app)
	return p, nil
}

// lookup returns the record with hash h and its owner (nil for account
// tokens and missing users), from the cache when it can.
func (m *Manager) lookup(ctx context.Context, h Hash) (*Token, *User, error) {
	if t, u, ok := m.cache.get(h); ok {
		return t, u, nil
	}
	gen := m.cache.generation()
	t, err := m.store.TokenByHash(ctx, h)
	if errors.Is(err, ErrNotFound) {
		return nil, nil, ErrUnknown
	}
	if err != nil {
		return nil, nil, storeErr(err)
	}
	u, err := m.ownerOf(ctx, t)
	if err != nil {
		return nil, nil, err
	}
	m.cache.put(gen, h, t, u)
	return t, u, nil
}

// lastActive is a session's latest activity: pending in-memory usage, the
// flushed LastUsed, or its creation.
func (m *Manager) lastActive(t *Token) time.Time {
	if t.Kind != KindSession {
		return time.Time{}
	}
	last := t.Created
	if t.LastUsed.After(last) {
		last = t.LastUsed
	}
	if pending, ok := m.usage.last(t.ID); ok && pending.After(last) {
		last = pending
	}
	return last
}

// approveApp applies SPEC 17-20: a recorded name keeps its own state; a new
// name is recorded with the token's default state (only now, after the
// token verified), unless the token already has MaxApps names.
func (m *Manager) approveApp(ctx context.Context, t *Token, app string, now time.Time) error {
	if len(app) > m.opts.MaxAppName {
		return fmt.Errorf("%w: application name longer than %d bytes", ErrInvalidArgument, m.opts.MaxAppName)
	}
	if i := t.App(app); i >= 0 {
		return t.Apps[i].State.decision()
	}
	if len(t.Apps) >= m.opts.MaxApps {
		return ErrTooManyApps
	}
	var recorded bool
	updated, err := m.updateToken(ctx, t.ID, func(c *Token) error {
		recorded = false
		if c.Hash != t.Hash || !c.Revoked.IsZero() {
			return ErrRevoked // changed under us: fail closed, the caller retries
		}
		if c.App(app) >= 0 {
			return nil // another request recorded it first
		}
		if len(c.Apps) >= m.opts.MaxApps {
			return ErrTooManyApps
		}
		c.Apps = append(c.Apps, App{Name: app, State: c.DefaultAppState, FirstSeen: now, LastSeen: now})
		recorded = true
		return nil
	})
	if err != nil {
		return err
	}
	i := updated.App(app)
	if recorded {
		m.emit(Event{Type: EventAppRecorded, TokenID: t.ID, Account: t.Account, UserID: t.UserID, App: app, State: updated.Apps[i].State})
	}
	return updated.Apps[i].State.decision()
}
