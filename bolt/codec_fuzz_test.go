package bolt

import (
	"bytes"
	"encoding/hex"
	"net/netip"
	"reflect"
	"testing"
	"time"

	"github.com/apitoken/apitoken"
)

// FuzzDecodeToken feeds arbitrary bytes to the stored-record decoder: it
// must never panic, and whatever it accepts must encode back to the same
// bytes (so no two encodings mean one record).
func FuzzDecodeToken(f *testing.F) {
	now := time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)
	good := &apitoken.Token{ID: "id", Account: "acme", UserID: "u", Kind: apitoken.KindAPI, Owner: apitoken.OwnerUser,
		Privilege: apitoken.Normal, DefaultAppState: apitoken.Allow, Created: now, Expires: now.Add(time.Hour),
		Apps: []apitoken.App{{Name: "ci", State: apitoken.Deny, FirstSeen: now, LastSeen: now}}, Version: 3}
	enc := encodeToken(good)
	withOrigin := *good
	withOrigin.Lineage, withOrigin.Origin = "first", "root"
	f.Add(encodeToken(&withOrigin))       // rotated, issued by an API token
	f.Add(encodeToken(scopedToken(good))) // scopes, ranges and a last-used address
	warned := withOrigin
	warned.ExpiryWarned = now.Add(time.Minute)
	f.Add(encodeToken(&warned)) // reported as about to expire
	all := scopedToken(&warned)
	f.Add(encodeToken(all))               // every optional part
	f.Add(enc)                            // a valid record
	f.Add(enc[:len(enc)-1])               // truncated
	f.Add(append(bytes.Clone(enc), 0))    // trailing byte
	f.Add([]byte{recordVersion})          // version only
	f.Add([]byte{2})                      // an unknown version
	f.Add([]byte{1, 0xff, 0xff, 0xff, 7}) // a huge length
	overlong := append([]byte{recordVersion, 0x82, 0x00}, enc[2:]...)
	f.Add(overlong) // the ID length as an over-long varint (a past find)
	if _, err := decodeToken(apitoken.Hash{1}, overlong); err == nil {
		f.Fatal("an over-long varint was accepted")
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		tk, err := decodeToken(apitoken.Hash{1}, b)
		if err != nil {
			return
		}
		if !bytes.Equal(encodeToken(tk), b) {
			t.Fatalf("accepted a non-canonical record")
		}
	})
}

// scopedToken is t with scopes, allowed ranges and a last-used address.
func scopedToken(t *apitoken.Token) *apitoken.Token {
	c := t.Clone()
	c.Scopes = []string{"documents:read", "keys:read"}
	c.AllowedCIDRs = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("2001:db8::/32")}
	c.LastUsedIP = netip.MustParseAddr("192.0.2.7")
	return c
}

// TestScopesAllowListsAndLastAddressRoundTrip: the fields behind flag
// bits 3 and 5 read back as written, alone and together, and a record
// written before they existed (flag bits 0 and 1 only) reads with them
// empty.
func TestScopesAllowListsAndLastAddressRoundTrip(t *testing.T) {
	now := time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)
	base := &apitoken.Token{ID: "id", Account: "acme", UserID: "u", Kind: apitoken.KindAPI, Owner: apitoken.OwnerUser,
		Lineage: "first", Origin: "root", Privilege: apitoken.Normal, DefaultAppState: apitoken.Allow, Created: now,
		Expires: now.Add(time.Hour), Version: 3}
	full := scopedToken(base)
	onlyIP := base.Clone()
	onlyIP.LastUsedIP = netip.MustParseAddr("2001:db8::9")
	onlyRanges := base.Clone()
	onlyRanges.AllowedCIDRs = full.AllowedCIDRs
	for _, tk := range []*apitoken.Token{base, full, onlyIP, onlyRanges} {
		got, err := decodeToken(apitoken.Hash{1}, encodeToken(tk))
		if err != nil {
			t.Fatal(err)
		}
		tk.Hash = apitoken.Hash{1}
		if !got.Equal(tk) {
			t.Fatalf("read back %+v, wrote %+v", got, tk)
		}
	}
	// A record as written before scopes existed: flags 3 (lineage and
	// origin), no further data.
	old := []byte{recordVersion, 2, 'i', 'd', 0, byte(apitoken.KindAPI), byte(apitoken.OwnerUser), 4, 'a', 'c', 'm', 'e',
		1, 'u', 0, 0, 3, 5, 'f', 'i', 'r', 's', 't', 4, 'r', 'o', 'o', 't', 0, 0, byte(apitoken.Normal), byte(apitoken.Allow), 0}
	old = append(old, encodeToken(base)[len(old):]...) // the times, unlocked flag and version
	got, err := decodeToken(apitoken.Hash{1}, old)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Equal(base) || got.Scopes != nil || got.AllowedCIDRs != nil || got.LastUsedIP.IsValid() {
		t.Fatalf("an old record read as %+v", got)
	}
}

// FuzzDecodeUser is FuzzDecodeToken for user records.
func FuzzDecodeUser(f *testing.F) {
	u := &apitoken.User{ID: "u", Account: "acme", Name: "n", Role: apitoken.Admin, MFASecret: []byte("s"), Version: 1}
	enc := encodeUser(u)
	f.Add(enc)
	f.Add(enc[:len(enc)-2])
	f.Add(userRecordV1(enc))
	f.Add([]byte{recordVersion, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		u, err := decodeUser(b)
		if err != nil {
			return
		}
		got := encodeUser(u)
		if b[0] == recordVersion {
			got = userRecordV1(got) // a version 1 record has no throttling fields
		}
		if !bytes.Equal(got, b) {
			t.Fatalf("accepted a non-canonical record")
		}
	})
}

// userRecordV1 turns the encoding of a user whose version 2 fields are all
// zero into the version 1 record of the same user.
func userRecordV1(v2 []byte) []byte {
	const zeroV2Fields = 6 // one byte each: empty pending secret, 0, zero time, 0, zero time, 0
	v1 := bytes.Clone(v2[:len(v2)-zeroV2Fields])
	v1[0] = recordVersion
	return v1
}

// TestVersionOneUserRecordsStillDecode: users written before the throttling
// fields existed read back with those fields zero.
func TestVersionOneUserRecordsStillDecode(t *testing.T) {
	u := &apitoken.User{ID: "u1", Account: "acme", Name: "n@example.com", Role: apitoken.Normal,
		PasswordHash: "$argon2id$…", MFASecret: []byte("sealed"), MFALastStep: 9, Created: time.Unix(5, 0).UTC(), Version: 3}
	got, err := decodeUser(userRecordV1(encodeUser(u)))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, u) {
		t.Fatalf("decoded %+v, want %+v", got, u)
	}
	if _, err := decodeUser(append(userRecordV1(encodeUser(u)), 0)); err == nil {
		t.Fatal("a version 1 record with trailing bytes decoded")
	}
}

// A token record written before expiry warnings existed (the bytes the
// encoder of that time made) decodes unchanged, with no warning time; the
// same token with one encodes under flag bit 4 and reads back equal.
func TestRecordsWithoutExpiryWarningStillDecode(t *testing.T) {
	const old = "011030413162324333643445356636473768047778797a02010461636d6502753102753102733103103041316232433364344535663647376704726f6f740263690767656e65726963020100018080a8f4ccbb9aea31018080edff928d9cea3101808090b383ab90eb31000004"
	b, err := hex.DecodeString(old)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)
	want := &apitoken.Token{ID: "0A1b2C3d4E5f6G7h", Hash: apitoken.Hash{1}, Hint: "wxyz", Account: "acme", UserID: "u1", CreatedBy: "u1", Parent: "s1",
		Lineage: "0A1b2C3d4E5f6G7g", Origin: "root", Kind: apitoken.KindAPI, Owner: apitoken.OwnerUser, Description: "ci", Type: "generic",
		Privilege: apitoken.Normal, DefaultAppState: apitoken.Allow, Created: now, Expires: now.Add(72 * time.Hour), LastUsed: now.Add(time.Hour), Version: 4}
	got, err := decodeToken(apitoken.Hash{1}, b)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Equal(want) || !got.ExpiryWarned.IsZero() {
		t.Fatalf("decoded %+v, want %+v", got, want)
	}
	if !bytes.Equal(encodeToken(got), b) {
		t.Fatal("an old record does not encode back to its own bytes")
	}
	want.ExpiryWarned = now.Add(2 * time.Hour)
	enc := encodeToken(want)
	// version, ID, hint, kind, owner, account, user, creator, parent
	flagsAt := 1 + 1 + len(want.ID) + 1 + len(want.Hint) + 2 + 1 + len(want.Account) + 1 + len(want.UserID) + 1 + len(want.CreatedBy) + 1 + len(want.Parent)
	if enc[flagsAt]&16 == 0 {
		t.Fatal("the warning time is not flagged by bit 4")
	}
	if got, err = decodeToken(apitoken.Hash{1}, enc); err != nil || !got.Equal(want) {
		t.Fatalf("decoded %+v, %v; want %+v", got, err, want)
	}
}
