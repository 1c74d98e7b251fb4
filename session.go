package apitoken

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/apitoken/apitoken/event"
)

// StartSession starts a session for user id with no password check. It is
// a trusted-host call: for hosts that authenticate users themselves
// (single sign-on), for package login once it has checked a password, and
// for tests. A disabled or missing user is ErrUserDisabled. The session is
// locked if the user is enrolled in MFA (see UnlockSession). It reports
// the session as event.Login.
func (m *Manager) StartSession(ctx context.Context, userID string) (Issued, error) {
	u, err := m.users.UserByID(ctx, userID)
	if errors.Is(err, ErrNotFound) || (err == nil && u.Disabled) {
		return Issued{}, ErrUserDisabled
	}
	if err != nil {
		return Issued{}, storeErr(err)
	}
	return m.startSession(ctx, u)
}

func (m *Manager) startSession(ctx context.Context, u *User) (Issued, error) {
	if err := m.makeRoomForSession(ctx, u); err != nil {
		return Issued{}, err
	}
	now := m.now()
	s := &Token{
		Kind: KindSession, Owner: OwnerUser, Account: u.Account, UserID: u.ID, CreatedBy: u.ID,
		Type: "session", Privilege: u.Role, DefaultAppState: Allow,
		Created: now, Expires: now.Add(m.opts.SessionAbsoluteTimeout), Unlocked: len(u.MFASecret) == 0,
	}
	iss, err := m.create(ctx, s)
	if err != nil {
		return Issued{}, err
	}
	iss.User = u
	m.emit(Event{Type: event.Login, TokenID: s.ID, Account: u.Account, UserID: u.ID})
	return iss, nil
}

// UnlockSession marks the live session tokenID unlocked, so it may act
// (behaviour rule 22). It is a trusted-host call: the caller has checked
// the second factor itself (package login's Unlock checks a TOTP code and
// then calls it). Unlocking an unlocked session does nothing; a token that
// is not a session is ErrInvalidArgument; a revoked, expired or missing
// one gets Verify's answer.
func (m *Manager) UnlockSession(ctx context.Context, tokenID string) error {
	t, err := m.store.TokenByID(ctx, tokenID)
	if errors.Is(err, ErrNotFound) {
		return ErrUnknown
	}
	if err != nil {
		return storeErr(err)
	}
	if t.Kind != KindSession {
		return fmt.Errorf("%w: only sessions unlock", ErrInvalidArgument)
	}
	if err := m.checkLive(new(newView(t, nil, "")), m.now()); err != nil {
		return err
	}
	if t.Unlocked {
		return nil
	}
	if _, err := m.updateToken(ctx, t.ID, func(t *Token) error {
		if !t.Revoked.IsZero() {
			return ErrRevoked
		}
		t.Unlocked = true
		return nil
	}); err != nil {
		return err
	}
	m.emit(Event{Type: event.Unlocked, TokenID: t.ID, Account: t.Account, UserID: t.UserID})
	return nil
}

// Logout ends the caller's session only (behaviour rule 23): API tokens stay. Locked
// sessions may log out. Logging out twice is not an error.
func (m *Manager) Logout(ctx context.Context, session Principal) error {
	t, err := m.store.TokenByID(ctx, session.TokenID)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return storeErr(err)
	}
	if t.Kind != KindSession {
		return fmt.Errorf("%w: only sessions log out; revoke API tokens", ErrInvalidArgument)
	}
	if err := m.endSession(ctx, t); err != nil {
		return err
	}
	m.emit(Event{Type: event.Logout, TokenID: t.ID, Account: t.Account, UserID: t.UserID})
	return nil
}

// endSession deletes session t, effective for every later verification in
// this process before it returns.
func (m *Manager) endSession(ctx context.Context, t *Token) error {
	err := m.store.DeleteToken(ctx, t.ID)
	m.cache.invalidateToken(t.Hash)
	m.usage.forget(t.ID)
	return storeErr(err)
}

// EndSessions ends every session of user userID in account except the one
// whose token ID is keep (empty: all of them), each as Logout would, and
// reports how many ended. It is a trusted-host call, for when a user's
// credentials change (package login calls it when a second factor is
// confirmed or removed) or the host signs a user out everywhere. API
// tokens stay.
func (m *Manager) EndSessions(ctx context.Context, account, userID, keep string) (int, error) {
	ts, err := m.store.ListTokens(ctx, TokenQuery{Account: account, UserID: userID, Kind: KindSession})
	if err != nil {
		return 0, storeErr(err)
	}
	n := 0
	for _, t := range ts {
		if t.Kind != KindSession || t.ID == keep || t.UserID != userID {
			continue
		}
		if err := m.endSession(ctx, t); err != nil {
			return n, err
		}
		n++
		m.emit(Event{Type: event.Logout, TokenID: t.ID, Account: t.Account, UserID: t.UserID, ActorID: keep})
	}
	return n, nil
}

// Authorize re-reads caller's credential and its owner, as every
// management call does, and returns the caller as it stands now: a
// credential revoked, expired or ended since, or whose user was disabled,
// gets Verify's error, and the Privilege is the current one (behaviour
// rule 14). A locked session returns its Principal together with
// ErrSessionLocked, as Verify does. It is for code built on the Manager
// (package login, a host's own management calls) that must decide on a
// caller's current rights rather than a Principal made earlier.
func (m *Manager) Authorize(ctx context.Context, caller Principal) (Principal, error) {
	a, err := m.authorize(ctx, caller)
	if errors.Is(err, ErrSessionLocked) {
		return a.principal(), err
	}
	if err != nil {
		return Principal{}, err
	}
	return a.principal(), nil
}

// Emit sends e to Options.OnEvent, stamped with the Manager's clock if
// e.Time is zero. It is for code built on the Manager (package login
// reports logins and MFA changes through it) so that a host sees one
// stream of events.
func (m *Manager) Emit(e Event) { m.emit(e) }

// Now returns the Manager's clock (Options.Now), for code built on the
// Manager that must agree with it about time.
func (m *Manager) Now() time.Time { return m.now() }
