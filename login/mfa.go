package login

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/apitoken/apitoken"
	"github.com/apitoken/apitoken/event"
)

// Unlock completes MFA for a locked session with a TOTP code. Each code is
// accepted once per user; codes from one step either side of now are
// accepted. Wrong codes count against the user's MFA budget, which every
// instance shares (see Options.MaxMFAFailures and MFAWindow):
// ErrBadMFACode, then ErrThrottled, and ErrMFABlocked at the cap.
func (s *Service) Unlock(ctx context.Context, session apitoken.Principal, code string) error {
	p, err := s.m.Authorize(ctx, session)
	switch {
	case errors.Is(err, apitoken.ErrSessionLocked):
	case err != nil:
		return err
	case p.Kind != apitoken.KindSession:
		return fmt.Errorf("%w: only sessions unlock", apitoken.ErrInvalidArgument)
	default:
		return nil // unlocked already
	}
	if _, err := s.spendMFACode(ctx, p.UserID, code, nil); err != nil {
		if errors.Is(err, apitoken.ErrNotFound) {
			return ErrBadMFACode
		}
		return err
	}
	// The code is spent; finish the unlock even if ctx is cancelled now,
	// or the user would lose the code and stay locked.
	finishCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	return s.m.UnlockSession(finishCtx, p.TokenID)
}

// spendMFACode checks code against user id's active TOTP secret within
// the user's MFA budget, in one compare-and-update of the user record: a
// right code is spent (never accepted again), clears the run of failures
// and applies change (if any) to the same record; a wrong one is counted
// and gives ErrBadMFACode. Over the budget no code is checked at all.
func (s *Service) spendMFACode(ctx context.Context, id, code string, change func(*apitoken.User)) (*apitoken.User, error) {
	so := &s.opts
	var wrong bool
	u, err := s.m.EditUser(ctx, id, func(u *apitoken.User) error {
		wrong = false
		now := s.m.Now()
		if u.Disabled || len(u.MFASecret) == 0 {
			return ErrBadMFACode
		}
		if u.MFAFailures >= so.MaxMFAFailures {
			return ErrMFABlocked
		}
		if inWindow(u.MFAWindowStart, now, so.MFAWindow) && now.Before(u.MFAWindowStart.Add(mfaDelay(u.MFAWindowFailures, so))) {
			return ErrThrottled
		}
		secret, err := s.sealer.open(u.MFASecret, u.ID)
		if err != nil {
			return err
		}
		step := matchTOTP(secret, code, now)
		if step < 0 || step <= u.MFALastStep {
			countFailure(&u.MFAWindowStart, &u.MFAWindowFailures, now, so.MFAWindow)
			u.MFAFailures++
			wrong = true
			return nil
		}
		u.MFALastStep, u.MFAFailures = step, 0
		if change != nil {
			change(u)
		}
		return nil
	})
	if err == nil && wrong {
		err = ErrBadMFACode
		if u.MFAFailures >= so.MaxMFAFailures {
			err = errBlockedNow
		}
		s.m.Emit(apitoken.Event{Type: event.MFAFailed, Account: u.Account, UserID: u.ID, Err: err})
	}
	return u, err
}

// mfaDelay is how long after its window's first failure a code may be
// tried once the window holds failures wrong codes: at once for the first
// three, then 1, 2, 4, … minutes, and not before the window ends once it
// holds MaxMFAFailuresPerWindow.
func mfaDelay(failures int, so *Options) time.Duration {
	switch {
	case failures >= so.MaxMFAFailuresPerWindow:
		return so.MFAWindow
	case failures < 3:
		return 0
	}
	return min(time.Minute<<min(failures-3, 20), so.MFAWindow)
}

// MFAEnrolment is a new TOTP secret for the caller's authenticator app.
type MFAEnrolment struct {
	// Secret is the base32 TOTP secret (shown once).
	Secret string
	// URL is the otpauth:// provisioning URI (for a QR code).
	URL string
}

// EnrollMFA starts enrolling a new TOTP secret for the caller's own user
// and returns it. The secret is pending: it changes nothing for logins
// until ConfirmMFA accepts a code from it. Only an unlocked session of the
// user may enrol (apitoken.ErrInsufficientPrivilege otherwise). While a secret is already
// active, code must be a current code from it (replacing a second factor
// needs the second factor); such codes count against the MFA budget like
// Unlock's. Starting again replaces a pending secret.
func (s *Service) EnrollMFA(ctx context.Context, caller apitoken.Principal, code string) (MFAEnrolment, error) {
	a, err := s.ownSession(ctx, caller)
	if err != nil {
		return MFAEnrolment{}, err
	}
	secret := make([]byte, totpSecret)
	if _, err := io.ReadFull(s.opts.Rand, secret); err != nil {
		return MFAEnrolment{}, fmt.Errorf("apitoken: reading randomness: %w", err)
	}
	sealed, err := s.sealer.seal(secret, a.UserID, s.opts.Rand)
	if err != nil {
		return MFAEnrolment{}, err
	}
	u, err := s.users.UserByID(ctx, a.UserID)
	if err != nil {
		return MFAEnrolment{}, storeErr(err)
	}
	setPending := func(u *apitoken.User) { u.MFAPending = sealed }
	if len(u.MFASecret) > 0 {
		if code == "" {
			return MFAEnrolment{}, errCodeRequired
		}
		u, err = s.spendMFACode(ctx, a.UserID, code, setPending)
	} else {
		u, err = s.m.EditUser(ctx, a.UserID, func(u *apitoken.User) error {
			if len(u.MFASecret) > 0 {
				return apitoken.ErrConflict // enrolled meanwhile: ask again, with a code
			}
			setPending(u)
			return nil
		})
	}
	if err != nil {
		return MFAEnrolment{}, err
	}
	s.m.Emit(apitoken.Event{Type: event.UserChanged, Account: u.Account, UserID: u.ID, ActorID: a.TokenID})
	return MFAEnrolment{Secret: base32Secret(secret), URL: otpauthURL(s.opts.Issuer, u.Name, secret)}, nil
}

// errCodeRequired refuses a change to an active second factor asked
// without a code from it; it is not counted as a wrong code.
var errCodeRequired = fmt.Errorf("%w: MFA is active: give a current code from it", apitoken.ErrInvalidArgument)

// ConfirmMFA activates the caller's pending TOTP secret (from EnrollMFA)
// once code is a current code from it: from then on the user's logins
// start locked until Unlock. It replaces any earlier secret, and every
// other session of the user ends. Only an unlocked session of the user may
// confirm. With no pending secret it fails with apitoken.ErrInvalidArgument; a wrong
// code gives ErrBadMFACode and keeps the secret pending.
func (s *Service) ConfirmMFA(ctx context.Context, caller apitoken.Principal, code string) error {
	a, err := s.ownSession(ctx, caller)
	if err != nil {
		return err
	}
	u, err := s.m.EditUser(ctx, a.UserID, func(u *apitoken.User) error {
		if len(u.MFAPending) == 0 {
			return fmt.Errorf("%w: no MFA secret awaits confirmation", apitoken.ErrInvalidArgument)
		}
		secret, err := s.sealer.open(u.MFAPending, u.ID)
		if err != nil {
			return err
		}
		step := matchTOTP(secret, code, s.m.Now())
		if step < 0 {
			return ErrBadMFACode
		}
		u.MFASecret, u.MFAPending, u.MFALastStep, u.MFAFailures = u.MFAPending, nil, step, 0
		return nil
	})
	if err != nil {
		return err
	}
	if _, err := s.m.EndSessions(ctx, u.Account, u.ID, a.TokenID); err != nil {
		return err
	}
	s.m.Emit(apitoken.Event{Type: event.MFAActivated, Account: u.Account, UserID: u.ID, ActorID: a.TokenID})
	return nil
}

// RemoveMFA removes the caller's own TOTP secret (and any pending one);
// code must be a current code from the active secret and counts against
// the MFA budget like Unlock's. Every other session of the user ends. Only
// an unlocked session of the user may remove it.
func (s *Service) RemoveMFA(ctx context.Context, caller apitoken.Principal, code string) error {
	a, err := s.ownSession(ctx, caller)
	if err != nil {
		return err
	}
	if code == "" {
		return errCodeRequired
	}
	u, err := s.spendMFACode(ctx, a.UserID, code, func(u *apitoken.User) {
		u.MFASecret, u.MFAPending, u.MFALastStep = nil, nil, 0
	})
	if err != nil {
		return err
	}
	if _, err := s.m.EndSessions(ctx, u.Account, u.ID, a.TokenID); err != nil {
		return err
	}
	s.m.Emit(apitoken.Event{Type: event.MFARemoved, Account: u.Account, UserID: u.ID, ActorID: a.TokenID})
	return nil
}

// ownSession authorises a call about the caller's own credentials: only
// an unlocked session of the user may make it (behaviour rule 24).
func (s *Service) ownSession(ctx context.Context, caller apitoken.Principal) (apitoken.Principal, error) {
	a, err := s.m.Authorize(ctx, caller)
	if err != nil {
		return apitoken.Principal{}, err
	}
	return a, a.RequireSessionOf(a.UserID)
}
