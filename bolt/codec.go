package bolt

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"time"
	"unsafe"

	"github.com/apitoken/apitoken"
)

// Records are stored in a compact binary form, one version byte first.
// Decoding is strict: every length is bounded by what remains and by a
// fixed cap, every enum is range-checked, and trailing bytes are an error,
// so a corrupt file yields ErrCorrupt, never a panic or a half-read record.

const (
	recordVersion = 1
	// userRecordVersion is the user record with throttling state and a
	// pending MFA secret; version 1 user records still decode.
	userRecordVersion = 2
	maxField          = 4096 // bytes in any one string field
	maxApps           = 4096
)

// ErrCorrupt means a stored record or index entry could not be decoded or
// contradicts another. Operations touching it fail; nothing is accepted.
var ErrCorrupt = errors.New("bolt: corrupt record")

type encoder struct{ b []byte }

func (e *encoder) byte(v byte)      { e.b = append(e.b, v) }
func (e *encoder) uvarint(v uint64) { e.b = binary.AppendUvarint(e.b, v) }
func (e *encoder) varint(v int64)   { e.b = binary.AppendVarint(e.b, v) }
func (e *encoder) str(s string)     { e.uvarint(uint64(len(s))); e.b = append(e.b, s...) }
func (e *encoder) bytes(s []byte)   { e.uvarint(uint64(len(s))); e.b = append(e.b, s...) }
func (e *encoder) bool(v bool) {
	if v {
		e.byte(1)
	} else {
		e.byte(0)
	}
}

// time stores 0 for the zero time, else 1 and Unix nanoseconds.
func (e *encoder) time(t time.Time) {
	if t.IsZero() {
		e.byte(0)
		return
	}
	e.byte(1)
	e.varint(t.UnixNano())
}

// decoder reads a record. Strings are views into one private copy of the
// value (made by newDecoder), so they outlive the transaction and cost one
// allocation per record instead of one per field. The copy is never
// written after decoding starts.
type decoder struct {
	b   []byte
	err error
}

func newDecoder(v []byte) decoder { return decoder{b: bytes.Clone(v)} }

// inlineRecord is how many bytes of a token record decodeToken keeps in
// the Token's own allocation; a longer record gets a copy of its own.
const inlineRecord = 240

// decodedToken is a token record decoded in one allocation: the Token,
// room for its first application, and the bytes its strings view (see
// decoder). Verification decodes a record per store read, so this is a
// third of the allocations three separate ones would be.
type decodedToken struct {
	t   apitoken.Token
	app [1]apitoken.App
	buf [inlineRecord]byte
}

// fail records the first error and drops the unread bytes, so every
// later read fails on length alone: the reads below check no error, and
// their common cases are small enough for the compiler to inline.
func (d *decoder) fail(what string) { d.failWith(fmt.Errorf("%w: %s", ErrCorrupt, what)) }

func (d *decoder) failWith(err error) {
	if d.err == nil {
		d.err = err
	}
	d.b = nil
}

// The reads' own errors, made once so that failing costs them no call.
var (
	errShortRecord = fmt.Errorf("%w: short record", ErrCorrupt)
	errVarint      = fmt.Errorf("%w: bad or over-long varint", ErrCorrupt)
	errFieldLength = fmt.Errorf("%w: field length out of range", ErrCorrupt)
)

func (d *decoder) byte() byte {
	if len(d.b) == 0 {
		d.failWith(errShortRecord)
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

// uvarint reads an unsigned varint. One byte, the case of every length
// and count in a typical record, needs no call.
func (d *decoder) uvarint() uint64 {
	if len(d.b) > 0 && d.b[0] < 0x80 {
		v := d.b[0]
		d.b = d.b[1:]
		return uint64(v)
	}
	return d.uvarintLong()
}

func (d *decoder) uvarintLong() uint64 {
	v, n := binary.Uvarint(d.b)
	if !minimalVarint(d.b, n) {
		d.failWith(errVarint)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.b)
	if !minimalVarint(d.b, n) {
		d.failWith(errVarint)
		return 0
	}
	d.b = d.b[n:]
	return v
}

// minimalVarint reports whether the n bytes of b that encoding/binary
// read (n <= 0 on error) are the shortest encoding of their value: only a
// one-byte varint may end in a zero byte. Longer encodings are refused so
// that every record has exactly one encoding.
func minimalVarint(b []byte, n int) bool { return n == 1 || (n > 1 && b[n-1] != 0) }

func (d *decoder) raw() []byte {
	n := d.uvarint()
	if n > maxField || n > uint64(len(d.b)) {
		d.failWith(errFieldLength)
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}

// str returns a view of the private copy (see decoder).
func (d *decoder) str() string {
	b := d.raw()
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

// count reads a non-negative count that fits an int32 (failure counters).
func (d *decoder) count() int {
	n := d.uvarint()
	if n > 1<<31-1 {
		d.fail("count out of range")
		return 0
	}
	return int(n)
}

func (d *decoder) bool() bool {
	switch d.byte() {
	case 0:
		return false
	case 1:
		return true
	}
	d.fail("bad bool")
	return false
}

func (d *decoder) time() time.Time {
	switch d.byte() {
	case 0:
		return time.Time{}
	case 1:
		return time.Unix(0, d.varint()).UTC()
	}
	d.fail("bad time")
	return time.Time{}
}

func (d *decoder) privilege(allowUnset bool) apitoken.Privilege {
	p := apitoken.Privilege(d.byte())
	if !p.Valid() && !(allowUnset && p == 0) {
		d.fail("bad privilege")
	}
	return p
}

func (d *decoder) appState() apitoken.AppState {
	s := apitoken.AppState(d.byte())
	if !s.Valid() {
		d.fail("bad app state")
	}
	return s
}

func (d *decoder) end() error {
	if d.err == nil && len(d.b) != 0 {
		d.fail("trailing bytes")
	}
	return d.err
}

// Token flag bits beyond the lineage (1) and origin (2) bits.
const (
	flagScopes = 8  // Scopes and AllowedCIDRs follow
	flagLastIP = 32 // LastUsedIP follows
)

// maxScopeEntries bounds the scopes and ranges a record may list, so a
// corrupt count cannot make decoding allocate without bound.
const maxScopeEntries = 1024

// scopes reads the data of flagScopes into t.
func (d *decoder) scopes(t *apitoken.Token) {
	n := d.uvarint()
	if n > maxScopeEntries || n > uint64(len(d.b)) {
		d.fail("scope count out of range")
		return
	}
	for range n {
		sc := d.str()
		if d.err != nil {
			return
		}
		t.Scopes = append(t.Scopes, sc)
	}
	n = d.uvarint()
	if n > maxScopeEntries || n > uint64(len(d.b)) {
		d.fail("range count out of range")
		return
	}
	for range n {
		var p netip.Prefix
		if err := p.UnmarshalBinary(d.raw()); err != nil || !p.IsValid() {
			d.fail("bad allowed range")
			return
		}
		t.AllowedCIDRs = append(t.AllowedCIDRs, p)
	}
	if len(t.Scopes) == 0 && len(t.AllowedCIDRs) == 0 {
		d.fail("non-canonical scopes")
	}
}

// flagExpiryWarned is the token record's flag bit for Token.ExpiryWarned.
const flagExpiryWarned = 16

func encodeToken(t *apitoken.Token) []byte {
	e := encoder{b: make([]byte, 0, 256)}
	e.byte(recordVersion)
	e.str(t.ID) // the hash is the record's key, not repeated here
	e.str(t.Hint)
	e.byte(byte(t.Kind))
	e.byte(byte(t.Owner))
	e.str(t.Account)
	e.str(t.UserID)
	e.str(t.CreatedBy)
	e.str(t.Parent)
	// A flag byte: bit 0, a lineage other than the ID follows (the common
	// case is a token never rotated); bit 1, an origin follows (tokens
	// issued by API tokens); bit 3, scopes and allowed ranges follow;
	// bit 4, the time of the expiry warning follows (flagExpiryWarned);
	// bit 5, the last-used address follows. Each bit's data follows in
	// bit order. Records written before a bit existed lack it and read
	// as they are.
	var flags byte
	if t.Lineage != t.ID {
		flags |= 1
	}
	if t.Origin != "" {
		flags |= 2
	}
	if len(t.Scopes) > 0 || len(t.AllowedCIDRs) > 0 {
		flags |= flagScopes
	}
	if !t.ExpiryWarned.IsZero() {
		flags |= flagExpiryWarned
	}
	if t.LastUsedIP.IsValid() {
		flags |= flagLastIP
	}
	e.byte(flags)
	if flags&1 != 0 {
		e.str(t.Lineage)
	}
	if flags&2 != 0 {
		e.str(t.Origin)
	}
	if flags&flagScopes != 0 {
		e.uvarint(uint64(len(t.Scopes)))
		for _, sc := range t.Scopes {
			e.str(sc)
		}
		e.uvarint(uint64(len(t.AllowedCIDRs)))
		for _, p := range t.AllowedCIDRs {
			b, _ := p.MarshalBinary() // address bytes (4 or 16) and the bit count
			e.str(string(b))
		}
	}
	if flags&flagExpiryWarned != 0 {
		e.varint(t.ExpiryWarned.UnixNano())
	}
	if flags&flagLastIP != 0 {
		b, _ := t.LastUsedIP.WithZone("").MarshalBinary() // 4 or 16 bytes
		e.str(string(b))
	}
	e.str(t.Description)
	e.str(t.Type)
	e.byte(byte(t.Privilege))
	e.byte(byte(t.DefaultAppState))
	e.uvarint(uint64(len(t.Apps)))
	for _, a := range t.Apps {
		e.str(a.Name)
		e.byte(byte(a.State))
		e.time(a.FirstSeen)
		e.time(a.LastSeen)
	}
	e.time(t.Created)
	e.time(t.LastUsed)
	e.time(t.Expires)
	e.time(t.Revoked)
	e.bool(t.Unlocked)
	e.uvarint(t.Version)
	return e.b
}

// decodeToken parses the token stored under hash h. Impossible records
// (unknown kind or owner, a user token with no user, an account session)
// are ErrCorrupt.
func decodeToken(h apitoken.Hash, b []byte) (*apitoken.Token, error) {
	box := new(decodedToken)
	var d decoder
	if len(b) <= len(box.buf) {
		d.b = box.buf[:copy(box.buf[:], b)]
	} else {
		d = newDecoder(b)
	}
	if v := d.byte(); v != recordVersion {
		d.fail(fmt.Sprintf("unknown record version %d", v))
	}
	t := &box.t
	t.ID, t.Hash = d.str(), h
	t.Hint = d.str()
	t.Kind = apitoken.Kind(d.byte())
	t.Owner = apitoken.Owner(d.byte())
	t.Account = d.str()
	t.UserID = d.str()
	t.CreatedBy = d.str()
	t.Parent = d.str()
	flags := d.byte()
	if flags&^(1|2|flagScopes|flagExpiryWarned|flagLastIP) != 0 {
		d.fail("bad lineage flags")
	}
	t.Lineage = t.ID
	if flags&1 != 0 {
		if t.Lineage = d.str(); t.Lineage == t.ID {
			d.fail("non-canonical lineage")
		}
	}
	if flags&2 != 0 {
		if t.Origin = d.str(); t.Origin == "" {
			d.fail("non-canonical origin")
		}
	}
	if flags&flagScopes != 0 {
		d.scopes(t)
	}
	if flags&flagExpiryWarned != 0 {
		t.ExpiryWarned = time.Unix(0, d.varint()).UTC()
	}
	if flags&flagLastIP != 0 {
		if err := t.LastUsedIP.UnmarshalBinary(d.raw()); err != nil || !t.LastUsedIP.IsValid() {
			d.fail("bad last-used address")
		}
	}
	t.Description = d.str()
	t.Type = d.str()
	t.Privilege = d.privilege(false)
	t.DefaultAppState = d.appState()
	n := d.uvarint()
	if n > maxApps || n > uint64(len(d.b)) {
		d.fail("app count out of range")
		n = 0
	}
	switch {
	case n == 1:
		t.Apps = box.app[:0]
	case n > 1:
		t.Apps = make([]apitoken.App, 0, n)
	}
	for range n {
		a := apitoken.App{Name: d.str(), State: d.appState(), FirstSeen: d.time(), LastSeen: d.time()}
		if d.err != nil {
			break
		}
		t.Apps = append(t.Apps, a)
	}
	t.Created = d.time()
	t.LastUsed = d.time()
	t.Expires = d.time()
	t.Revoked = d.time()
	t.Unlocked = d.bool()
	t.Version = d.uvarint()
	if err := d.end(); err != nil {
		return nil, err
	}
	switch {
	case t.ID == "" || t.Account == "":
		return nil, fmt.Errorf("%w: token without ID or account", ErrCorrupt)
	case t.Kind != apitoken.KindAPI && t.Kind != apitoken.KindSession:
		return nil, fmt.Errorf("%w: token kind %d", ErrCorrupt, t.Kind)
	case t.Owner == apitoken.OwnerUser && t.UserID == "",
		t.Owner == apitoken.OwnerAccount && (t.UserID != "" || t.Kind == apitoken.KindSession),
		t.Owner != apitoken.OwnerUser && t.Owner != apitoken.OwnerAccount:
		return nil, fmt.Errorf("%w: token owner inconsistent", ErrCorrupt)
	}
	return t, nil
}

func encodeUser(u *apitoken.User) []byte {
	e := encoder{b: make([]byte, 0, 192)}
	e.byte(userRecordVersion)
	e.str(u.ID)
	e.str(u.Account)
	e.str(u.Name)
	e.byte(byte(u.Role))
	e.bool(u.Disabled)
	e.str(u.PasswordHash)
	e.bytes(u.MFASecret)
	e.varint(u.MFALastStep)
	e.time(u.SessionsValidAfter)
	e.time(u.Created)
	e.uvarint(u.Version)
	// Fields added in user record version 2.
	e.bytes(u.MFAPending)
	e.uvarint(uint64(u.MFAFailures))
	e.time(u.MFAWindowStart)
	e.uvarint(uint64(u.MFAWindowFailures))
	e.time(u.LoginWindowStart)
	e.uvarint(uint64(u.LoginWindowFailures))
	return e.b
}

func decodeUser(b []byte) (*apitoken.User, error) {
	d := newDecoder(b)
	v := d.byte()
	if v != recordVersion && v != userRecordVersion {
		d.fail(fmt.Sprintf("unknown user record version %d", v))
	}
	u := &apitoken.User{ID: d.str(), Account: d.str(), Name: d.str(), Role: d.privilege(false), Disabled: d.bool(), PasswordHash: d.str()}
	if s := d.raw(); len(s) > 0 {
		u.MFASecret = append([]byte(nil), s...)
	}
	u.MFALastStep = d.varint()
	u.SessionsValidAfter = d.time()
	u.Created = d.time()
	u.Version = d.uvarint()
	if v == userRecordVersion {
		if s := d.raw(); len(s) > 0 {
			u.MFAPending = append([]byte(nil), s...)
		}
		u.MFAFailures = d.count()
		u.MFAWindowStart = d.time()
		u.MFAWindowFailures = d.count()
		u.LoginWindowStart = d.time()
		u.LoginWindowFailures = d.count()
	}
	if err := d.end(); err != nil {
		return nil, err
	}
	if u.ID == "" || u.Account == "" || u.Name == "" {
		return nil, fmt.Errorf("%w: user without ID, account or name", ErrCorrupt)
	}
	return u, nil
}

// Index keys: length-prefixed parts, then the creation time (sortable) and
// the ID, so prefix scans return records in Created-then-ID order.

func appendPart(k []byte, s string) []byte {
	k = binary.AppendUvarint(k, uint64(len(s)))
	return append(k, s...)
}

func appendTimeID(k []byte, t time.Time, id string) []byte {
	k = binary.BigEndian.AppendUint64(k, uint64(t.UnixNano())^(1<<63))
	return append(k, id...)
}

func accountKey(account string, created time.Time, id string) []byte {
	return appendTimeID(appendPart(nil, account), created, id)
}

func userKey(account, userID string, created time.Time, id string) []byte {
	return appendTimeID(appendPart(appendPart(nil, account), userID), created, id)
}
