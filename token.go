package apitoken

import (
	"fmt"
	"net/netip"
	"slices"
	"time"
)

// Kind tells session tokens from API tokens. The zero value is unset.
type Kind uint8

// The token kinds.
const (
	// KindSession is a short-lived token started by a sign-in
	// (StartSession, or package login's password login).
	KindSession Kind = iota + 1
	// KindAPI is a long-lived token issued by an authenticated caller.
	KindAPI
)

// String returns "session", "api" or "unset(N)".
func (k Kind) String() string {
	switch k {
	case KindSession:
		return "session"
	case KindAPI:
		return "api"
	}
	return fmt.Sprintf("unset(%d)", uint8(k))
}

// Owner tells user tokens from account tokens. The zero value is unset.
type Owner uint8

// The owner types.
const (
	// OwnerUser tokens belong to one user: they are capped by that user's
	// current role and die when the user is disabled or deleted.
	OwnerUser Owner = iota + 1
	// OwnerAccount tokens belong to the account and survive any user
	// leaving. Only admins create, see and manage them.
	OwnerAccount
)

var ownerNames = [...]string{OwnerUser: "user", OwnerAccount: "account"}

// String returns "user", "account" or "unset(N)".
func (o Owner) String() string {
	if o != OwnerUser && o != OwnerAccount {
		return fmt.Sprintf("unset(%d)", uint8(o))
	}
	return ownerNames[o]
}

// MarshalText returns "user" or "account"; unset is an error.
func (o Owner) MarshalText() ([]byte, error) {
	if o != OwnerUser && o != OwnerAccount {
		return nil, fmt.Errorf("%w: owner %d is not set", ErrInvalidArgument, uint8(o))
	}
	return []byte(ownerNames[o]), nil
}

// UnmarshalText accepts exactly "user" or "account".
func (o *Owner) UnmarshalText(text []byte) error {
	switch string(text) {
	case "user":
		*o = OwnerUser
	case "account":
		*o = OwnerAccount
	default:
		return fmt.Errorf("%w: unknown owner %q (want user or account)", ErrInvalidArgument, truncateForError(text))
	}
	return nil
}

// Token is the stored record of a session or API token. It never holds the
// secret: only its Hash. Records returned by a Store are copies the caller
// owns.
type Token struct {
	// ID is the non-secret identifier used in listings, management calls
	// and logs.
	ID string
	// Hash is the keyed hash of the secret (see Hash). Stores index it.
	Hash Hash
	// Hint is the non-secret hint shown in listings: prefix and last 4.
	Hint string
	// Kind is KindSession or KindAPI.
	Kind Kind
	// Owner is OwnerUser or OwnerAccount. Sessions are always user-owned.
	Owner Owner
	// Account is the account (tenant) the token lives in.
	Account string
	// UserID is the owning user for user tokens; empty for account tokens.
	UserID string
	// CreatedBy is the user who created the token (kept after a promote);
	// empty when an account token created it.
	CreatedBy string
	// Parent is the ID of the credential (session or token) that issued
	// this token; empty for sessions from a login.
	Parent string
	// Lineage is the ID of the first token of a rotation chain; a token
	// that was never rotated has Lineage == ID.
	Lineage string
	// Origin is the lineage of the API token at the root of the chain of
	// API tokens that issued this one, or empty when a session or the host
	// issued it. Tokens of one such family never change each other's
	// application approvals, so a token cannot approve its own pending
	// applications through a token it issues.
	Origin string
	// Description is free text from the creator, bounded in length.
	Description string
	// Type is the type label shown as apiKeyType (default "generic").
	Type string
	// Privilege is the token's own privilege; the effective privilege is
	// further capped by the owner's current role for user tokens.
	Privilege Privilege
	// Scopes are the scopes the token carries, in the order of the
	// vocabulary (Options.Scopes); empty means every scope its privilege
	// holds. Its effective scopes are these capped by the scopes of its
	// effective privilege, at every verification (see Principal.Scopes).
	Scopes []string
	// AllowedCIDRs are the address ranges the token may be used from;
	// empty means anywhere. A request from elsewhere, or from an unknown
	// address, is refused with ErrInsufficientPrivilege (code address_not_allowed) after the token
	// verifies.
	AllowedCIDRs []netip.Prefix
	// DefaultAppState is the state a new application name receives.
	DefaultAppState AppState
	// Apps are the application names that used the token, with states.
	Apps []App
	// Created is when the token was issued.
	Created time.Time
	// LastUsed is the last successful verification (zero: never used).
	// Updated in batches, so it may lag by the flush interval.
	LastUsed time.Time
	// LastUsedIP is the client address of the last successful
	// verification that knew one (Manager.VerifyFrom, the Guard), recorded
	// with LastUsed; the zero Addr if none.
	LastUsedIP netip.Addr
	// Expires is when the token stops working.
	Expires time.Time
	// Revoked is when the token was revoked (zero: not revoked).
	Revoked time.Time
	// ExpiryWarned is when the Manager reported that the token is about
	// to expire (event.Expiring; zero: not yet). It is set once, with a
	// compare-and-update, so the warning is given once per token however
	// many processes share the store.
	ExpiryWarned time.Time
	// Unlocked is false for a session that awaits its MFA unlock.
	Unlocked bool
	// Version increases with every update; stores use it for
	// compare-and-update (see TokenStore.UpdateToken).
	Version uint64
}

// App is one application name recorded on a token.
type App struct {
	// Name is the application name as presented (bounded in length).
	Name string
	// State is Allow, Pending or Deny.
	State AppState
	// FirstSeen is when the name first used the token.
	FirstSeen time.Time
	// LastSeen is when the name last used the token (batched like
	// Token.LastUsed).
	LastSeen time.Time
}

// Clone returns a deep copy of t.
func (t *Token) Clone() *Token {
	c := *t
	c.Apps = slices.Clone(t.Apps)
	c.Scopes = slices.Clone(t.Scopes)
	c.AllowedCIDRs = slices.Clone(t.AllowedCIDRs)
	return &c
}

// App returns the index of the app named name in t.Apps, or -1.
func (t *Token) App(name string) int {
	for i := range t.Apps {
		if t.Apps[i].Name == name {
			return i
		}
	}
	return -1
}

// User is a person who logs in. Users live in exactly one account.
type User struct {
	// ID is the non-secret identifier.
	ID string
	// Account is the account (tenant) the user belongs to.
	Account string
	// Name is the login name, often an e-mail; unique across the store.
	Name string
	// Role is the user's privilege; it caps every user token and session
	// of theirs.
	Role Privilege
	// Disabled users cannot log in; their sessions and user tokens fail.
	Disabled bool
	// PasswordHash is an argon2id hash in PHC string form, or empty for
	// users who cannot log in with a password.
	PasswordHash string
	// MFASecret is the TOTP secret of an enrolled user (nil: not
	// enrolled), sealed with AES-256-GCM under a key derived from
	// Options.HashKey (stored as it is when there is no HashKey).
	MFASecret []byte
	// MFALastStep is the last TOTP time step accepted, so that a code is
	// never accepted twice.
	MFALastStep int64
	// MFAPending is a new TOTP secret, sealed like MFASecret, that waits
	// for its first code (package login's ConfirmMFA) before it replaces
	// MFASecret. Until then logins are unaffected by it. Nil: none.
	MFAPending []byte
	// MFAFailures counts wrong MFA codes since the last accepted one. At
	// login.Options.MaxMFAFailures MFA is refused until an admin or a
	// password reset clears it.
	MFAFailures int
	// MFAWindowStart and MFAWindowFailures count wrong MFA codes in the
	// current throttling window, so that every instance sharing the store
	// shares one guessing budget (see login.Options.MFAWindow).
	MFAWindowStart    time.Time
	MFAWindowFailures int
	// LoginWindowStart and LoginWindowFailures count failed password
	// logins for this name in the current window, from any address (the
	// per-name ceiling, shared by instances).
	LoginWindowStart    time.Time
	LoginWindowFailures int
	// SessionsValidAfter ends every session issued at or before it: set on
	// password change and disable.
	SessionsValidAfter time.Time
	// Created is when the user was created.
	Created time.Time
	// Version increases with every update (compare-and-update).
	Version uint64
}

// Clone returns a deep copy of u.
func (u *User) Clone() *User {
	c := *u
	c.MFASecret = slices.Clone(u.MFASecret)
	c.MFAPending = slices.Clone(u.MFAPending)
	return &c
}
