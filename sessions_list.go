package apitoken

import (
	"context"
	"errors"
	"time"
)

// A user's own account page: who is signed in, their live sessions, ending
// every session but the current one, and the expiry limits a form offers.

// Profile is what a user's own account page shows about them. It never
// holds a password hash or an MFA secret.
type Profile struct {
	// UserID, Account and Name identify the user (Name may be empty when
	// the host's directory, Options.Users, gives none).
	UserID, Account, Name string
	// Role is the user's current role.
	Role Privilege
	// Password reports whether the user has a password in the Store, and
	// so may change it (package login).
	Password bool
	// MFA reports whether a second factor is active; MFAPending whether a
	// new one awaits confirmation (package login).
	MFA, MFAPending bool
}

// Profile returns the caller's own profile. Only an unlocked session of
// the user may ask (ErrInsufficientPrivilege, code session_required, for API tokens, ErrSessionLocked for
// a locked session), like every call about a user's own credentials.
func (m *Manager) Profile(ctx context.Context, caller Principal) (Profile, error) {
	a, err := m.authorize(ctx, caller)
	if err != nil {
		return Profile{}, err
	}
	if err := a.canChangeOwnCredentials(a.userID); err != nil {
		return Profile{}, err
	}
	u, err := m.users.UserByID(ctx, a.userID)
	if err != nil {
		return Profile{}, storeErr(err)
	}
	p := Profile{UserID: u.ID, Account: u.Account, Name: u.Name, Role: u.Role}
	// Password and MFA live in the Store's own record, which a host
	// directory's users may not have.
	su, err := m.store.UserByID(ctx, a.userID)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return Profile{}, storeErr(err)
	}
	if err == nil {
		p.Name = su.Name
		p.Password, p.MFA, p.MFAPending = su.PasswordHash != "", len(su.MFASecret) > 0, len(su.MFAPending) > 0
	}
	return p, nil
}

// Sessions returns the caller's own live sessions, oldest first, the
// caller's among them (compare Token.ID with Principal.TokenID). Records
// come without their Hash. Only an unlocked session of the user may list
// them (ErrInsufficientPrivilege, code session_required, for API tokens). A user holds at most
// Options.MaxSessionsPerUser live sessions, so the list is bounded.
func (m *Manager) Sessions(ctx context.Context, caller Principal) ([]*Token, error) {
	a, err := m.authorize(ctx, caller)
	if err != nil {
		return nil, err
	}
	if err := a.canChangeOwnCredentials(a.userID); err != nil {
		return nil, err
	}
	m.flushForListing(ctx)
	ts, err := m.store.ListTokens(ctx, TokenQuery{Account: a.account, UserID: a.userID, Kind: KindSession})
	if err != nil {
		return nil, storeErr(err)
	}
	now := m.now()
	live := ts[:0]
	for _, t := range ts {
		if t.Kind == KindSession && m.sessionLive(t, now) {
			t.Hash = Hash{}
			live = append(live, t)
		}
	}
	return live, nil
}

// sessionLive reports whether session t is neither expired nor idle. (A
// password change or disable ends sessions through the user record; such
// sessions fail verification and are purged.)
func (m *Manager) sessionLive(t *Token, now time.Time) bool {
	return m.checkLive(new(newView(t, nil, "")), now) == nil
}

// EndOtherSessions ends every session of the caller's user except the
// caller's own ("sign out everywhere else") and reports how many ended.
// Each ends as Logout would, effective in this process before it returns
// and in others through the change feed. API tokens stay. Only an
// unlocked session of the user may call it (ErrInsufficientPrivilege, code session_required, for API
// tokens).
func (m *Manager) EndOtherSessions(ctx context.Context, caller Principal) (int, error) {
	a, err := m.authorize(ctx, caller)
	if err != nil {
		return 0, err
	}
	if err := a.canChangeOwnCredentials(a.userID); err != nil {
		return 0, err
	}
	return m.EndSessions(ctx, a.account, a.userID, a.tokenID)
}

// ExpiryLimits returns the lifetime an API token gets when issued without
// an expiry and the longest one a caller may ask for (Options.DefaultExpiry
// and Options.MaxExpiry after defaults), for forms that offer choices.
func (m *Manager) ExpiryLimits() (def, max time.Duration) {
	return m.opts.DefaultExpiry, m.opts.MaxExpiry
}
