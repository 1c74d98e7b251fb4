package apitoken

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// NewUser describes a user to create.
type NewUser struct {
	// Account is the user's account. CreateUser ignores it and uses the
	// admin's own account.
	Account string
	// Name is the unique login name, 1 to 256 bytes.
	Name string
	// Password is the initial password; empty creates a user who cannot
	// log in with a password.
	Password string
	// Role is the user's privilege; required.
	Role Privilege
}

// UserUpdate lists what may change on a user; nil fields stay. Role,
// Disabled and ClearMFAFailures are for admins. A password is changed by
// its user, from an unlocked session, with the current password; an admin's
// session may set another user's password without it (a reset). API tokens
// change no password of any user.
type UserUpdate struct {
	// Role is the new role (admins only).
	Role *Privilege
	// Disabled disables or re-enables the user (admins only).
	Disabled *bool
	// Password is the new password. Every session of the user ends.
	Password *string
	// CurrentPassword must be the user's current password when users
	// change their own; a wrong one counts as a failed login.
	CurrentPassword string
	// ClearMFAFailures lifts an MFA block (ErrMFABlocked) and the user's
	// MFA throttling (admins' sessions only). A password reset does too.
	ClearMFAFailures bool
}

// AddUser creates a user with no authorisation check. It is for the host's
// own set-up code (the first admin of an account); requests from users go
// through CreateUser.
func (m *Manager) AddUser(ctx context.Context, nu NewUser) (*User, error) {
	if nu.Account == "" || nu.Name == "" || len(nu.Name) > 256 || strings.TrimSpace(nu.Name) != nu.Name {
		return nil, fmt.Errorf("%w: a user needs an account and a name of 1 to 256 bytes without surrounding space", ErrInvalidArgument)
	}
	if !nu.Role.Valid() {
		return nil, fmt.Errorf("%w: a user needs a role", ErrInvalidArgument)
	}
	now := m.now()
	id, err := m.newID(now)
	if err != nil {
		return nil, err
	}
	u := &User{ID: id, Account: nu.Account, Name: nu.Name, Role: nu.Role, Created: now}
	if nu.Password != "" {
		if u.PasswordHash, err = m.hashNewPassword(ctx, nu.Password); err != nil {
			return nil, err
		}
	}
	if err := m.store.CreateUser(ctx, u); err != nil {
		if errors.Is(err, ErrDuplicate) {
			return nil, fmt.Errorf("%w: the name is taken", ErrDuplicate)
		}
		return nil, storeErr(err)
	}
	m.emit(Event{Type: EventUserChanged, Account: u.Account, UserID: u.ID})
	return u, nil
}

// hashNewPassword checks a new password's length and hashes it under the
// concurrency bound.
func (m *Manager) hashNewPassword(ctx context.Context, password string) (string, error) {
	so := &m.opts.Sessions
	if len(password) < so.MinPasswordLength || len(password) > so.MaxPasswordLength {
		return "", fmt.Errorf("%w: a password needs %d to %d bytes", ErrInvalidArgument, so.MinPasswordLength, so.MaxPasswordLength)
	}
	if err := m.logins.slots.acquire(ctx); err != nil {
		return "", err
	}
	defer m.logins.slots.release()
	return hashPassword(so.Argon2, password, m.opts.Rand)
}

// adminOf authorises an admin caller for user management.
func (m *Manager) adminOf(ctx context.Context, caller Principal) (actor, error) {
	a, err := m.authorize(ctx, caller)
	if err != nil {
		return actor{}, err
	}
	if !a.priv.AtLeast(Admin) {
		return actor{}, ErrInsufficientPrivilege
	}
	return a, nil
}

// CreateUser creates a user in the admin caller's account. Only an admin's
// session may give the new user a password (ErrSessionRequired for an API
// token): a password chosen by a token would be a session chosen by a
// token, and an admin session may reset any user's password, the token
// owner's included. An admin API token may create users without one.
func (m *Manager) CreateUser(ctx context.Context, caller Principal, nu NewUser) (*User, error) {
	a, err := m.adminOf(ctx, caller)
	if err != nil {
		return nil, err
	}
	if nu.Password != "" {
		if err := a.canResetPassword(); err != nil {
			return nil, err
		}
	}
	nu.Account = a.account
	return m.AddUser(ctx, nu)
}

// ListUsers returns a page of the users of the admin caller's account,
// oldest first.
func (m *Manager) ListUsers(ctx context.Context, caller Principal, opts ListOptions) (Page[*User], error) {
	a, err := m.adminOf(ctx, caller)
	if err != nil {
		return Page[*User]{}, err
	}
	limit, after, err := opts.parse()
	if err != nil {
		return Page[*User]{}, err
	}
	return listPage(ctx, limit, after,
		func(ctx context.Context, after Position, n int) ([]*User, error) {
			return m.store.ListUsers(ctx, UserQuery{Account: a.account, After: after, Limit: n})
		},
		(*User).Position,
		func(*User) bool { return true })
}

// UpdateUser changes a user's role, disabled flag or password, or lifts an
// MFA block. Admins may change any user of their account; other callers
// only their own password. Password changes follow UserUpdate's rules:
// ErrSessionRequired for an API token, ErrBadCredentials for a wrong
// current password. Disabling a user or changing a password ends all the
// user's sessions at once; disabling also stops their user tokens. Users
// of other accounts are ErrNotFound.
func (m *Manager) UpdateUser(ctx context.Context, caller Principal, id string, up UserUpdate) (*User, error) {
	a, err := m.authorize(ctx, caller)
	if err != nil {
		return nil, err
	}
	self := a.userID != "" && a.userID == id
	isAdmin := a.priv.AtLeast(Admin)
	if !isAdmin && !self {
		return nil, ErrNotFound
	}
	if !isAdmin && (up.Role != nil || up.Disabled != nil || up.ClearMFAFailures) {
		return nil, ErrInsufficientPrivilege
	}
	if up.Role != nil && !up.Role.Valid() {
		return nil, fmt.Errorf("%w: role %v", ErrInvalidArgument, *up.Role)
	}
	reset := up.ClearMFAFailures
	if up.Password != nil {
		if self {
			err = a.canChangeOwnCredentials(id)
		} else {
			err, reset = a.canResetPassword(), true
		}
	} else if up.ClearMFAFailures {
		err = a.canResetPassword()
	}
	if err != nil {
		return nil, err
	}
	var hash string
	if up.Password != nil {
		if self {
			if err := m.checkCurrentPassword(ctx, id, up.CurrentPassword); err != nil {
				return nil, err
			}
		}
		if hash, err = m.hashNewPassword(ctx, *up.Password); err != nil {
			return nil, err
		}
	}
	u, err := m.updateUser(ctx, id, func(u *User) error {
		if u.Account != a.account {
			return ErrNotFound
		}
		now := m.now()
		if up.Role != nil {
			u.Role = *up.Role
		}
		if up.Disabled != nil {
			u.Disabled = *up.Disabled
			if u.Disabled {
				u.SessionsValidAfter = now
			}
		}
		if up.Password != nil {
			u.PasswordHash = hash
			u.SessionsValidAfter = now
		}
		if reset {
			u.MFAFailures, u.MFAWindowStart, u.MFAWindowFailures = 0, time.Time{}, 0
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	m.emit(Event{Type: EventUserChanged, Account: u.Account, UserID: u.ID, ActorID: a.tokenID})
	if up.Password != nil {
		m.emit(Event{Type: EventPasswordChanged, Account: u.Account, UserID: u.ID, ActorID: a.tokenID})
	}
	return u, nil
}

// checkCurrentPassword checks a user's own current password before a
// change, under the same throttling as logins: a wrong one counts as a
// failed login for the user's name (from an unknown address: the session
// asking is already authenticated, and its address is not known here).
func (m *Manager) checkCurrentPassword(ctx context.Context, id, current string) error {
	if current == "" {
		return fmt.Errorf("%w: changing your password needs your current password", ErrInvalidArgument)
	}
	u, err := m.store.UserByID(ctx, id)
	if err != nil {
		return storeErr(err)
	}
	pair := loginPair(netip.Addr{}, u.Name)
	if m.loginThrottled(pair, u.Name, u, m.now()) {
		return ErrThrottled
	}
	ok, err := m.checkPasswordBounded(ctx, u.PasswordHash, current)
	if err != nil {
		return err
	}
	if !ok {
		m.loginFailed(ctx, pair, u.Name, u)
		m.emit(Event{Type: EventLoginFailed, Account: u.Account, UserID: u.ID, Err: ErrBadCredentials})
		return ErrBadCredentials
	}
	return nil
}

// DeleteUser removes a user of the admin caller's account. Their sessions
// and user tokens fail at once; account tokens they created keep working.
func (m *Manager) DeleteUser(ctx context.Context, caller Principal, id string) error {
	a, err := m.adminOf(ctx, caller)
	if err != nil {
		return err
	}
	u, err := m.store.UserByID(ctx, id)
	if errors.Is(err, ErrNotFound) || (err == nil && u.Account != a.account) {
		return ErrNotFound
	}
	if err != nil {
		return storeErr(err)
	}
	err = m.store.DeleteUser(ctx, id)
	m.cache.invalidateUser(id)
	if err != nil {
		return storeErr(err)
	}
	m.emit(Event{Type: EventUserChanged, Account: u.Account, UserID: u.ID, ActorID: a.tokenID})
	return nil
}
