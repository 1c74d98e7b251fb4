package apitoken

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/apitoken/apitoken/internal/tokenhash"
)

// maxHashKeys bounds Options.HashKeys: an unknown token is looked up once
// per key.
const maxHashKeys = 8

// keyring is the Manager's hash keys: the legacy form (ID 0: HMAC-SHA256
// under Options.HashKey, or plain SHA-256 without it) and the keys of
// Options.HashKeys, whose stored form is a keyed permutation of the token's
// SHA-256 (see tokenhash.Permutation), so records can move between them
// without their tokens.
type keyring struct {
	legacy     hasher
	readLegacy bool   // look records of the legacy form up
	current    uint32 // 0: no keyring, new records take the legacy form
	keys       []ringKey
}

// ringKey is one key of Options.HashKeys.
type ringKey struct {
	id   uint32
	perm *tokenhash.Permutation
}

// newKeyring checks the hash key options and builds the keyring.
func newKeyring(o *Options) (keyring, error) {
	if n := len(o.HashKey); n > 0 && n < minHashKey {
		return keyring{}, fmt.Errorf("%w: HashKey has %d bytes; it must have at least %d bytes (32 random bytes), or be empty for plain SHA-256",
			ErrInvalidArgument, n, minHashKey)
	}
	r := keyring{legacy: newHasher(o.HashKey), readLegacy: true, current: o.CurrentHashKey}
	if len(o.HashKeys) == 0 {
		if o.CurrentHashKey != 0 {
			return keyring{}, fmt.Errorf("%w: CurrentHashKey is %d but HashKeys is empty", ErrInvalidArgument, o.CurrentHashKey)
		}
		return r, nil
	}
	if len(o.HashKeys) > maxHashKeys {
		return keyring{}, fmt.Errorf("%w: HashKeys has %d keys; at most %d (each costs a lookup for unknown tokens)", ErrInvalidArgument, len(o.HashKeys), maxHashKeys)
	}
	if _, ok := o.HashKeys[o.CurrentHashKey]; !ok || o.CurrentHashKey == 0 {
		return keyring{}, fmt.Errorf("%w: CurrentHashKey %d is not a key of HashKeys", ErrInvalidArgument, o.CurrentHashKey)
	}
	ids := slices.Sorted(maps.Keys(o.HashKeys))
	for i, id := range ids {
		key := o.HashKeys[id]
		switch {
		case id == 0:
			return keyring{}, fmt.Errorf("%w: hash key ID 0 names the records of HashKey; number the keys of HashKeys from 1", ErrInvalidArgument)
		case len(key) < minHashKey:
			return keyring{}, fmt.Errorf("%w: hash key %d has %d bytes; it must have at least %d (32 random bytes)", ErrInvalidArgument, id, len(key), minHashKey)
		}
		for _, other := range ids[:i] {
			if hmac.Equal(key, o.HashKeys[other]) {
				return keyring{}, fmt.Errorf("%w: hash keys %d and %d are the same key", ErrInvalidArgument, other, id)
			}
		}
	}
	// The current key first: after the migration it holds nearly every
	// record. Then the others, newest ID first.
	r.keys = append(r.keys, ringKey{id: o.CurrentHashKey, perm: tokenhash.NewPermutation(o.HashKeys[o.CurrentHashKey])})
	for _, id := range slices.Backward(ids) {
		if id != o.CurrentHashKey {
			r.keys = append(r.keys, ringKey{id: id, perm: tokenhash.NewPermutation(o.HashKeys[id])})
		}
	}
	r.readLegacy = len(o.HashKey) > 0
	return r, nil
}

// key returns the keyring's key id, or nil.
func (r *keyring) key(id uint32) *ringKey {
	for i := range r.keys {
		if r.keys[i].id == id {
			return &r.keys[i]
		}
	}
	return nil
}

// permuted returns the stored hash of a token whose SHA-256 is digest and
// whose issue time is issued, under k: the issue time stamp, then the
// permutation of the digest's last 26 bytes. A token without an issue time
// repeats the permuted bytes' first 6 in place of the stamp, so that its
// hash still begins with bytes that vary (bolt's ID index keeps the first
// 8); a stamp equals them with odds of 2^-48.
func (k *ringKey) permuted(digest Hash, issued int64) Hash {
	var h Hash
	copy(h[issueTimeLen:], digest[issueTimeLen:])
	k.perm.Forward((*[tokenhash.BlockLen]byte)(h[issueTimeLen:]))
	if issued == noIssueTime {
		copy(h[:issueTimeLen], h[issueTimeLen:])
	}
	h.stamp(issued)
	return h
}

// rekey moves a stored hash of the permuted form from key from to key to,
// without the token: the permutation is undone under the old key and
// applied under the new one. A stamp stays; the head of a token without
// one follows the new bytes.
func rekey(h Hash, from, to *ringKey) Hash {
	unstamped := [issueTimeLen]byte(h[:issueTimeLen]) == [issueTimeLen]byte(h[issueTimeLen:])
	tail := (*[tokenhash.BlockLen]byte)(h[issueTimeLen:])
	from.perm.Inverse(tail)
	to.perm.Forward(tail)
	if unstamped {
		copy(h[:issueTimeLen], h[issueTimeLen:])
	}
	return h
}

// newHash returns the hash and key ID of a new record for token, issued at
// issued: under the current key of the keyring, or the legacy form.
func (m *Manager) newHash(token string, issued int64) (Hash, uint32) {
	r := &m.ring
	if r.current == 0 {
		return m.legacyHash(token, issued), 0
	}
	return r.keys[0].permuted(cacheKey(token), issued), r.current
}

// legacyHash is the stored hash of the legacy form (key ID 0).
func (m *Manager) legacyHash(token string, issued int64) Hash {
	h := m.ring.legacy.Sum(token)
	h.stamp(issued)
	return h
}

// tokenRecord reads the record of token (issue time issued; digest is
// its SHA-256, or zero to compute it) under each key of the keyring in
// turn, the current one first, then the legacy form, and returns it with
// how many lookups it made. With rekey, a record under an older key is
// moved to the current key on the way (rekeyOnUse); RevokeSecret reads
// without, so that its answer costs the same writes whatever key a record
// is under. Not found is ErrNotFound.
func (m *Manager) tokenRecord(ctx context.Context, token string, issued int64, digest Hash, rekey bool) (*Token, int, error) {
	r := &m.ring
	if len(r.keys) > 0 && digest.IsZero() {
		digest = cacheKey(token)
	}
	reads := 0
	for i := range r.keys {
		k := &r.keys[i]
		reads++
		t, err := m.store.TokenByHash(ctx, k.permuted(digest, issued))
		if errors.Is(err, ErrNotFound) || (err == nil && t.HashKeyID != k.id) {
			continue // (a record under another key: not this token's)
		}
		if err != nil {
			return nil, reads, err
		}
		if rekey && i > 0 && k.id < r.current {
			m.rekeyOnUse(ctx, t, r.keys[0].permuted(digest, issued))
		}
		return t, reads, nil
	}
	if r.readLegacy {
		var h Hash
		if r.legacy.Keyed() || digest.IsZero() {
			h = m.legacyHash(token, issued)
		} else {
			h = digest // plain SHA-256, already computed
			h.stamp(issued)
		}
		reads++
		t, err := m.store.TokenByHash(ctx, h)
		switch {
		case err == nil && t.HashKeyID == 0:
			if rekey && r.current != 0 {
				m.rekeyOnUse(ctx, t, r.keys[0].permuted(digest, issued))
			}
			return t, reads, nil
		case err != nil && !errors.Is(err, ErrNotFound):
			return nil, reads, err
		}
	}
	if r.forms() == reads {
		return nil, reads, ErrNotFound
	}
	// The record may have moved to the current key (a verification or
	// RekeyHashes elsewhere) after it was looked for there and before it
	// was looked for under its old key: look once more.
	reads++
	t, err := m.store.TokenByHash(ctx, r.keys[0].permuted(digest, issued))
	if err == nil && t.HashKeyID != r.current {
		err = ErrNotFound
	}
	if err != nil {
		return nil, reads, err
	}
	return t, reads, nil
}

// forms is how many lookups tokenRecord makes for a token that is not
// stored: one per key and form, and with more than one, the current key's
// again.
func (r *keyring) forms() int {
	n := len(r.keys)
	if r.readLegacy {
		n++
	}
	if n > 1 {
		n++
	}
	return n
}

// rekeyOnUse moves t, just found under an old key, to hash h under the
// current key, and on success updates t. Verification moves records only
// to a current key of a higher ID than theirs, so that while instances
// are restarted with a new current key, those still on the old one do not
// move records back. A failure (a concurrent change,
// an outage) leaves the record where it was, to be moved on a later use or
// by RekeyHashes; the verification goes on either way.
func (m *Manager) rekeyOnUse(ctx context.Context, t *Token, h Hash) {
	moved := t.Clone()
	if err := m.store.RehashToken(ctx, moved, h, m.ring.current); err != nil {
		return
	}
	m.cache.invalidateToken(t.Hash)
	*t = *moved
}

// HashKeyCounts walks every token record and returns how many are stored
// under each hash key ID: 0 for the legacy form (Options.HashKey, or plain
// SHA-256 without it), else the ID of a key of Options.HashKeys. A key may
// be dropped from the options once no record counts under it; an ID the
// options no longer hold counts records that can no longer verify. The
// store must implement migrate.Walker.
func (m *Manager) HashKeyCounts(ctx context.Context) (map[uint32]int, error) {
	counts := map[uint32]int{}
	err := m.walkTokens(ctx, func(t *Token) error {
		counts[t.HashKeyID]++
		return nil
	})
	return counts, err
}

// RekeyHashes is the background pass of a key rotation: it walks every
// token record and moves each one stored under a key of Options.HashKeys
// other than the current one to the current key. The permuted form lets
// it do so without the tokens. Records of the legacy form (key ID 0, an
// HMAC, which cannot be recomputed without its token) are left as they
// are: they move on their next verification. It returns what remains
// under each key other than the current one afterwards (records written
// meanwhile by other processes may add to it), and fails, after the walk,
// if records remain under a key ID the options do not hold: those tokens
// cannot verify until the key is configured again.
//
// It is safe to run while tokens are verified and changed, on any number
// of instances: each move is a compare-and-update (TokenStore.RehashToken).
// The store must implement migrate.Walker.
func (m *Manager) RekeyHashes(ctx context.Context) (map[uint32]int, error) {
	r := &m.ring
	remain := map[uint32]int{}
	err := m.walkTokens(ctx, func(t *Token) error {
		if t.HashKeyID == r.current {
			return nil
		}
		from := r.key(t.HashKeyID)
		if r.current == 0 || from == nil {
			remain[t.HashKeyID]++
			return nil
		}
		switch err := m.store.RehashToken(ctx, t.Clone(), rekey(t.Hash, from, &r.keys[0]), r.current); {
		case err == nil:
			m.cache.invalidateToken(t.Hash)
		case errors.Is(err, ErrConflict):
			// Changed since the walk read it: read it again and retry once.
			c, err := m.store.TokenByID(ctx, t.ID)
			if err != nil || c.HashKeyID == r.current {
				return storeErrUnlessGone(err)
			}
			if from = r.key(c.HashKeyID); from == nil {
				remain[c.HashKeyID]++
				return nil
			}
			if err := m.store.RehashToken(ctx, c.Clone(), rekey(c.Hash, from, &r.keys[0]), r.current); err != nil {
				remain[c.HashKeyID]++
				return storeErrUnlessConflict(err)
			}
			m.cache.invalidateToken(c.Hash)
		case errors.Is(err, ErrNotFound): // deleted meanwhile
		default:
			return storeErr(err)
		}
		return nil
	})
	if err != nil {
		return remain, err
	}
	var lost []string
	for _, id := range slices.Sorted(maps.Keys(remain)) {
		if (id == 0 && !r.readLegacy) || (id != 0 && r.key(id) == nil) {
			lost = append(lost, fmt.Sprintf("%d under hash key %d", remain[id], id))
		}
	}
	if len(lost) > 0 {
		return remain, fmt.Errorf("%w: token records remain under hash keys the options no longer hold, and cannot verify: %s; configure those keys again to keep the tokens",
			ErrInvalidArgument, strings.Join(lost, ", "))
	}
	return remain, nil
}

// storeErrUnlessGone is storeErr, with a record deleted meanwhile not an
// error.
func storeErrUnlessGone(err error) error {
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	return storeErr(err)
}

// storeErrUnlessConflict is storeErr, with a second lost race not an
// error: the record is counted as remaining.
func storeErrUnlessConflict(err error) error {
	if errors.Is(err, ErrConflict) || errors.Is(err, ErrNotFound) {
		return nil
	}
	return storeErr(err)
}

// tokenWalker is the token half of migrate.Walker (which the root cannot
// import).
type tokenWalker interface {
	WalkTokens(ctx context.Context, after string, limit int) ([]*Token, error)
}

// walkTokens calls fn for every token record of the store (a
// migrate.Walker), a page at a time.
func (m *Manager) walkTokens(ctx context.Context, fn func(*Token) error) error {
	w, ok := m.store.(tokenWalker)
	if !ok {
		return fmt.Errorf("%w: the store cannot walk its records (migrate.Walker)", errors.ErrUnsupported)
	}
	const page = 500
	after := ""
	for {
		ts, err := w.WalkTokens(ctx, after, page)
		if err != nil {
			return storeErr(err)
		}
		for _, t := range ts {
			if err := fn(t); err != nil {
				return err
			}
		}
		if len(ts) < page {
			return nil
		}
		after = ts[len(ts)-1].ID
	}
}

// DeriveKeyring returns, for purpose label, the key DeriveKey derives from
// each hash key the Manager holds, by key ID (0: Options.HashKey), and the
// ID of the current one, under which new data should be sealed. Data
// sealed under an older key opens with that key's entry and should be
// sealed again under the current one (package login does so with MFA
// secrets). Without any hash key the map is empty. The labels DeriveKey
// refuses panic here too.
func (m *Manager) DeriveKeyring(label string) (current uint32, keys map[uint32][]byte) {
	checkDeriveLabel(label)
	keys = map[uint32][]byte{}
	if len(m.opts.HashKey) > 0 {
		keys[0] = deriveKey(m.opts.HashKey, label)
	}
	for id, k := range m.opts.HashKeys {
		keys[id] = deriveKey(k, label)
	}
	return m.ring.current, keys
}

// deriveKey is HMAC-SHA256(key, label).
func deriveKey(key []byte, label string) []byte {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(label))
	return mac.Sum(nil)
}

// currentKey returns the bytes of the current hash key (nil: none).
func (m *Manager) currentKey() []byte {
	if m.ring.current != 0 {
		return m.opts.HashKeys[m.ring.current]
	}
	return m.opts.HashKey
}
