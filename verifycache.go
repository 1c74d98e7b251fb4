package apitoken

import (
	"encoding/binary"
	"net/netip"
	"time"

	"github.com/apitoken/apitoken/internal/cache"
	"github.com/apitoken/apitoken/internal/usage"
)

// tokenCache is the verification cache (internal/cache) in this package's
// types: put flattens a token and its owner into a cache entry, after the
// policy decided its effective privilege, and get reads an entry back as
// a view.
type tokenCache struct{ *cache.Cache }

// privErrs are the effective-privilege outcomes a cache entry can carry,
// by their code in the entry.
var privErrs = [...]error{nil, ErrUserDisabled, ErrRevoked, ErrUnknown, ErrInsufficientPrivilege}

func privErrIndex(err error) (uint8, bool) {
	for i, e := range privErrs {
		if e == err {
			return uint8(i), true
		}
	}
	return 0, false
}

// cacheKey is the cache's index of token: SHA-256 of the token string.
func cacheKey(token string) Hash { return unkeyed.Sum(token) }

// unkeyed is the plain SHA-256 hasher.
var unkeyed = newHasher(nil)

// get fills v with the view of the token with cache key key, with app
// looked up among its applications, and reports whether it was cached.
// A token whose effective scopes are its privilege's and that has no
// allow-list (most tokens) is cached without either: its scopes follow
// from the privilege.
func (c tokenCache) get(key Hash, app string, v *view, vocab *scopeVocab) bool {
	var cv cache.View
	if !c.Get(key, app, &cv) {
		return false
	}
	*v = view{id: cv.ID, account: cv.Account, userID: cv.UserID,
		kind: Kind(cv.Kind), owner: Owner(cv.Owner), revoked: cv.Revoked, unlocked: cv.Unlocked,
		priv: Privilege(cv.Priv), privErr: privErrs[cv.PrivErr], active: cv.Active, expires: cv.Expires,
		nApps: cv.NApps, app: cv.App, appState: AppState(cv.AppState), ref: cv.Ref,
		scopes: cv.Scopes, scopeRef: cv.ScopeRef, allow: cv.Allow}
	if !cv.Extra && v.privErr == nil {
		v.scopes = vocab.role[v.priv]
	}
	return true
}

// put caches t (with owner u) under key if nothing was invalidated since
// generation gen, and returns the new slot. A user token whose owner is
// missing is not cached (it is re-read).
func (c tokenCache) put(gen uint64, key Hash, t *Token, u *User, vocab *scopeVocab) (cache.Ref, bool) {
	if !c.Enabled() || (t.Owner == OwnerUser && u == nil) {
		return cache.Ref{}, false
	}
	priv, err := verifiedPrivilege(t, u)
	code, ok := privErrIndex(err)
	if !ok {
		return cache.Ref{}, false
	}
	var buf [8]cache.App
	apps := buf[:0]
	for _, a := range t.Apps {
		apps = append(apps, cache.App{Name: a.Name, State: uint8(a.State)})
	}
	e := cache.Entry{Hash: t.Hash, ID: t.ID, Account: t.Account, UserID: t.UserID,
		Kind: uint8(t.Kind), Owner: uint8(t.Owner), Priv: uint8(priv), PrivErr: code,
		UserOwned: t.Owner == OwnerUser, Revoked: !t.Revoked.IsZero(), Unlocked: t.Unlocked,
		Active: activity(t), Expires: t.Expires, Apps: apps}
	if (err == nil && vocab.scoped(t, priv)) || len(t.AllowedCIDRs) > 0 {
		e.Extra, e.Scopes, e.Allow = true, vocab.effective(t, priv), encodeAllowList(t.AllowedCIDRs)
		e.ScopeRef = vocab.ref(e.Scopes)
	}
	return c.Put(gen, key, &e)
}

// activity is a view's and a cache entry's activity time for t: a
// session's latest activity, for its idle timeout; an API token's flushed
// last use, from which a flush at Options.LastUsedResolution judges
// whether its newer uses are due (zero: its first use always is).
func activity(t *Token) time.Time {
	if t.Kind == KindSession {
		return lastActivity(t.Created, t.LastUsed)
	}
	return t.LastUsed
}

// invalidateToken drops the token whose store hash is h.
func (c tokenCache) invalidateToken(h Hash) { c.InvalidateToken(h) }

// invalidateUser drops every token of user id.
func (c tokenCache) invalidateUser(id string) { c.InvalidateUser(id) }

// usageTracker is the usage tracker (internal/usage) in this package's
// types.
type usageTracker struct{ *usage.Tracker }

// forget drops a session's activity once it has ended.
func (u usageTracker) forget(id string) { u.Forget(id) }

// forgetIdle drops the idle clock of sessions last active before before.
func (u usageTracker) forgetIdle(before time.Time) { u.ForgetIdle(before) }

// take collects the pending usage of the cache c and of u, for a flush:
// all of u's, and the cached tokens' due at resolution (see cache.Take;
// 0 takes every one).
//
// Addresses come first: a store applies a batch in order, and sets a
// token's LastUsedIP from a touch no older than its LastUsed.
func (u usageTracker) take(c tokenCache, resolution time.Duration) []Touch {
	var batch []Touch
	u.TakeAddrs(func(id string, at time.Time, addr netip.Addr) { batch = append(batch, Touch{ID: id, At: at, IP: addr}) })
	add := func(id string, at time.Time, app string) { batch = append(batch, Touch{ID: id, At: at, App: app}) }
	u.Take(add)
	c.Take(resolution, add)
	return batch
}

// putBack returns a batch that failed to flush, keeping newer entries.
func (u usageTracker) putBack(batch []Touch) {
	for _, tc := range batch {
		if tc.IP.IsValid() {
			u.TouchAddr(tc.ID, tc.At, tc.IP)
			continue
		}
		u.Touch(tc.ID, tc.At, tc.App)
	}
}

// cacheAddr is a client address as the cache keeps it.
func cacheAddr(a netip.Addr) cache.Addr {
	a = a.Unmap().WithZone("")
	b := a.As16()
	kind := uint32(6)
	if a.Is4() {
		kind = 4
	}
	return cache.Addr{Hi: binary.BigEndian.Uint64(b[:8]), Lo: binary.BigEndian.Uint64(b[8:]), Kind: kind}
}
