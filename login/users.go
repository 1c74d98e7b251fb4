package login

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	"github.com/apitoken/apitoken"
	"github.com/apitoken/apitoken/event"
)

// NewUser describes a user to create with a password.
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
	Role apitoken.Privilege
}

// AddUser creates a user with its password hashed, with no authorisation
// check (Manager.AddUser with the hash). It is for the host's own set-up
// code (the first admin of an account); requests from users go through
// CreateUser.
func (s *Service) AddUser(ctx context.Context, nu NewUser) (*apitoken.User, error) {
	add := apitoken.NewUser{Account: nu.Account, Name: nu.Name, Role: nu.Role}
	if nu.Password != "" {
		var err error
		if add.PasswordHash, err = s.hashNewPassword(ctx, nu.Password); err != nil {
			return nil, err
		}
	}
	return s.m.AddUser(ctx, add)
}

// CreateUser creates a user in the admin caller's account. Only an admin's
// session may give the new user a password (apitoken.ErrInsufficientPrivilege
// for an API token, behaviour rule 24): a password chosen by a token would
// be a session chosen by a token, and an admin session may reset any
// user's password, the token owner's included. An admin API token may
// create users without one (this call, or Manager.CreateUser).
func (s *Service) CreateUser(ctx context.Context, caller apitoken.Principal, nu NewUser) (*apitoken.User, error) {
	a, err := s.m.Authorize(ctx, caller)
	if err != nil {
		return nil, err
	}
	if !a.Privilege.AtLeast(apitoken.Admin) {
		return nil, apitoken.ErrInsufficientPrivilege
	}
	if nu.Password != "" {
		if err := canResetPassword(a); err != nil {
			return nil, err
		}
	}
	nu.Account = a.Account
	return s.AddUser(ctx, nu)
}

// UserUpdate lists the credential changes to a user; zero fields stay.
// Roles and disabling are Manager.UpdateUser's. A password is changed by
// its user, from an unlocked session, with the current password; an
// admin's session may set another user's password without it (a reset).
// API tokens change no password of any user.
type UserUpdate struct {
	// Password is the new password. Every session of the user ends.
	Password *string
	// CurrentPassword must be the user's current password when users
	// change their own; a wrong one counts as a failed login.
	CurrentPassword string
	// ClearMFAFailures lifts an MFA block (ErrMFABlocked) and the user's
	// MFA throttling (admins' sessions only). A password reset does too.
	ClearMFAFailures bool
}

// UpdateUser changes a user's password or lifts an MFA block, under
// behaviour rule 24: users change their own password from an unlocked
// session with the current one (apitoken.ErrInsufficientPrivilege for an API
// token, ErrBadCredentials for a wrong current password); an admin's
// session may reset the password of, or clear the MFA block of, any user
// of its account. Other callers get apitoken.ErrNotFound for other users,
// as do users of other accounts. A password change ends all the user's
// sessions at once.
func (s *Service) UpdateUser(ctx context.Context, caller apitoken.Principal, id string, up UserUpdate) (*apitoken.User, error) {
	a, err := s.m.Authorize(ctx, caller)
	if err != nil {
		return nil, err
	}
	self := a.UserID != "" && a.UserID == id
	isAdmin := a.Privilege.AtLeast(apitoken.Admin)
	if !isAdmin && !self {
		return nil, apitoken.ErrNotFound
	}
	if !isAdmin && up.ClearMFAFailures {
		return nil, apitoken.ErrInsufficientPrivilege
	}
	reset := up.ClearMFAFailures
	if up.Password != nil {
		if self {
			err = a.RequireSessionOf(id)
		} else {
			err, reset = canResetPassword(a), true
		}
	} else if up.ClearMFAFailures {
		err = canResetPassword(a)
	}
	if err != nil {
		return nil, err
	}
	var hash string
	if up.Password != nil {
		if self {
			if err := s.checkCurrentPassword(ctx, id, up.CurrentPassword); err != nil {
				return nil, err
			}
		}
		if hash, err = s.hashNewPassword(ctx, *up.Password); err != nil {
			return nil, err
		}
	}
	u, err := s.m.EditUser(ctx, id, func(u *apitoken.User) error {
		if u.Account != a.Account {
			return apitoken.ErrNotFound
		}
		if up.Password != nil {
			u.PasswordHash = hash
			u.SessionsValidAfter = s.m.Now()
		}
		if reset {
			u.MFAFailures, u.MFAWindowStart, u.MFAWindowFailures = 0, time.Time{}, 0
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.m.Emit(apitoken.Event{Type: event.UserChanged, Account: u.Account, UserID: u.ID, ActorID: a.TokenID})
	if up.Password != nil {
		s.m.Emit(apitoken.Event{Type: event.PasswordChanged, Account: u.Account, UserID: u.ID, ActorID: a.TokenID})
	}
	return u, nil
}

// canResetPassword is the rule for setting another user's password
// without the current one, for clearing a user's MFA block, and for giving
// a new user (CreateUser) its first password: an admin session of the
// same account (behaviour rule 24). Like every credential change it is
// refused to API tokens.
func canResetPassword(a apitoken.Principal) error {
	if a.Kind != apitoken.KindSession {
		return a.RequireSessionOf(a.UserID) // refused: session required
	}
	if !a.Privilege.AtLeast(apitoken.Admin) {
		return apitoken.ErrInsufficientPrivilege
	}
	return nil
}

// hashNewPassword checks a new password's length and hashes it under the
// concurrency bound.
func (s *Service) hashNewPassword(ctx context.Context, password string) (string, error) {
	so := &s.opts
	if len(password) < so.MinPasswordLength || len(password) > so.MaxPasswordLength {
		return "", fmt.Errorf("%w: a password needs %d to %d bytes", apitoken.ErrInvalidArgument, so.MinPasswordLength, so.MaxPasswordLength)
	}
	if err := s.guard.slots.acquire(ctx); err != nil {
		return "", err
	}
	defer s.guard.slots.release()
	return hashPassword(so.Argon2, password, so.Rand)
}

// checkCurrentPassword checks a user's own current password before a
// change, under the same throttling as logins: a wrong one counts as a
// failed login for the user's name (from an unknown address: the session
// asking is already authenticated, and its address is not known here).
func (s *Service) checkCurrentPassword(ctx context.Context, id, current string) error {
	if current == "" {
		return fmt.Errorf("%w: changing your password needs your current password", apitoken.ErrInvalidArgument)
	}
	u, err := s.users.UserByID(ctx, id)
	if err != nil {
		return storeErr(err)
	}
	pair := loginPair(netip.Addr{}, u.Name)
	if s.loginThrottled(pair, u.Name, u, s.m.Now()) {
		return ErrThrottled
	}
	ok, err := s.checkPasswordBounded(ctx, u.PasswordHash, current)
	if err != nil {
		return err
	}
	if !ok {
		s.loginFailed(ctx, pair, u.Name, u)
		s.m.Emit(apitoken.Event{Type: event.LoginFailed, Account: u.Account, UserID: u.ID, Err: ErrBadCredentials})
		return ErrBadCredentials
	}
	return nil
}
