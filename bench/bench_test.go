// Package bench compares apitoken with what teams use instead, in one
// go test -bench run: golang-jwt (HS256, EdDSA), PASETO v4 local, scs
// sessions on bbolt, and the floors (a hash plus a map lookup). It is its
// own module so the peers never enter the library's go.mod. bench/run.sh
// runs it with the bolt package's benchmarks and prints medians and ratios.
package bench

import (
	"context"
	"encoding/binary"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/alexedwards/scs/v2"
	"github.com/apitoken/apitoken"
	"github.com/apitoken/apitoken/login"
	"github.com/apitoken/apitoken/memstore"
	"go.etcd.io/bbolt"
)

var (
	ctx     = context.Background()
	hashKey = []byte("bench hash key, 32 bytes long..!")
)

// ours is a Manager over memstore with one hot API token.
func ours(b *testing.B, cacheSize int) (*apitoken.Manager, apitoken.Principal, string) {
	b.Helper()
	m, err := apitoken.New(memstore.New(), &apitoken.Options{HashKey: hashKey, CacheSize: cacheSize})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { m.Close() })
	admin := adminSession(b, m, "bench@example.com")
	return m, admin, hotAccountToken(b, m, admin)
}

// adminSession adds an admin user named name to account acme and returns
// the Principal of a session of theirs.
func adminSession(b *testing.B, m *apitoken.Manager, name string) apitoken.Principal {
	b.Helper()
	u, err := m.AddUser(ctx, apitoken.NewUser{Account: "acme", Name: name, Role: apitoken.Admin})
	if err != nil {
		b.Fatal(err)
	}
	l, err := m.StartSession(ctx, u.ID)
	if err != nil {
		b.Fatal(err)
	}
	admin, err := m.Verify(ctx, l.Secret, "")
	if err != nil {
		b.Fatal(err)
	}
	return admin
}

// hotAccountToken issues an account token as admin and verifies it twice
// (recording the default app, then caching it); it returns the secret.
func hotAccountToken(b *testing.B, m *apitoken.Manager, admin apitoken.Principal) string {
	b.Helper()
	iss, err := m.Issue(ctx, admin, apitoken.IssueRequest{Owner: apitoken.OwnerAccount})
	if err != nil {
		b.Fatal(err)
	}
	for range 2 {
		if _, err := m.Verify(ctx, iss.Secret, ""); err != nil {
			b.Fatal(err)
		}
	}
	return iss.Secret
}

func BenchmarkVerifyHot(b *testing.B) {
	m, _, secret := ours(b, 0)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.Verify(ctx, secret, ""); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFloorKeyedHashMap is the least a keyed-hash design can do per
// verification: the HMAC of the token and one lookup in a 100k-entry map.
func BenchmarkFloorKeyedHashMap(b *testing.B) { loop(b, floorKeyedHashMap(b)) }

// BenchmarkFloorSHA256Map is the same floor with plain SHA-256.
func BenchmarkFloorSHA256Map(b *testing.B) { loop(b, floorSHA256Map(b)) }

// BenchmarkJWTHS256 is golang-jwt v5 parsing and verifying an HS256 token.
func BenchmarkJWTHS256(b *testing.B) { loop(b, jwtHS256(b)) }

// BenchmarkJWTEdDSA is the same with an EdDSA (Ed25519) token.
func BenchmarkJWTEdDSA(b *testing.B) { loop(b, jwtEdDSA(b)) }

// BenchmarkPASETOv4Local is a PASETO v4 local token parsed and decrypted.
func BenchmarkPASETOv4Local(b *testing.B) { loop(b, pasetoV4Local(b)) }

// loop runs op as a benchmark of its own.
func loop(b *testing.B, op func()) {
	b.ReportAllocs()
	for b.Loop() {
		op()
	}
}

// boltSessions is an scs.Store on bbolt, shaped like scs's boltstore (which
// the module proxy here does not serve): one bucket, the expiry in the
// first 8 bytes of each value.
type boltSessions struct{ db *bbolt.DB }

var sessionsBucket = []byte("scs")

func (s boltSessions) Find(token string) ([]byte, bool, error) {
	var out []byte
	err := s.db.View(func(tx *bbolt.Tx) error {
		v := tx.Bucket(sessionsBucket).Get([]byte(token))
		if len(v) < 8 || time.Now().UnixNano() > int64(binary.BigEndian.Uint64(v)) {
			return nil
		}
		out = append([]byte(nil), v[8:]...)
		return nil
	})
	return out, out != nil, err
}

func (s boltSessions) Commit(token string, b []byte, expiry time.Time) error {
	v := binary.BigEndian.AppendUint64(nil, uint64(expiry.UnixNano()))
	return s.db.Update(func(tx *bbolt.Tx) error {
		return tx.Bucket(sessionsBucket).Put([]byte(token), append(v, b...))
	})
}

func (s boltSessions) Delete(token string) error {
	return s.db.Update(func(tx *bbolt.Tx) error { return tx.Bucket(sessionsBucket).Delete([]byte(token)) })
}

// scsSetup returns a session manager on bbolt and a cookie for a live
// session holding a user ID.
func scsSetup(b *testing.B) (*scs.SessionManager, *http.Cookie) {
	b.Helper()
	db, err := bbolt.Open(filepath.Join(b.TempDir(), "scs.db"), 0o600, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	db.Update(func(tx *bbolt.Tx) error { _, err := tx.CreateBucketIfNotExists(sessionsBucket); return err })
	sm := scs.New()
	sm.Store = boltSessions{db}
	login := sm.LoadAndSave(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sm.Put(r.Context(), "user", "usr0000000000001")
	}))
	rec := httptest.NewRecorder()
	login.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	cookies := rec.Result().Cookies()
	if len(cookies) != 1 {
		b.Fatal("no session cookie")
	}
	return sm, cookies[0]
}

func BenchmarkSCSBoltFind(b *testing.B) {
	sm, c := scsSetup(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, ok, err := sm.Store.Find(c.Value); !ok || err != nil {
			b.Fatal("missing", err)
		}
	}
}

// BenchmarkMiddlewareSCS is a request through scs's LoadAndSave on bbolt
// to a handler that reads the session's user.
func BenchmarkMiddlewareSCS(b *testing.B) {
	sm, c := scsSetup(b)
	h := sm.LoadAndSave(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if sm.GetString(r.Context(), "user") == "" {
			b.Fatal("no user")
		}
	}))
	req := httptest.NewRequest("GET", "/", nil)
	req.AddCookie(c)
	b.ReportAllocs()
	for b.Loop() {
		h.ServeHTTP(discard{}, req)
	}
}

// BenchmarkMiddlewareOurs is a request through the Guard with a hot API
// token to a handler that reads the principal.
func BenchmarkMiddlewareOurs(b *testing.B) {
	m, _, secret := ours(b, 0)
	g := apitoken.NewGuard(m, nil)
	h := g.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p, ok := apitoken.FromContext(r.Context()); !ok || p.TokenID == "" {
			b.Fatal("no principal")
		}
	}))
	req := httptest.NewRequest("GET", "/", nil)
	req.Header.Set("Authorization", "Bearer "+secret)
	b.ReportAllocs()
	for b.Loop() {
		h.ServeHTTP(discard{}, req)
	}
}

// discard is a ResponseWriter that keeps nothing, so neither middleware
// pays for a recorder.
type discard struct{}

func (discard) Header() http.Header         { return http.Header{} }
func (discard) Write(p []byte) (int, error) { return len(p), nil }
func (discard) WriteHeader(int)             {}

// million is a Manager with 1,000,000 cached account tokens over a
// memstore. The secrets are packed in one byte slice, so that a collection
// traces the Manager and the store's records, not a million strings of the
// benchmark's own. (A bolt fixture would keep the records off the heap, but
// building it a commit at a time reached about 280,000 tokens (judged by
// the file size) in 8 minutes here,
// so about half an hour for a million; internal/cache's
// BenchmarkGCCache measures the cache alone.)
var million fixture

type fixture struct {
	once    sync.Once
	m       *apitoken.Manager
	secrets []byte
	width   int
}

// secret returns the i-th secret of the fixture without allocating.
func (f *fixture) secret(i int) string {
	return unsafe.String(&f.secrets[i*f.width], f.width)
}

func loadMillion(b *testing.B) {
	million.once.Do(func() {
		m, err := apitoken.New(memstore.New(), &apitoken.Options{HashKey: hashKey, CacheSize: 1_100_000})
		if err != nil {
			b.Fatal(err)
		}
		u, _ := m.AddUser(ctx, apitoken.NewUser{Account: "acme", Name: "million@example.com", Role: apitoken.Admin})
		l, _ := m.StartSession(ctx, u.ID)
		admin, _ := m.Verify(ctx, l.Secret, "")
		for i := range 1_000_000 {
			iss, err := m.Issue(ctx, admin, apitoken.IssueRequest{Owner: apitoken.OwnerAccount})
			if err != nil {
				b.Fatal(err)
			}
			if i == 0 {
				million.width = len(iss.Secret)
				million.secrets = make([]byte, 0, 1_000_000*million.width)
			}
			million.secrets = append(million.secrets, iss.Secret...)
			for range 2 {
				if _, err := m.Verify(ctx, iss.Secret, ""); err != nil {
					b.Fatal(err)
				}
			}
		}
		if err := m.Flush(ctx); err != nil {
			b.Fatal(err)
		}
		million.m = m
	})
	if million.m == nil {
		b.Fatal("fixture failed")
	}
}

// BenchmarkVerifyRandom1MCached verifies random tokens among 1,000,000
// cached ones: cache misses in the CPU, not in the store.
func BenchmarkVerifyRandom1MCached(b *testing.B) {
	loadMillion(b)
	var x uint64 = 1
	b.ReportAllocs()
	for b.Loop() {
		x = x*6364136223846793005 + 1442695040888963407
		if _, err := million.m.Verify(ctx, million.secret(int((x>>33)%1_000_000)), ""); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkGCWith1MCached is one full collection with 1,000,000 cached
// tokens live, and the memstore holding their records: an upper bound on
// the cache's own cost.
func BenchmarkGCWith1MCached(b *testing.B) {
	loadMillion(b)
	for b.Loop() {
		runtime.GC()
	}
	runtime.KeepAlive(million.m)
}

func BenchmarkLogin(b *testing.B) {
	store := memstore.New()
	m, err := apitoken.New(store, &apitoken.Options{HashKey: hashKey})
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	logins, err := login.New(m, store, nil)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := logins.AddUser(ctx, login.NewUser{Account: "acme", Name: "login@example.com", Password: "a login password", Role: apitoken.Normal}); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := logins.Login(ctx, "login@example.com", "a login password", netip.Addr{}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkList1000(b *testing.B) {
	m, admin, _ := ours(b, 0)
	for range 999 {
		if _, err := m.Issue(ctx, admin, apitoken.IssueRequest{Owner: apitoken.OwnerAccount}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		ts, err := m.List(ctx, admin, apitoken.ListOptions{})
		if err != nil || len(ts.Items) != 1000 {
			b.Fatal(len(ts.Items), err)
		}
	}
}
