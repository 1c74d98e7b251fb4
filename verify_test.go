package apitoken_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"hash/crc32"
	mrand "math/rand/v2"
	"testing"
	"time"

	"github.com/apitoken/apitoken"
	"github.com/apitoken/apitoken/memstore"
	"github.com/apitoken/apitoken/storetest"
)

var ctx = context.Background()

const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

func newManager(tb testing.TB, o *apitoken.Options) (*apitoken.Manager, *storetest.Counting) {
	tb.Helper()
	s := storetest.NewCounting(memstore.New())
	m, err := apitoken.New(s, o)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { m.Close() })
	return m, s
}

// issueAPIToken adds a normal user to account acme, starts a session for
// them and issues an API token with it.
func issueAPIToken(tb testing.TB, m *apitoken.Manager) apitoken.Issued {
	tb.Helper()
	_, iss := issueWithSession(tb, m)
	return iss
}

// signIn adds a user of role to account acme, named a@example.com,
// starts a session for them and returns its verified principal.
func signIn(tb testing.TB, m *apitoken.Manager, role apitoken.Privilege) apitoken.Principal {
	tb.Helper()
	u, err := m.AddUser(ctx, apitoken.NewUser{Account: "acme", Name: "a@example.com", Role: role})
	if err != nil {
		tb.Fatal(err)
	}
	l, err := m.StartSession(ctx, u.ID)
	if err != nil {
		tb.Fatal(err)
	}
	p, err := m.Verify(ctx, l.Secret, "")
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

// issueWithSession is issueAPIToken also returning the session's
// principal, for calls made as the token's owner.
func issueWithSession(tb testing.TB, m *apitoken.Manager) (apitoken.Principal, apitoken.Issued) {
	tb.Helper()
	sess := signIn(tb, m, apitoken.Normal)
	iss, err := m.Issue(ctx, sess, apitoken.IssueRequest{})
	if err != nil {
		tb.Fatal(err)
	}
	return sess, iss
}

func TestMalformedTokensNeverReachTheStore(t *testing.T) {
	m, s := newManager(t, nil)
	n := 1_000_000
	if !storetest.Long() {
		n = 50_000
	}
	rng := mrand.New(mrand.NewPCG(1, 2))
	buf := make([]byte, 0, 64)
	randomString := func(prefix string, length int) string {
		buf = append(buf[:0], prefix...)
		for len(buf) < length {
			buf = append(buf, alphabet[rng.IntN(62)])
		}
		return string(buf)
	}
	accepted := 0
	for i := range n {
		// Random strings of random length, some with the right prefix.
		var cand string
		if i%2 == 0 {
			cand = randomString("", rng.IntN(80))
		} else {
			cand = randomString("atk_", 4+rng.IntN(70))
		}
		if _, err := m.Verify(ctx, cand, ""); !errors.Is(err, apitoken.ErrMalformed) {
			accepted++
		}
		// Right prefix and length (with and without the issue time),
		// checksum wrong by construction.
		tok := randomString("atk_", 4+[]int{43, 8 + 43}[i%2]+6)
		body := tok[:len(tok)-6]
		if want := checksum(body); tok[len(tok)-6:] == want {
			continue // one in 5.7e10: a valid checksum by chance
		}
		if _, err := m.Verify(ctx, tok, ""); !errors.Is(err, apitoken.ErrMalformed) {
			accepted++
		}
	}
	if accepted != 0 || s.Calls() != 0 {
		t.Fatalf("%d of 2x%d bad strings passed the parser; %d store calls, want 0", accepted, n, s.Calls())
	}
}

func checksum(s string) string {
	v := uint64(crc32.ChecksumIEEE([]byte(s)))
	var out [6]byte
	for i := 5; i >= 0; i-- {
		out[i] = alphabet[v%62]
		v /= 62
	}
	return string(out[:])
}

func TestVerifyOfHugeInputAllocatesNothingProportional(t *testing.T) {
	m, s := newManager(t, nil)
	huge := "atk_" + string(make([]byte, 1<<20))
	allocs := testing.AllocsPerRun(50, func() { m.Verify(ctx, huge, "") })
	if allocs != 0 || s.Calls() != 0 {
		t.Fatalf("1 MiB token: %v allocations, %d store calls", allocs, s.Calls())
	}
}

func TestVerifyFailureReasonsAreDistinct(t *testing.T) {
	clock := storetest.NewClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	m, _ := newManager(t, &apitoken.Options{Now: clock.Now})
	u, err := m.AddUser(ctx, apitoken.NewUser{Account: "acme", Name: "a@example.com", Role: apitoken.Normal})
	if err != nil {
		t.Fatal(err)
	}
	l, err := m.StartSession(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	sess, _ := m.Verify(ctx, l.Secret, "")
	live, _ := m.Issue(ctx, sess, apitoken.IssueRequest{})
	revoked, _ := m.Issue(ctx, sess, apitoken.IssueRequest{})
	m.Revoke(ctx, sess, revoked.Token.ID)
	expiring, _ := m.Issue(ctx, sess, apitoken.IssueRequest{Expires: clock.Now().Add(time.Minute)})
	clock.Advance(time.Minute)
	for _, tc := range []struct {
		name  string
		token string
		want  error
	}{
		{"a malformed token is ErrMalformed", "atk_short", apitoken.ErrMalformed},
		{"a well-formed unknown token is ErrUnknown", mustGenerate(), apitoken.ErrUnknown},
		{"a revoked token is ErrRevoked", revoked.Secret, apitoken.ErrRevoked},
		{"an expired token is ErrExpired", expiring.Secret, apitoken.ErrExpired},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := m.Verify(ctx, tc.token, ""); !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
	if _, err := m.Verify(ctx, live.Secret, ""); err != nil {
		t.Fatalf("live token: %v", err)
	}
}

func TestRevokeBySecretAnswersTheSameWhateverTheState(t *testing.T) {
	m, _ := newManager(t, nil)
	iss := issueAPIToken(t, m)
	for _, name := range []string{"live", "already revoked"} {
		if err := m.RevokeSecret(ctx, iss.Secret); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	if err := m.RevokeSecret(ctx, mustGenerate()); err != nil {
		t.Fatalf("unknown: %v", err)
	}
	if _, err := m.Verify(ctx, iss.Secret, ""); !errors.Is(err, apitoken.ErrRevoked) {
		t.Fatalf("after revoke by possession: %v", err)
	}
}

func TestNewRefusesBadOptions(t *testing.T) {
	for name, o := range map[string]*apitoken.Options{
		"a bad prefix":                    {Format: apitoken.Format{APIPrefix: "Bad"}},
		"a default expiry over the max":   {DefaultExpiry: 2 * time.Hour, MaxExpiry: time.Hour},
		"a default app over the name cap": {DefaultApp: string(make([]byte, 65))},
	} {
		if _, err := apitoken.New(memstore.New(), o); !errors.Is(err, apitoken.ErrInvalidArgument) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// benchEnv returns a manager and a verified API token secret.
func benchEnv(b *testing.B, cacheSize int) (*apitoken.Manager, string) {
	m, _ := newManager(b, &apitoken.Options{HashKey: []byte("0123456789abcdef0123456789abcdef"), CacheSize: cacheSize})
	iss := issueAPIToken(b, m)
	for range 2 {
		if _, err := m.Verify(ctx, iss.Secret, ""); err != nil {
			b.Fatal(err)
		}
	}
	return m, iss.Secret
}

func BenchmarkVerifyHot(b *testing.B) {
	m, secret := benchEnv(b, 0)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.Verify(ctx, secret, ""); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyCold(b *testing.B) {
	m, secret := benchEnv(b, -1)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.Verify(ctx, secret, ""); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyHotParallel(b *testing.B) {
	m, secret := benchEnv(b, 0)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := m.Verify(ctx, secret, ""); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func BenchmarkMemstoreTokenByHash(b *testing.B) {
	s := memstore.New()
	tk := storetest.Token(1, "acme", "u1")
	s.CreateToken(ctx, tk)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.TokenByHash(ctx, tk.Hash); err != nil {
			b.Fatal(err)
		}
	}
}

func mustGenerate() string {
	s, err := apitoken.Format{}.Generate(apitoken.KindAPI)
	if err != nil {
		panic(err)
	}
	return s
}

func jsonDecode(b []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	return d.Decode(v)
}

// Tokens issued before tokens carried their issue time are stored under
// the whole hash. They must still verify and be revocable by possession,
// with the cache on or off and with or without a hash key.
func TestTokensWithoutAnIssueTimeStillVerify(t *testing.T) {
	key := []byte("0123456789abcdef0123456789abcdef")
	for _, tc := range []struct {
		name  string
		key   []byte
		cache int
	}{
		{"keyed, cached", key, 0},
		{"keyed, cache off", key, -1},
		{"unkeyed, cached", nil, 0},
		{"unkeyed, cache off", nil, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, s := newManager(t, &apitoken.Options{HashKey: tc.key, CacheSize: tc.cache})
			iss := issueAPIToken(t, m)
			// Store the record again as an older build would have: under
			// the whole hash of a token without time digits.
			old := apitoken.WithoutIssueTime(iss.Secret)
			rec, err := s.TokenByID(ctx, iss.Token.ID)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.DeleteToken(ctx, iss.Token.ID); err != nil {
				t.Fatal(err)
			}
			rec.Hash = sha256.Sum256([]byte(old))
			if tc.key != nil {
				mac := hmac.New(sha256.New, tc.key)
				mac.Write([]byte(old))
				mac.Sum(rec.Hash[:0])
			}
			if err := s.CreateToken(ctx, rec); err != nil {
				t.Fatal(err)
			}
			if p, err := m.Verify(ctx, old, ""); err != nil || p.TokenID != iss.Token.ID {
				t.Fatalf("the old token: %+v, %v", p, err)
			}
			if err := m.RevokeSecret(ctx, old); err != nil {
				t.Fatal(err)
			}
			if _, err := m.Verify(ctx, old, ""); !errors.Is(err, apitoken.ErrRevoked) {
				t.Fatalf("after revoke by possession: %v", err)
			}
		})
	}
}
