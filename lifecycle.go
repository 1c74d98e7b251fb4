package apitoken

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/apitoken/apitoken/event"
)

// IssueRequest describes an API token to issue. Fields left zero take the
// defaults given on each. There is deliberately no way to set the owner's
// identity, the ID, the hash or any timestamp but the expiry.
type IssueRequest struct {
	// Description is free text, at most Options.MaxDescription bytes.
	Description string
	// Privilege defaults to the caller's effective privilege and may not
	// exceed it.
	Privilege Privilege
	// Expires defaults to now + Options.DefaultExpiry; it must be in the
	// future and at most now + Options.MaxExpiry. Options.ExpiryPolicy may
	// shorten both for the token's account, or require an expiry.
	Expires time.Time
	// DefaultAppState defaults to Allow.
	DefaultAppState AppState
	// Owner defaults to OwnerUser (OwnerAccount when the caller is an
	// account token). OwnerAccount needs an Admin caller.
	Owner Owner
	// Type is the type label (apiKeyType); default "generic". At most 32
	// bytes.
	Type string
	// Scopes are the token's scopes, names of the vocabulary
	// (Options.Scopes): each must be held by the token's privilege and by
	// the caller (an unknown name is ErrInvalidArgument, one the caller
	// lacks ErrInsufficientPrivilege). Empty means every scope the
	// privilege holds when the caller holds them all (the token is then
	// unscoped, Token.Scopes empty), else the ones the caller holds.
	Scopes []string
	// AllowedCIDRs are the address ranges the token may be used from
	// (Token.AllowedCIDRs), at most 32. A caller with an allow-list of its
	// own may give only ranges within it, and by default passes its own
	// on.
	AllowedCIDRs []netip.Prefix
}

// Issued is a newly issued token: the secret, shown exactly once, and its
// record.
type Issued struct {
	// Secret is the token string. It is not stored anywhere; hand it to
	// the user now.
	Secret string
	// Token is the stored record. A session may act once Token.Unlocked
	// (false while its MFA unlock is due).
	Token *Token
	// User is the user whose session it is, for a session StartSession
	// (or package login) started; nil for API tokens.
	User *User
}

const maxTypeLabel = 32

// Issue creates an API token for the caller. The caller needs an
// effective privilege of at least Normal and an unlocked session if it is
// a session; the token's privilege may not exceed the caller's.
func (m *Manager) Issue(ctx context.Context, caller Principal, req IssueRequest) (Issued, error) {
	a, err := m.authorize(ctx, caller)
	if err != nil {
		return Issued{}, err
	}
	if err := a.canWrite(); err != nil {
		return Issued{}, err
	}
	t := &Token{Kind: KindAPI, Account: a.account, CreatedBy: a.userID, Parent: a.tokenID, Privilege: req.Privilege, Owner: req.Owner}
	if a.kind == KindAPI {
		t.Origin = family(a.origin, a.lineage)
	}
	if t.Privilege == 0 {
		t.Privilege = a.priv
	}
	if err := a.grant(t.Privilege); err != nil {
		return Issued{}, fmt.Errorf("%w: privilege %v for a caller with %v", err, t.Privilege, a.priv)
	}
	if t.Owner == 0 {
		t.Owner = OwnerUser
		if a.userID == "" {
			t.Owner = OwnerAccount
		}
	}
	if t.Scopes, err = m.scopes.newTokenScopes(req.Scopes, t.Privilege, a.scopes); err != nil {
		return Issued{}, err
	}
	if t.AllowedCIDRs, err = checkAllowedCIDRs(req.AllowedCIDRs); err != nil {
		return Issued{}, err
	}
	if len(t.AllowedCIDRs) == 0 {
		t.AllowedCIDRs = slices.Clone(a.allow)
	}
	if err := a.grantAllowList(t.AllowedCIDRs); err != nil {
		return Issued{}, err
	}
	switch t.Owner {
	case OwnerUser:
		if a.userID == "" {
			return Issued{}, fmt.Errorf("%w: an account token has no user to own a user token", ErrInvalidArgument)
		}
		t.UserID = a.userID
	case OwnerAccount:
		if !a.managesAccount() {
			return Issued{}, fmt.Errorf("%w: only admins create account tokens", ErrInsufficientPrivilege)
		}
	default:
		return Issued{}, fmt.Errorf("%w: owner %v", ErrInvalidArgument, t.Owner)
	}
	return m.issue(ctx, t, req, a.tokenID)
}

// IssueFor issues an API token in account on the host's own authority,
// with no credential, for user userID of the host's directory
// (Options.Users) or, with userID empty, as an account token: for hosts whose users sign in their own way (single
// sign-on, their own passwords), from trusted code that has already
// decided the user may have it. The rules are Issue's but for the
// caller's: a user token's privilege defaults to the user's current role
// and may not exceed it, and so its scopes those of the role (and is capped by it at every verification, like
// any user token); a read-only user may hold a read-only token; the user
// must exist in the directory, in that account, and not be disabled
// (ErrUserDisabled). An account token's privilege must be given. The
// request's Owner must be unset or agree with userID.
func (m *Manager) IssueFor(ctx context.Context, account, userID string, req IssueRequest) (Issued, error) {
	if account == "" {
		return Issued{}, fmt.Errorf("%w: a token needs an account", ErrInvalidArgument)
	}
	t := &Token{Kind: KindAPI, Account: account, Privilege: req.Privilege, Owner: OwnerAccount}
	if userID != "" {
		u, err := m.users.UserByID(ctx, userID)
		if errors.Is(err, ErrNotFound) || (err == nil && (u.Disabled || u.Account != account)) {
			return Issued{}, ErrUserDisabled
		}
		if err != nil {
			return Issued{}, storeErr(err)
		}
		t.Owner, t.UserID, t.CreatedBy = OwnerUser, u.ID, u.ID
		if t.Privilege == 0 {
			t.Privilege = u.Role
		}
		if t.Privilege.Valid() && t.Privilege > u.Role {
			return Issued{}, fmt.Errorf("%w: privilege %v for a user whose role is %v", ErrInsufficientPrivilege, t.Privilege, u.Role)
		}
	} else if t.Privilege == 0 {
		return Issued{}, fmt.Errorf("%w: an account token needs a privilege", ErrInvalidArgument)
	}
	if !t.Privilege.Valid() {
		return Issued{}, fmt.Errorf("%w: privilege %v", ErrInvalidArgument, t.Privilege)
	}
	if req.Owner != 0 && req.Owner != t.Owner {
		return Issued{}, fmt.Errorf("%w: owner %v does not match the holder", ErrInvalidArgument, req.Owner)
	}
	var err error
	if t.Scopes, err = m.scopes.newTokenScopes(req.Scopes, t.Privilege, m.scopes.role[t.Privilege]); err != nil {
		return Issued{}, err
	}
	if t.AllowedCIDRs, err = checkAllowedCIDRs(req.AllowedCIDRs); err != nil {
		return Issued{}, err
	}
	return m.issue(ctx, t, req, "")
}

// issue completes a new API token t whose kind, account, owner and
// privilege are decided: it applies the request's description, type,
// expiry and default app state with their defaults and bounds, and the
// per-user cap, then stores and reports it.
func (m *Manager) issue(ctx context.Context, t *Token, req IssueRequest, actorID string) (Issued, error) {
	now := m.now()
	t.Description, t.Type, t.DefaultAppState, t.Created, t.Expires = req.Description, req.Type, req.DefaultAppState, now, req.Expires
	if t.DefaultAppState == 0 {
		t.DefaultAppState = Allow
	}
	if !t.DefaultAppState.Valid() {
		return Issued{}, fmt.Errorf("%w: default app state %v", ErrInvalidArgument, t.DefaultAppState)
	}
	if t.Type == "" {
		t.Type = defaultTypeLabel
	}
	if err := m.checkText(t.Description, t.Type); err != nil {
		return Issued{}, err
	}
	var err error
	if t.Expires, err = m.newExpiry(t.Account, req.Expires, now); err != nil {
		return Issued{}, err
	}
	if t.Owner == OwnerUser {
		if err := m.checkTokenCap(ctx, t.Account, t.UserID); err != nil {
			return Issued{}, err
		}
	}
	iss, err := m.create(ctx, t)
	if err != nil {
		return Issued{}, err
	}
	m.emit(Event{Type: event.Created, TokenID: t.ID, Account: t.Account, UserID: t.UserID, ActorID: actorID, Privilege: t.Privilege})
	return iss, nil
}

// checkText bounds descriptions and type labels, and refuses either if it
// holds a token of this Manager's Format (anywhere, even glued to other
// characters, checksum or not; see Format.findToken): descriptions are
// listed, logged and kept in backups, so a secret pasted into one would
// leak. The error never quotes the text.
func (m *Manager) checkText(description, typ string) error {
	if len(description) > m.opts.MaxDescription {
		return fmt.Errorf("%w: description longer than %d bytes", ErrInvalidArgument, m.opts.MaxDescription)
	}
	if len(typ) > maxTypeLabel {
		return fmt.Errorf("%w: type label longer than %d bytes", ErrInvalidArgument, maxTypeLabel)
	}
	if m.format.containsToken(description) {
		return fmt.Errorf("%w: description holds a token; never paste a secret into one", ErrInvalidArgument)
	}
	if m.format.containsToken(typ) {
		return fmt.Errorf("%w: type label holds a token", ErrInvalidArgument)
	}
	return nil
}

// create gives t a fresh secret and ID, both stamped with t.Created, and
// stores it. t.Lineage is kept if set (rotation), else it is the new ID.
func (m *Manager) create(ctx context.Context, t *Token) (Issued, error) {
	secret, err := m.format.generate(t.Kind, t.Created, m.opts.Rand)
	if err != nil {
		return Issued{}, err
	}
	if t.ID, err = m.newID(t.Created); err != nil {
		return Issued{}, err
	}
	t.Hash, t.HashKeyID = m.recordHash(secret)
	t.Hint = hint(secret)
	if t.Lineage == "" {
		t.Lineage = t.ID
	}
	if err := m.store.CreateToken(ctx, t); err != nil {
		return Issued{}, storeErr(err)
	}
	return Issued{Secret: secret, Token: t.Clone()}, nil
}

// List returns a page of the active API tokens the caller may see, oldest
// first, or newest first with opts.Newest: its own user tokens, or every
// API token of the account for an admin; with opts.ExpiringWithin, only
// those that expire within that window. It reads only API tokens, a page
// at a time, in either order. Uses this process has
// recorded but not yet flushed are written first (cached tokens' at
// Options.LastUsedResolution), so LastUsed and each app's LastSeen are
// this process's latest to within that resolution; other instances' uses
// show once they flush.
func (m *Manager) List(ctx context.Context, caller Principal, opts ListOptions) (Page[*Token], error) {
	a, err := m.authorize(ctx, caller)
	if err != nil {
		return Page[*Token]{}, err
	}
	limit, after, err := opts.parseOrdered()
	if err != nil {
		return Page[*Token]{}, err
	}
	q := TokenQuery{Account: a.account, Kind: KindAPI, Newest: opts.Newest}
	if !a.managesAccount() {
		if a.userID == "" {
			return Page[*Token]{}, nil // a non-admin account token owns no user tokens
		}
		q.UserID = a.userID
	}
	m.flushForListing(ctx)
	now := m.now()
	if opts.ExpiringWithin > 0 {
		q.ExpiresAfter, q.ExpiresBefore = now, now.Add(opts.ExpiringWithin)
	}
	return listPageIn(ctx, limit, after, opts.Newest,
		func(ctx context.Context, after Position, n int) ([]*Token, error) {
			q.After, q.Limit = after, n
			return m.store.ListTokens(ctx, q)
		},
		(*Token).Position,
		// q.Expiring again: a store that ignored the range lists no more.
		func(t *Token) bool { return a.sees(t) && active(t, now) && q.Expiring(t) })
}

// flushForListing writes this process's pending uses before a listing or
// a Get reads records, so that they show every use this process has seen
// to within Options.LastUsedResolution. A failure is reported and the
// listing goes on with what is stored.
func (m *Manager) flushForListing(ctx context.Context) {
	if err := m.flush(ctx, m.opts.LastUsedResolution); err != nil {
		m.emit(Event{Type: event.FlushFailed, Err: err})
	}
}

// Get returns one active API token the caller may see; any other ID gives
// ErrNotFound.
func (m *Manager) Get(ctx context.Context, caller Principal, id string) (*Token, error) {
	a, err := m.authorize(ctx, caller)
	if err != nil {
		return nil, err
	}
	m.flushForListing(ctx)
	return m.loadVisible(ctx, a, id)
}

// Revoke retires token id (behaviour rule 10): by its owner or an admin of its
// account, effective before Revoke returns, irreversibly. Revoking a token
// the caller revoked before is not an error; a token the caller may not see
// is ErrNotFound.
func (m *Manager) Revoke(ctx context.Context, caller Principal, id string) error {
	a, err := m.authorize(ctx, caller)
	if err != nil {
		return err
	}
	t, err := m.store.TokenByID(ctx, id)
	if errors.Is(err, ErrNotFound) || (err == nil && !a.sees(t)) {
		return ErrNotFound
	}
	if err != nil {
		return storeErr(err)
	}
	if err := a.canWrite(); err != nil {
		return err
	}
	return m.revoke(ctx, id, a.tokenID)
}

// RevokeFor revokes token id of account on the host's own authority, with
// no credential: for trusted code that has already decided the token must
// go (an operator's tool, the host's own administration), as IssueFor
// issues. It takes any token of the account, API token or session; it is
// otherwise Revoke: effective before it returns, irreversible, reported
// as event.Revoked (with no ActorID), and harmless to repeat. A token of
// another account, or none, is ErrNotFound. Never expose it to a caller
// whose rights have not been checked: use Revoke for those.
func (m *Manager) RevokeFor(ctx context.Context, account, id string) error {
	t, err := m.store.TokenByID(ctx, id)
	if errors.Is(err, ErrNotFound) || (err == nil && (account == "" || t.Account != account)) {
		return ErrNotFound
	}
	if err != nil {
		return storeErr(err)
	}
	return m.revoke(ctx, id, "")
}

// revoke marks id revoked if it is not already.
func (m *Manager) revoke(ctx context.Context, id, actorID string) error {
	_, err := m.revokeRecord(ctx, id, actorID)
	return err
}

// errUnchanged ends an updateToken without a write: the record already
// holds what the change would set.
var errUnchanged = errors.New("apitoken: record already as asked")

// revokeRecord is revoke, also reporting whether it wrote. A record that
// is already revoked costs one read and no write: the compare-and-update
// stops before storing an unchanged record.
func (m *Manager) revokeRecord(ctx context.Context, id, actorID string) (wrote bool, err error) {
	t, err := m.updateToken(ctx, id, func(t *Token) error {
		if !t.Revoked.IsZero() {
			return errUnchanged
		}
		t.Revoked = m.now()
		return nil
	})
	if errors.Is(err, errUnchanged) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	m.usage.forget(t.ID)
	m.emit(Event{Type: event.Revoked, TokenID: t.ID, Account: t.Account, UserID: t.UserID, ActorID: actorID})
	return true, nil
}

// unknownTokenID is an ID no record has in practice (IDs begin with their
// creation time, and this one says 1970): RevokeSecret reads it for an
// unknown secret so that every case makes the same store reads.
const unknownTokenID = "0000000000000000"

// RevokeSecret revokes the token whose full secret is presented, with no
// other credential (behaviour rule 10, GitHub's leaked-credential model). It returns
// nil whether the token was live, already revoked or unknown, so it reveals
// nothing; only input that is not a token at all (ErrMalformed) or a store
// failure is an error. A live token is revoked before RevokeSecret returns.
//
// The three cases also cost the same: each reads the store by hash (once,
// or with a keyring once per key and form, as an unknown token needs),
// then by ID, and where a live token costs one write, a revoked or unknown
// one writes no record; instead, if the store has CommitEmpty (see Store),
// it commits an empty write transaction, which on a store that fsyncs
// (bolt) costs what the revoking write does. Repeating RevokeSecret for a
// revoked token therefore never writes a record.
func (m *Manager) RevokeSecret(ctx context.Context, secret string) error {
	_, _, err := m.revokeSecret(ctx, secret)
	return err
}

// revokeSecret is RevokeSecret, also returning the record the secret
// named (nil if unknown) and whether this call revoked it.
func (m *Manager) revokeSecret(ctx context.Context, secret string) (t *Token, wrote bool, err error) {
	_, issued, err := m.format.parse(secret)
	if err != nil {
		return nil, false, err
	}
	t, reads, err := m.tokenRecord(ctx, secret, issued, Hash{}, false)
	// A keyring reads once per key until the token is found: read as many
	// times as for an unknown token whatever the outcome.
	for range m.ring.forms() - reads {
		if _, err := m.store.TokenByHash(ctx, Hash{}); err != nil && !errors.Is(err, ErrNotFound) {
			return nil, false, storeErr(err)
		}
	}
	switch {
	case errors.Is(err, ErrNotFound):
		t = nil
		// The read a known secret makes in updateToken.
		if _, err := m.store.TokenByID(ctx, unknownTokenID); err != nil && !errors.Is(err, ErrNotFound) {
			return nil, false, storeErr(err)
		}
	case err != nil:
		return nil, false, storeErr(err)
	default:
		wrote, err = m.revokeRecord(ctx, t.ID, t.ID)
		if err != nil && !errors.Is(err, ErrNotFound) { // ErrNotFound: deleted concurrently
			return t, false, err
		}
	}
	if c, ok := m.store.(emptyCommitter); ok && !wrote {
		return t, false, storeErr(c.CommitEmpty(ctx))
	}
	return t, wrote, nil
}

// Promote turns user token id into an account token (behaviour rule 11). Only admins
// may; it is irreversible; of concurrent promotes exactly one succeeds and
// the others get ErrAlreadyAccountToken.
func (m *Manager) Promote(ctx context.Context, caller Principal, id string) (*Token, error) {
	var actorID string
	t, err := m.manage(ctx, caller, id, func(a actor, t *Token) error {
		actorID = a.tokenID
		if !a.managesAccount() {
			return ErrInsufficientPrivilege
		}
		if t.Owner == OwnerAccount {
			return ErrAlreadyAccountToken
		}
		// No longer capped by its owner's role, the token holds all it
		// declares: the admin must hold that itself.
		if err := a.grantsOf(t); err != nil {
			return err
		}
		t.Owner, t.UserID = OwnerAccount, ""
		return nil
	})
	if err != nil {
		return nil, err
	}
	m.emit(Event{Type: event.Promoted, TokenID: t.ID, Account: t.Account, ActorID: actorID})
	return t, nil
}

// TokenUpdate lists what an owner or admin may change on a token (behaviour rule 12).
// Nil fields stay as they are. Nothing else is changeable: not the owner,
// ID, hash, account or timestamps.
type TokenUpdate struct {
	Description *string
	Privilege   *Privilege
	// DefaultAppState replaces the default app state. Loosening it (to
	// Allow, or to Pending from Deny) is a grant: a caller with an
	// allow-list may do it only on a token whose allow-list, as updated,
	// lies within its own.
	DefaultAppState *AppState
	// Scopes replaces the token's scopes (see IssueRequest.Scopes; an
	// empty list makes it unscoped). Neither it nor a privilege change
	// may give the token a scope the caller does not hold.
	Scopes *[]string
	// AllowedCIDRs replaces the allow-list (empty: none). A caller with
	// an allow-list of its own may set only ranges within it.
	AllowedCIDRs *[]netip.Prefix
}

// Update changes a token's description, privilege (never above the
// caller's own), scopes, allow-list or default app state. The token ends
// with no scope it did not have that the caller lacks.
func (m *Manager) Update(ctx context.Context, caller Principal, id string, u TokenUpdate) (*Token, error) {
	var (
		actorID     string
		privChanged bool
	)
	t, err := m.manage(ctx, caller, id, func(a actor, t *Token) error {
		actorID = a.tokenID
		before, beforePriv, beforeDefault := m.scopes.declared(t), t.Privilege, t.DefaultAppState
		if u.Privilege != nil {
			if err := a.grant(*u.Privilege); err != nil {
				return err
			}
			privChanged = t.Privilege != *u.Privilege
			t.Privilege = *u.Privilege
		}
		if u.DefaultAppState != nil {
			if err := a.canApproveFor(t); err != nil {
				return err
			}
			if !u.DefaultAppState.Valid() {
				return fmt.Errorf("%w: default app state %v", ErrInvalidArgument, *u.DefaultAppState)
			}
			t.DefaultAppState = *u.DefaultAppState
		}
		if u.Description != nil {
			if err := m.checkText(*u.Description, ""); err != nil {
				return err
			}
			t.Description = *u.Description
		}
		if u.Scopes != nil && len(*u.Scopes) == 0 {
			t.Scopes = nil // unscoped: every scope of its privilege, checked below
		} else if u.Scopes != nil {
			mask, err := m.scopes.mask(*u.Scopes)
			if err != nil {
				return err
			}
			if _, err := m.scopes.newTokenScopes(*u.Scopes, t.Privilege, mask); err != nil {
				return err // a scope beyond the token's privilege
			}
			t.Scopes = m.scopes.build(mask)
		}
		if u.AllowedCIDRs != nil {
			list, err := checkAllowedCIDRs(*u.AllowedCIDRs)
			if err != nil {
				return err
			}
			if err := a.grantAllowList(list); err != nil {
				return err
			}
			t.AllowedCIDRs = list
		}
		if err := a.grantScopes(m.scopes.declared(t) &^ before); err != nil {
			return err
		}
		// Checked against the allow-list the token ends with, as below.
		if err := a.grantApproval(t, beforeDefault, t.DefaultAppState); err != nil {
			return err
		}
		// A token whose rights grow is, from then on, a credential the
		// caller handed out: a caller with an allow-list may do that only
		// for a token limited to its own ranges, as when it issues one.
		if t.Privilege > beforePriv || m.scopes.declared(t)&^before != 0 {
			return a.grantAllowList(t.AllowedCIDRs)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	e := Event{Type: event.Updated, TokenID: t.ID, Account: t.Account, UserID: t.UserID, ActorID: actorID}
	if privChanged {
		e.Type, e.Privilege = event.PrivilegeChanged, t.Privilege
	}
	m.emit(e)
	return t, nil
}

// SetAppState allows or denies a recorded application of token id (behaviour
// rule 20). state must be Allow or Deny; an unrecorded name is ErrNotFound.
// Allowing an application that was not allowed is a grant: a caller with
// an allow-list may do it only on a token limited to its own ranges
// (ErrInsufficientPrivilege otherwise). Denying is always allowed.
func (m *Manager) SetAppState(ctx context.Context, caller Principal, id, app string, state AppState) (*Token, error) {
	if state != Allow && state != Deny {
		return nil, fmt.Errorf("%w: an application can be set to allow or deny", ErrInvalidArgument)
	}
	var actorID string
	t, err := m.manage(ctx, caller, id, func(a actor, t *Token) error {
		actorID = a.tokenID
		if err := a.canApproveFor(t); err != nil {
			return err
		}
		i := t.App(app)
		if i < 0 {
			return ErrNotFound
		}
		if err := a.grantApproval(t, t.Apps[i].State, state); err != nil {
			return err
		}
		t.Apps[i].State = state
		return nil
	})
	if err != nil {
		return nil, err
	}
	typ := event.AppAllowed
	if state == Deny {
		typ = event.AppDenied
	}
	m.emit(Event{Type: typ, TokenID: t.ID, Account: t.Account, UserID: t.UserID, ActorID: actorID, App: app, State: state})
	return t, nil
}

// errApprovalsMoved tells retireRotated that the old record's application
// approvals changed after the new record copied them.
var errApprovalsMoved = errors.New("apitoken: approvals changed during rotation")

// retireRotated retires old (now, or at the end of grace) once its
// successor nextID exists. If old was revoked, promoted, re-privileged,
// re-scoped or given another allow-list meanwhile it fails with
// ErrConflict. If an application was allowed or
// denied, or the default app state changed, on old after the successor
// copied it, the successor takes the newer states first and the retire is
// tried again: the retire commits only while both records agree, so a deny
// that races a rotation is never lost.
func (m *Manager) retireRotated(ctx context.Context, old *Token, nextID string, now time.Time, grace time.Duration) error {
	for range maxUpdateAttempts {
		var latest *Token
		_, err := m.updateToken(ctx, old.ID, func(t *Token) error {
			if !active(t, m.now()) || t.Owner != old.Owner || t.Privilege != old.Privilege ||
				!slices.Equal(t.Scopes, old.Scopes) || !slices.Equal(t.AllowedCIDRs, old.AllowedCIDRs) {
				return ErrConflict
			}
			if !sameApprovals(t, old) {
				latest = t.Clone()
				return errApprovalsMoved
			}
			if grace == 0 {
				t.Revoked = now
			} else if end := now.Add(grace); end.Before(t.Expires) {
				t.Expires = end
				// Whoever rotated knows the old secret ends: no warning.
				if t.ExpiryWarned.IsZero() {
					t.ExpiryWarned = now
				}
			}
			return nil
		})
		if !errors.Is(err, errApprovalsMoved) {
			return err
		}
		if _, err := m.updateToken(ctx, nextID, func(n *Token) error {
			n.DefaultAppState = latest.DefaultAppState
			n.Apps = carryApps(latest.Apps)
			return nil
		}); err != nil {
			return err
		}
		old = latest
	}
	return ErrConflict
}

// sameApprovals reports whether a and b have the same default app state
// and the same application names in the same states.
func sameApprovals(a, b *Token) bool {
	if a.DefaultAppState != b.DefaultAppState || len(a.Apps) != len(b.Apps) {
		return false
	}
	for i := range a.Apps {
		if a.Apps[i].Name != b.Apps[i].Name || a.Apps[i].State != b.Apps[i].State {
			return false
		}
	}
	return true
}

// carryApps returns the old record's applications as its successor keeps
// them: states and first-seen times, with last-seen reset to first seen,
// since nobody has used the new secret before Rotate returns it.
func carryApps(from []App) []App {
	out := make([]App, len(from))
	for i, a := range from {
		a.LastSeen = a.FirstSeen
		out[i] = a
	}
	return out
}

// Rotate issues a new secret for token id with the same lineage and
// settings (behaviour rule 13; the expiry is kept unless the account's
// expiry rules now allow less, and then shortened to their maximum) and retires the old secret after grace (zero: at
// once). The caller needs at least the token's privilege. The new record
// has a new ID; its Lineage names the first token of the chain. With a
// grace period both secrets are live for a while, so the rotation counts
// against MaxTokensPerUser like an issue (ErrLimitReached at the cap).
func (m *Manager) Rotate(ctx context.Context, caller Principal, id string, grace time.Duration) (Issued, error) {
	if grace < 0 || grace > m.opts.MaxRotateGrace {
		return Issued{}, fmt.Errorf("%w: grace must be between 0 and %s", ErrInvalidArgument, humanDuration(m.opts.MaxRotateGrace))
	}
	a, err := m.authorize(ctx, caller)
	if err != nil {
		return Issued{}, err
	}
	old, err := m.loadVisible(ctx, a, id)
	if err != nil {
		return Issued{}, err
	}
	if err := a.canWrite(); err != nil {
		return Issued{}, err
	}
	if err := a.grantsOf(old); err != nil {
		return Issued{}, err
	}
	if grace > 0 && old.Owner == OwnerUser {
		// The old secret stays live through the grace, and may be rotated
		// again meanwhile: the new one counts against the cap (rule 8).
		if err := m.checkTokenCap(ctx, old.Account, old.UserID); err != nil {
			return Issued{}, err
		}
	}
	now := m.now()
	next := old.Clone()
	next.Created, next.LastUsed, next.Revoked, next.ExpiryWarned, next.Parent = now, time.Time{}, time.Time{}, time.Time{}, a.tokenID
	next.Expires = m.rotatedExpiry(old.Account, old.Expires, now)
	next.Apps = carryApps(old.Apps)
	iss, err := m.create(ctx, next)
	if err != nil {
		return Issued{}, err
	}
	if err := m.retireRotated(ctx, old, iss.Token.ID, now, grace); err != nil {
		// Undo the new token even if ctx was cancelled: the caller's
		// cancellation must not leave half a rotation behind.
		undoCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if derr := m.store.DeleteToken(undoCtx, iss.Token.ID); derr != nil {
			return Issued{}, storeErr(derr)
		}
		return Issued{}, err
	}
	m.emit(Event{Type: event.Rotated, TokenID: iss.Token.ID, OldTokenID: id, Account: old.Account, UserID: old.UserID, ActorID: a.tokenID})
	return iss, nil
}
