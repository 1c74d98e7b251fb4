package apitoken

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/apitoken/apitoken/event"
	"github.com/apitoken/apitoken/internal/cache"
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
	// Scopes are the effective scopes, in the order of the vocabulary
	// (Options.Scopes): the token's own (all its privilege holds if it
	// names none) capped by the scopes of the effective privilege. The
	// slice is shared by every Principal with the same scopes: read it,
	// never modify it. See HasScope and Guard.RequireScope.
	Scopes []string
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
// ErrAppDenied, ErrLimitReached (too many applications), ErrSessionLocked, or a *StoreError.
//
// A locked session returns its Principal together with ErrSessionLocked,
// so hosts can let it reach the unlock and logout routes only.
//
// An application name not yet recorded for the token that holds a token
// string is refused with ErrInvalidArgument, and is neither recorded nor
// put in the Principal or the event.VerifyFailed event.
//
// Malformed tokens are refused before any store call. A hot token costs no
// store read and no store write: usage is recorded in memory and flushed in
// batches; only an application name new to the token is written at once.
//
// Verify knows no client address, so a token with an allow-list
// (Token.AllowedCIDRs) fails with ErrInsufficientPrivilege (code address_not_allowed); use VerifyFrom.
func (m *Manager) Verify(ctx context.Context, token, app string) (Principal, error) {
	return m.VerifyFrom(ctx, token, app, netip.Addr{})
}

// VerifyFrom is Verify for a request from client address addr (see
// ClientAddr; the zero Addr when unknown): a token with an allow-list
// (Token.AllowedCIDRs) is refused with ErrInsufficientPrivilege (code address_not_allowed), after every
// other check of the token passed, unless addr lies in one of its ranges;
// nothing of such a refused use is recorded. A valid addr is recorded as
// the token's LastUsedIP with the use. The Guard, ForwardAuth and package
// grpcauth call it.
func (m *Manager) VerifyFrom(ctx context.Context, token, app string, addr netip.Addr) (Principal, error) {
	var v view
	var start time.Time
	o := m.opts.ObserveVerify
	if o != nil && timeThisVerification() {
		start = time.Now()
	}
	p, err := m.verify(ctx, token, app, addr, &v)
	if o != nil {
		ob := VerifyObservation{Kind: p.Kind, Err: err, CacheHit: v.hit, Timed: !start.IsZero()}
		if ob.Timed {
			ob.Duration = time.Since(start)
		}
		o(ob)
	}
	if err != nil {
		m.emit(Event{Type: event.VerifyFailed, TokenID: p.TokenID, Account: p.Account, UserID: p.UserID, App: p.App, Err: err})
	}
	return p, err
}

// verify is Verify without the event and the observation; v receives what
// verification read.
func (m *Manager) verify(ctx context.Context, token, app string, addr netip.Addr, v *view) (Principal, error) {
	p, app, now, err := m.check(ctx, token, app, addr, v)
	if err != nil {
		return p, err
	}
	return m.use(ctx, v, p, app, addr, now)
}

// check is the first half of verify, which records no use: it finds the
// token's view (into v) and refuses dead tokens and owners. It returns the
// Principal so far, the application name verification uses, and the time
// it decided at. A token with an allow-list is refused unless addr lies in
// it.
func (m *Manager) check(ctx context.Context, token, app string, addr netip.Addr, v *view) (Principal, string, time.Time, error) {
	if len(token) > maxTokenLength {
		return Principal{}, app, time.Time{}, ErrMalformed // before hashing it
	}
	var kind Kind
	switch {
	case hasTokenPrefix(token, m.format.SessionPrefix):
		kind, app = KindSession, "" // sessions are not used by applications
	case app == "":
		kind, app = KindAPI, m.opts.DefaultApp
	default:
		kind = KindAPI
	}
	if err := m.lookup(ctx, token, app, v); err != nil {
		return Principal{}, app, time.Time{}, err
	}
	if v.kind != kind {
		return Principal{}, app, time.Time{}, ErrUnknown // a record whose kind disagrees with its prefix
	}
	p := Principal{TokenID: v.id, Kind: v.kind, Owner: v.owner, Account: v.account, UserID: v.userID, Unlocked: v.unlocked}
	now := m.now()
	if err := m.checkLive(v, now); err != nil {
		if v.kind == KindSession {
			m.usage.forget(v.id)
		}
		return p, app, now, err
	}
	if v.privErr != nil {
		return p, app, now, v.privErr
	}
	p.Privilege = v.priv
	if v.scopeRef != 0 {
		p.Scopes = m.scopes.byIndex(v.scopeRef)
	} else {
		p.Scopes = m.scopes.list(v.scopes)
	}
	if v.allow != "" && !allowedFromEncoded(v.allow, addr) {
		return p, app, now, errAddressNotAllowed
	}
	return p, app, now, nil
}

// use is the second half of verify, for a token check accepted: it records
// the use (a session's activity, an application's approval) and refuses
// locked sessions and applications not allowed.
func (m *Manager) use(ctx context.Context, v *view, p Principal, app string, addr netip.Addr, now time.Time) (Principal, error) {
	if v.kind == KindSession {
		m.usage.TouchSession(v.id, now)
		if !v.unlocked {
			return p, ErrSessionLocked
		}
		return p, nil
	}
	p.App = app
	i, err := m.approveApp(ctx, v, app, now)
	if err != nil {
		if errors.Is(err, errTokenInAppName) {
			p.App = "" // a secret: keep it out of the event and the caller's logs
		}
		return p, err
	}
	if !addr.IsValid() {
		if !m.cache.Touch(v.ref, i, now) {
			m.usage.Touch(v.id, now, app)
		}
		return p, nil
	}
	// The address is reported to the tracker only when it differs from
	// the one this token's cache slot last saw.
	switch touched, changed := m.cache.TouchFrom(v.ref, i, now, cacheAddr(addr)); {
	case !touched:
		m.usage.TouchFrom(v.id, now, app, addr)
	case changed:
		m.usage.TouchAddr(v.id, now, addr)
	}
	return p, nil
}

// view is what verification reads of a token and its owner: a copy out of
// a cache slot, or newView's summary of store records.
type view struct {
	id, account, userID string
	kind                Kind
	owner               Owner
	revoked, unlocked   bool
	priv                Privilege // effective, valid when privErr is nil
	privErr             error
	scopes              uint64    // effective scopes, when privErr is nil
	scopeRef            uint32    // their shared list (scopeVocab.ref); 0: find it by scopes
	allow               string    // the allow-list, encoded (encodeAllowList); empty for none
	active              time.Time // activity(t): a session's latest activity, an API token's flushed last use
	expires             time.Time
	nApps               int
	app                 int // index of the application asked about, or -1
	appState            AppState
	ref                 cache.Ref // the cache slot, if the record is cached
	hit                 bool      // the cache served the view
}

// newView summarises t and its owner u (nil if none) for a verification
// by application app.
func newView(t *Token, u *User, app string) view {
	v := view{id: t.ID, account: t.Account, userID: t.UserID, kind: t.Kind, owner: t.Owner,
		revoked: !t.Revoked.IsZero(), unlocked: t.Unlocked, active: activity(t),
		expires: t.Expires, nApps: len(t.Apps), app: t.App(app)}
	v.priv, v.privErr = verifiedPrivilege(t, u)
	if v.app >= 0 {
		v.appState = t.Apps[v.app].State
	}
	return v
}

// storedView is newView with the token's effective scopes under vocab
// and its allow-list: what verification reads of a record from the store.
func storedView(t *Token, u *User, app string, vocab *scopeVocab) view {
	v := newView(t, u, app)
	if v.privErr == nil {
		v.scopes = vocab.effective(t, v.priv)
		v.scopeRef = vocab.ref(v.scopes)
	}
	v.allow = encodeAllowList(t.AllowedCIDRs)
	return v
}

// lookup fills v with the view of token for application app, from the
// cache when it can; else it parses token, reads the token and its owner
// and caches them.
//
// A cache hit needs no Parse: the cache key is SHA-256 of the token, so a
// hit means this string is byte for byte one that parsed before (the kind
// its prefix gives is still compared with the record's). Anything else is
// parsed before any store call.
func (m *Manager) lookup(ctx context.Context, token, app string, v *view) error {
	var key Hash
	if m.cache.Enabled() {
		key = cacheKey(token)
		if m.cache.get(key, app, v, m.scopes) {
			v.hit = true
			return nil
		}
	}
	_, issued, err := m.format.parse(token)
	if err != nil {
		return err
	}
	gen := m.cache.Generation()
	t, _, err := m.tokenRecord(ctx, token, issued, key, true) // key: SHA-256 of the token, or zero without a cache
	if errors.Is(err, ErrNotFound) {
		return ErrUnknown
	}
	if err != nil {
		return storeErr(err)
	}
	u, err := m.ownerOf(ctx, t)
	if err != nil {
		return err
	}
	*v = storedView(t, u, app, m.scopes)
	v.ref, _ = m.cache.put(gen, key, t, u, m.scopes)
	return nil
}

// lastActivity is the later of a record's creation and its last use.
func lastActivity(created, lastUsed time.Time) time.Time {
	if lastUsed.After(created) {
		return lastUsed
	}
	return created
}

// lastActive is a session's latest activity: pending in-memory usage, the
// flushed LastUsed, or its creation.
func (m *Manager) lastActive(v *view) time.Time {
	if v.kind != KindSession {
		return time.Time{}
	}
	last := v.active
	if pending, ok := m.usage.Last(v.id); ok && pending.After(last) {
		last = pending
	}
	return last
}

// errTokenInAppName refuses an application name that holds a token.
var errTokenInAppName = fmt.Errorf("%w: application name holds a token; never send a secret as an application name", ErrInvalidArgument)

// approveApp applies behaviour rules 18 to 21: a recorded name keeps its own state; a new
// name is recorded with the token's default state (only now, after the
// token verified), unless the token already has MaxApps names. It returns
// the name's index in the cached record, or -1 if it was just recorded.
//
// A new name that holds a token of this Manager's Format (anywhere in it;
// see Format.findToken) is refused with errTokenInAppName before anything
// is recorded, since names are stored, listed and logged. The check is on
// the new-name path only, so verifying with a recorded name costs nothing
// more.
func (m *Manager) approveApp(ctx context.Context, v *view, app string, now time.Time) (int, error) {
	if len(app) > m.opts.MaxAppName {
		return -1, fmt.Errorf("%w: application name longer than %d bytes", ErrInvalidArgument, m.opts.MaxAppName)
	}
	if v.app >= 0 {
		return v.app, v.appState.decision()
	}
	if m.format.containsToken(app) {
		return -1, errTokenInAppName
	}
	if v.nApps >= m.opts.MaxApps {
		return -1, errTooManyApps
	}
	var recorded bool
	updated, err := m.updateToken(ctx, v.id, func(c *Token) error {
		recorded = false
		if !c.Revoked.IsZero() { // (stores refuse to change a Hash: the ID names the same secret)
			return ErrRevoked // changed under us: fail closed, the caller retries
		}
		if c.App(app) >= 0 {
			return nil // another request recorded it first
		}
		if len(c.Apps) >= m.opts.MaxApps {
			return errTooManyApps
		}
		c.Apps = append(c.Apps, App{Name: app, State: c.DefaultAppState, FirstSeen: now, LastSeen: now})
		recorded = true
		return nil
	})
	if err != nil {
		return -1, err
	}
	i := updated.App(app)
	if recorded {
		m.emit(Event{Type: event.AppRecorded, TokenID: v.id, Account: v.account, UserID: v.userID, App: app, State: updated.Apps[i].State})
	}
	return -1, updated.Apps[i].State.decision()
}
