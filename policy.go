package apitoken

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"
)

// This file holds every authorisation rule of the library. Stores persist,
// handlers translate, and the rules below decide.

// effectivePrivilege is a token's privilege capped by its owner's current
// role (behaviour rule 14). Account tokens have no owner to cap them. A user who is
// missing, disabled, in another account, or whose sessions were ended gives
// an error. An unset value anywhere gives 0, which authorises nothing.
func effectivePrivilege(t *Token, u *User) (Privilege, error) {
	if t.Owner == OwnerAccount && t.Kind == KindAPI {
		return t.Privilege, nil
	}
	if t.Owner != OwnerUser {
		return 0, ErrUnknown // an impossible record: fail closed
	}
	if u == nil || u.Disabled || u.Account != t.Account || u.ID != t.UserID {
		return 0, ErrUserDisabled
	}
	if t.Kind == KindSession && !t.Created.After(u.SessionsValidAfter) {
		return 0, ErrRevoked // password changed or user re-enabled after disable
	}
	return minPrivilege(t.Privilege, u.Role), nil
}

// verifiedPrivilege is what a verification grants: the effective
// privilege, which must also be a valid one.
func verifiedPrivilege(t *Token, u *User) (Privilege, error) {
	p, err := effectivePrivilege(t, u)
	if err == nil && !p.Valid() {
		return 0, ErrInsufficientPrivilege
	}
	return p, err
}

// checkLive refuses revoked and expired records (behaviour rule 15), and sessions
// idle for longer than the idle timeout.
func (m *Manager) checkLive(v *view, now time.Time) error {
	switch {
	case v.revoked:
		return ErrRevoked
	case !now.Before(v.expires):
		return ErrExpired
	case v.kind == KindSession && !now.Before(m.lastActive(v).Add(m.opts.SessionIdleTimeout)):
		return ErrExpired
	}
	return nil
}

// actor is an authenticated caller of a management operation, re-derived
// from the store at the time of the call.
type actor struct {
	tokenID string
	lineage string // the rotation chain of the credential
	origin  string // the credential's Token.Origin
	kind    Kind
	owner   Owner
	account string
	userID  string // empty for account tokens
	priv    Privilege
	scopes  uint64         // effective scopes
	allow   []netip.Prefix // the credential's allow-list; empty for none
	vocab   *scopeVocab
}

// principal is a as a Principal (see Manager.Authorize). Only unlocked
// actors are returned by authorize without ErrSessionLocked.
func (a actor) principal() Principal {
	p := Principal{TokenID: a.tokenID, Kind: a.kind, Owner: a.owner, Account: a.account, UserID: a.userID, Privilege: a.priv}
	if a.vocab != nil {
		p.Scopes = a.vocab.list(a.scopes)
	}
	return p
}

// authorize re-reads the caller's credential and owner, so a management
// call never acts on stale rights: a caller demoted, disabled or revoked
// since its Principal was made gets the new answer. Locked sessions are
// refused with ErrSessionLocked (and their actor, for Manager.Authorize).
func (m *Manager) authorize(ctx context.Context, p Principal) (actor, error) {
	if p.TokenID == "" {
		return actor{}, ErrUnknown
	}
	t, err := m.store.TokenByID(ctx, p.TokenID)
	if errors.Is(err, ErrNotFound) {
		return actor{}, ErrUnknown
	}
	if err != nil {
		return actor{}, storeErr(err)
	}
	now := m.now()
	if err := m.checkLive(new(newView(t, nil, "")), now); err != nil {
		return actor{}, err
	}
	u, err := m.ownerOf(ctx, t)
	if err != nil {
		return actor{}, err
	}
	priv, err := effectivePrivilege(t, u)
	if err != nil {
		return actor{}, err
	}
	a := actor{tokenID: t.ID, lineage: t.Lineage, origin: t.Origin, kind: t.Kind, owner: t.Owner, account: t.Account, userID: t.UserID, priv: priv,
		scopes: m.scopes.effective(t, priv), allow: t.AllowedCIDRs, vocab: m.scopes}
	if t.Kind == KindSession && !t.Unlocked {
		return a, ErrSessionLocked
	}
	return a, nil
}

// ownerOf returns the owning user of a user token or session (nil for
// account tokens). A missing user is not an error here: effectivePrivilege
// turns it into ErrUserDisabled.
func (m *Manager) ownerOf(ctx context.Context, t *Token) (*User, error) {
	if t.Owner != OwnerUser {
		return nil, nil
	}
	u, err := m.users.UserByID(ctx, t.UserID)
	if errors.Is(err, ErrNotFound) {
		return nil, nil
	}
	return u, storeErr(err)
}

// canChangeOwnCredentials is the rule for a user's own account: the
// sessions list, signing out elsewhere, the profile, and (in package
// login) the user's own password and second factor: only an unlocked
// session of that user. An API token of any privilege, even one of the
// user's own, may not: whoever holds a token could otherwise make it a
// password and an MFA secret, and so a session with the owner's full role.
func (a actor) canChangeOwnCredentials(userID string) error {
	return sessionOf(a.kind, a.userID, userID)
}

// sessionOf is canChangeOwnCredentials for a credential of kind acting for
// user actor.
func sessionOf(kind Kind, actor, userID string) error {
	if kind != KindSession || actor == "" || actor != userID {
		return errSessionRequired
	}
	return nil
}

// RequireSessionOf returns ErrInsufficientPrivilege (code session_required) unless p is a session of
// user userID: the rule for calls about a user's own account and
// credentials (behaviour rule 24), which API tokens may never make. Pass
// a Principal from Manager.Authorize, which also refuses locked sessions.
func (p Principal) RequireSessionOf(userID string) error {
	return sessionOf(p.Kind, p.UserID, userID)
}

// canApproveFor is the rule for changing t's application states and
// default app state (behaviour rule 20): never by the credential itself,
// nor by another secret of its rotation chain, nor by any API token of its
// issuance family (tokens it issued, the token that issued it, their
// siblings), or a token could approve the applications its owner left
// pending, directly or through a token it issues. Its owner's session,
// another credential of the owner from outside the family, and an admin
// may (visibility and the write floor are checked by manage).
func (a actor) canApproveFor(t *Token) error {
	if (a.lineage != "" && a.lineage == t.Lineage) || (a.kind == KindAPI && family(a.origin, a.lineage) == family(t.Origin, t.Lineage)) {
		return fmt.Errorf("%w: a credential cannot change its own application approvals", ErrInsufficientPrivilege)
	}
	return nil
}

// family names the issuance family of a token: the lineage of the API
// token at its root (its Origin), or its own lineage if a session or the
// host issued it.
func family(origin, lineage string) string {
	if origin != "" {
		return origin
	}
	return lineage
}

// canWrite is the floor for every change: read-only credentials read.
func (a actor) canWrite() error {
	if !a.priv.AtLeast(Normal) {
		return ErrInsufficientPrivilege
	}
	return nil
}

// sees reports whether a may see t at all (behaviour rule 9). Admins see every API
// token of their account; anyone else sees only their own user tokens.
// Sessions are never listed or managed through this path.
func (a actor) sees(t *Token) bool {
	if t.Kind != KindAPI || t.Account != a.account {
		return false
	}
	if a.managesAccount() {
		return true
	}
	return a.userID != "" && t.Owner == OwnerUser && t.UserID == a.userID
}

// managesAccount reports whether a may create, see, promote and manage
// account tokens and every API token of its account: admins only.
func (a actor) managesAccount() bool { return a.priv.AtLeast(Admin) }

// Grantable lists, lowest first, the privileges p may give a token it
// issues or updates: those up to its own effective privilege, and none at
// all for a read-only credential, which may not write. It is for building
// choices (a form's menu); every operation checks the same rules itself.
func (p Principal) Grantable() []Privilege {
	a := actor{priv: p.Privilege}
	if a.canWrite() != nil {
		return nil
	}
	var out []Privilege
	for v := ReadOnly; v <= Admin; v++ {
		if a.grant(v) == nil {
			out = append(out, v)
		}
	}
	return out
}

// ManagesAccount reports whether p may create, promote and manage account
// tokens and see every API token of its account (admins). Like Grantable it
// is for presentation; operations check it themselves.
func (p Principal) ManagesAccount() bool { return actor{priv: p.Privilege}.managesAccount() }

// active reports whether t is neither revoked nor expired.
func active(t *Token, now time.Time) bool {
	return t.Revoked.IsZero() && now.Before(t.Expires)
}

// grant checks that a may give a credential privilege p: a real value, never
// above a's own (behaviour rules 6 and 12).
func (a actor) grant(p Privilege) error {
	if !p.Valid() {
		return ErrInvalidArgument
	}
	if p > a.priv {
		return ErrInsufficientPrivilege
	}
	return nil
}

// grantScopes checks that a may give a token the scopes want: only
// scopes it holds itself.
func (a actor) grantScopes(want uint64) error { return a.vocab.holds(a.scopes, want) }

// grantAllowList checks that a may give a token the allow-list want: a
// credential with an allow-list may give only ranges within its own, so
// that no token it makes works from where it does not.
func (a actor) grantAllowList(want []netip.Prefix) error {
	if !within(want, a.allow) {
		return fmt.Errorf("%w: the caller may be used only from its own allowed ranges and can grant no wider ones", ErrInsufficientPrivilege)
	}
	return nil
}

// grantApproval checks that a may move an application state of t, or its
// default one, from from to to. Letting more applications use a token
// (AppState.looser) hands it out to them, a grant like raising its
// privilege: a caller with an allow-list may do it only on a token limited
// to its own ranges. Tightening is always allowed. Who may change t's
// approvals at all is canApproveFor.
func (a actor) grantApproval(t *Token, from, to AppState) error {
	if to.looser(from) {
		return a.grantAllowList(t.AllowedCIDRs)
	}
	return nil
}

// grantsOf checks that a may hand out a credential with t's rights: its
// privilege, its declared scopes and its allow-list (rotate, promote).
func (a actor) grantsOf(t *Token) error {
	if err := a.grant(t.Privilege); err != nil {
		return err
	}
	if err := a.grantScopes(a.vocab.declared(t)); err != nil {
		return err
	}
	return a.grantAllowList(t.AllowedCIDRs)
}

// loadVisible returns the API token id if a may see it and it is active;
// otherwise ErrNotFound, the same answer as for an ID that does not exist.
func (m *Manager) loadVisible(ctx context.Context, a actor, id string) (*Token, error) {
	t, err := m.store.TokenByID(ctx, id)
	if errors.Is(err, ErrNotFound) || (err == nil && (!a.sees(t) || !active(t, m.now()))) {
		return nil, ErrNotFound
	}
	return t, storeErr(err)
}

// manage wraps updateToken with the visibility and write rules shared by
// every change to an existing token: invisible or inactive tokens are
// ErrNotFound and read-only callers get ErrInsufficientPrivilege. Rules
// about what may be granted are the operation's own (see actor.grant).
func (m *Manager) manage(ctx context.Context, p Principal, id string, fn func(a actor, t *Token) error) (*Token, error) {
	a, err := m.authorize(ctx, p)
	if err != nil {
		return nil, err
	}
	if _, err := m.loadVisible(ctx, a, id); err != nil {
		return nil, err
	}
	if err := a.canWrite(); err != nil {
		return nil, err
	}
	return m.updateToken(ctx, id, func(t *Token) error {
		if !a.sees(t) || !active(t, m.now()) {
			return ErrNotFound
		}
		return fn(a, t)
	})
}
