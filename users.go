package apitoken

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/apitoken/apitoken/event"
)

// NewUser describes a user to create.
type NewUser struct {
	// Account is the user's account. CreateUser ignores it and uses the
	// admin's own account.
	Account string
	// Name is the unique login name, 1 to 256 bytes.
	Name string
	// Role is the user's privilege; required.
	Role Privilege
	// PasswordHash is the stored form of the user's password, as package
	// login makes it (an argon2id PHC string); the root package never
	// reads it. Only AddUser, the trusted-host call, takes one: package
	// login's AddUser and CreateUser set it, after their own checks.
	// Empty: the user has no password.
	PasswordHash string
}

// UserUpdate lists what may change on a user; nil fields stay. Both are
// for admins. Passwords and second factors change through package login.
type UserUpdate struct {
	// Role is the new role (admins only).
	Role *Privilege
	// Disabled disables or re-enables the user (admins only).
	Disabled *bool
}

// AddUser creates a user with no authorisation check. It is for the host's
// own set-up code (the first admin of an account) and for package login;
// requests from users go through CreateUser.
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
	u := &User{ID: id, Account: nu.Account, Name: nu.Name, Role: nu.Role, Created: now, PasswordHash: nu.PasswordHash}
	if err := m.store.CreateUser(ctx, u); err != nil {
		if errors.Is(err, ErrDuplicate) {
			return nil, fmt.Errorf("%w: the name is taken", ErrDuplicate)
		}
		return nil, storeErr(err)
	}
	m.emit(Event{Type: event.UserChanged, Account: u.Account, UserID: u.ID})
	return u, nil
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

// CreateUser creates a user without a password in the admin caller's
// account; an admin API token may. A password is given only by an admin's
// session, through package login's CreateUser (behaviour rule 24), so a
// NewUser with a PasswordHash is ErrInsufficientPrivilege (code session_required) here.
func (m *Manager) CreateUser(ctx context.Context, caller Principal, nu NewUser) (*User, error) {
	a, err := m.adminOf(ctx, caller)
	if err != nil {
		return nil, err
	}
	if nu.PasswordHash != "" {
		return nil, errSessionRequired
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

// UpdateUser changes a user's role or disabled flag: admins only, for
// users of their account (other callers get ErrInsufficientPrivilege for
// a change, and users of other accounts are ErrNotFound; an empty update
// of one's own user returns it). Disabling a user ends all the user's
// sessions at once and stops their user tokens. Passwords and second
// factors change through package login.
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
	if !isAdmin && (up.Role != nil || up.Disabled != nil) {
		return nil, ErrInsufficientPrivilege
	}
	if up.Role != nil && !up.Role.Valid() {
		return nil, fmt.Errorf("%w: role %v", ErrInvalidArgument, *up.Role)
	}
	u, err := m.updateUser(ctx, id, func(u *User) error {
		if u.Account != a.account {
			return ErrNotFound
		}
		if up.Role != nil {
			u.Role = *up.Role
		}
		if up.Disabled != nil {
			u.Disabled = *up.Disabled
			if u.Disabled {
				u.SessionsValidAfter = m.now()
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	m.emit(Event{Type: event.UserChanged, Account: u.Account, UserID: u.ID, ActorID: a.tokenID})
	return u, nil
}

// EditUser applies change to the stored record of user id with a
// compare-and-update (retried when another writer wins) and drops what
// the verification cache holds about the user, so the next verification
// sees the change. It is a trusted-host call with no authorisation check:
// package login keeps password hashes, throttling counts and MFA secrets
// on the record through it. change sees a private copy and may refuse
// with an error, which EditUser returns as it is; it must not change the
// record's ID or Account.
func (m *Manager) EditUser(ctx context.Context, id string, change func(*User) error) (*User, error) {
	return m.updateUser(ctx, id, change)
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
	m.emit(Event{Type: event.UserChanged, Account: u.Account, UserID: u.ID, ActorID: a.tokenID})
	return nil
}
