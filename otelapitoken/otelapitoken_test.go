package otelapitoken_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/apitoken/apitoken"
	"github.com/apitoken/apitoken/login"
	"github.com/apitoken/apitoken/memstore"
	"github.com/apitoken/apitoken/otelapitoken"
	"github.com/apitoken/apitoken/secretscanning"
)

var ctx = context.Background()

// flakyStore fails token reads by hash while down is set.
type flakyStore struct {
	apitoken.Store
	down atomic.Bool
}

var errDiskGone = errors.New("disk gone")

func (s *flakyStore) TokenByHash(ctx context.Context, h apitoken.Hash) (*apitoken.Token, error) {
	if s.down.Load() {
		return nil, errDiskGone
	}
	return s.Store.TokenByHash(ctx, h)
}

// collect reads every data point: instrument name, then its attributes
// written as "k=v,k=v" in key order, then the sum (counters) or the count
// (histograms). attrs receives every attribute value seen.
func collect(t *testing.T, r *sdkmetric.ManualReader, attrs *[]string) map[string]map[string]int64 {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := r.Collect(ctx, &rm); err != nil {
		t.Fatal(err)
	}
	key := func(s attribute.Set) string {
		var parts []string
		for _, kv := range s.ToSlice() {
			parts = append(parts, string(kv.Key)+"="+kv.Value.String())
			*attrs = append(*attrs, kv.Value.String())
		}
		sort.Strings(parts)
		return strings.Join(parts, ",")
	}
	out := map[string]map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		if sm.Scope.Name != otelapitoken.ScopeName {
			t.Errorf("scope %q", sm.Scope.Name)
		}
		for _, m := range sm.Metrics {
			pts := map[string]int64{}
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				if !d.IsMonotonic {
					t.Errorf("%s is not monotonic", m.Name)
				}
				for _, p := range d.DataPoints {
					pts[key(p.Attributes)] += p.Value
				}
			case metricdata.Histogram[float64]:
				if m.Unit != "s" {
					t.Errorf("%s has unit %q", m.Name, m.Unit)
				}
				for _, p := range d.DataPoints {
					pts[key(p.Attributes)] += int64(p.Count)
				}
			default:
				t.Errorf("%s: unexpected data %T", m.Name, m.Data)
			}
			out[m.Name] = pts
		}
	}
	return out
}

// After a scripted sequence of logins, issuance, verifications, failures,
// revocations, a leak report and a store outage, each instrument holds the
// expected values, and no attribute value is a token, ID, account or name.
func TestInstrumentsAfterAScriptedSequence(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	provider := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	met, err := otelapitoken.New(&otelapitoken.Options{MeterProvider: provider})
	if err != nil {
		t.Fatal(err)
	}
	var chained atomic.Int64
	opts := &apitoken.Options{
		OnEvent: func(apitoken.Event) { chained.Add(1) },
	}
	met.Install(opts)
	store := &flakyStore{Store: memstore.New()}
	m, err := apitoken.New(store, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	logins, err := login.New(m, store, &login.Options{MaxFailures: 2})
	if err != nil {
		t.Fatal(err)
	}

	const name, password = "alice@example.com", "correct horse battery staple"
	client := netip.MustParseAddr("192.0.2.7")
	if _, err := logins.AddUser(ctx, login.NewUser{Account: "acme", Name: name, Password: password, Role: apitoken.Admin}); err != nil {
		t.Fatal(err)
	}
	started, err := logins.Login(ctx, name, password, client) // issued{session}
	if err != nil {
		t.Fatal(err)
	}
	sess, err := m.Verify(ctx, started.Secret, "") // verify{session, miss}
	if err != nil {
		t.Fatal(err)
	}
	var secrets, ids []string
	issue := func() apitoken.Issued {
		iss, err := m.Issue(ctx, sess, apitoken.IssueRequest{}) // issued{api}
		if err != nil {
			t.Fatal(err)
		}
		secrets, ids = append(secrets, iss.Secret), append(ids, iss.Token.ID)
		return iss
	}
	tok := issue()
	for range 4 { // miss (records the app), miss (caches), hit, hit
		if _, err := m.Verify(ctx, tok.Secret, "ci"); err != nil {
			t.Fatal(err)
		}
	}
	m.Verify(ctx, "atk_short", "")    // malformed
	m.Verify(ctx, tok.Secret+"x", "") // malformed
	unknown, _ := apitoken.Format{}.Generate(apitoken.KindAPI)
	m.Verify(ctx, unknown, "") // unknown
	for range 2 {
		if _, err := logins.Login(ctx, name, "wrong password", client); !errors.Is(err, login.ErrBadCredentials) {
			t.Fatal(err)
		}
	}
	if _, err := logins.Login(ctx, name, password, client); !errors.Is(err, login.ErrThrottled) {
		t.Fatal(err)
	}
	if err := m.RevokeSecret(ctx, tok.Secret); err != nil { // revoked
		t.Fatal(err)
	}
	m.Verify(ctx, tok.Secret, "ci") // revoked, read from the store

	// A secret scanner reports a second token (revoked) and nonsense.
	leaked := issue()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	h, err := secretscanning.NewHandler(m, &secretscanning.Options{Keys: secretscanning.Keys{"k": &key.PublicKey}})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal([]secretscanning.Match{{Token: leaked.Secret, Type: "t", URL: "https://example.com/a", Source: "content"},
		{Token: "nonsense", Type: "t", URL: "https://example.com/b", Source: "content"}})
	digest := sha256.Sum256(body)
	sig, _ := ecdsa.SignASN1(rand.Reader, key, digest[:])
	req := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
	req.Header.Set(secretscanning.KeyIDHeader, "k")
	req.Header.Set(secretscanning.SignatureHeader, base64.StdEncoding.EncodeToString(sig))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	if w.Code != http.StatusOK {
		t.Fatalf("leak report: %d %s", w.Code, w.Body)
	}

	store.down.Store(true)
	other, _ := apitoken.Format{}.Generate(apitoken.KindAPI)
	if _, err := m.Verify(ctx, other, ""); !errors.As(err, new(*apitoken.StoreError)) {
		t.Fatalf("verify during the outage: %v", err)
	}
	store.down.Store(false)

	var values []string
	got := collect(t, reader, &values)
	want := map[string]map[string]int64{
		"apitoken.verifications": {
			"apitoken.cache.hit=false,apitoken.token.kind=session":                1,
			"apitoken.cache.hit=false,apitoken.token.kind=api":                    2,
			"apitoken.cache.hit=true,apitoken.token.kind=api":                     2,
			"apitoken.cache.hit=false,error.type=malformed":                       2,
			"apitoken.cache.hit=false,error.type=unknown":                         1,
			"apitoken.cache.hit=false,apitoken.token.kind=api,error.type=revoked": 1,
			"apitoken.cache.hit=false,error.type=store_error":                     1,
		},
		"apitoken.token.issued":   {"apitoken.token.kind=session": 1, "apitoken.token.kind=api": 2},
		"apitoken.token.revoked":  {"": 2},
		"apitoken.login.failures": {"error.type=bad_credentials": 2, "error.type=throttled": 1},
		"apitoken.store.errors":   {"apitoken.operation=verify": 1},
		"apitoken.leak.reports":   {"apitoken.leak.label=true_positive": 1, "apitoken.leak.label=false_positive": 1},
	}
	// The duration histogram holds the timed sample: at most as many
	// verifications, under attributes the counter has too.
	for attrs, n := range got["apitoken.verify.duration"] {
		if n > got["apitoken.verifications"][attrs] {
			t.Errorf("apitoken.verify.duration{%s} counts %d of %d verifications", attrs, n, got["apitoken.verifications"][attrs])
		}
	}
	delete(got, "apitoken.verify.duration")
	for name, pts := range want {
		for attrs, n := range pts {
			if got[name][attrs] != n {
				t.Errorf("%s{%s} = %d, want %d", name, attrs, got[name][attrs], n)
			}
		}
		if len(got[name]) != len(pts) {
			t.Errorf("%s has points %v, want %v", name, got[name], pts)
		}
	}
	if len(got) != len(want) {
		t.Errorf("instruments %v", got)
	}
	if chained.Load() == 0 {
		t.Error("Install dropped the OnEvent function already set")
	}

	// No attribute value is a token, an ID, an account or a user name.
	secrets = append(secrets, started.Secret, unknown, other)
	forbidden := append(append(secrets, ids...), name, "acme", started.Token.ID, "ci", "https://example.com/a")
	for _, v := range values {
		if apitoken.Pattern.MatchString(v) || apitoken.Redact(v) != v {
			t.Errorf("attribute value %q is shaped like a token", v)
		}
		for _, f := range forbidden {
			if strings.Contains(v, f) {
				t.Errorf("attribute value %q holds %q", v, f)
			}
		}
	}
	if len(values) == 0 {
		t.Fatal("no attributes collected")
	}
}

// Every error the Manager can report maps to a fixed error.type; anything
// else is _OTHER, never its text.
func TestErrorType(t *testing.T) {
	for err, want := range map[error]string{
		nil:                   "",
		apitoken.ErrMalformed: "malformed",
		fmt.Errorf("x: %w", apitoken.ErrAppDenied):     "app_denied",
		&apitoken.StoreError{Err: apitoken.ErrUnknown}: "store_error",
		login.ErrThrottled:                             "throttled",
		context.DeadlineExceeded:                       "deadline_exceeded",
		errors.New("atk_secret text"):                  otelapitoken.OtherErrorType,
	} {
		if got := otelapitoken.ErrorType(err); got != want {
			t.Errorf("ErrorType(%v) = %q, want %q", err, got, want)
		}
	}
}

// The duration histogram receives the Manager's timed sample of
// verifications, in seconds, with the adapter's bucket bounds.
func TestDurationHistogramSamplesVerifications(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	met, err := otelapitoken.New(&otelapitoken.Options{MeterProvider: sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))})
	if err != nil {
		t.Fatal(err)
	}
	m, secret := hotManager(t, met)
	const n = 100 * 32 // the Manager times one verification in 32 (apitoken.VerifyObservation.Timed)
	for range n {
		if _, err := m.Verify(ctx, secret, ""); err != nil {
			t.Fatal(err)
		}
	}
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(ctx, &rm); err != nil {
		t.Fatal(err)
	}
	var count uint64
	for _, sm := range rm.ScopeMetrics {
		for _, mt := range sm.Metrics {
			if h, ok := mt.Data.(metricdata.Histogram[float64]); ok {
				for _, p := range h.DataPoints {
					count += p.Count
					if len(p.Bounds) != len(otelapitoken.DurationBuckets) || p.Sum <= 0 || p.Sum > float64(p.Count) {
						t.Errorf("data point %v: bounds %v, sum %v s over %d", p.Attributes, p.Bounds, p.Sum, p.Count)
					}
				}
			}
		}
	}
	// Expected about 100 (plus the set-up's); the bounds fail with
	// probability below 1e-20.
	if count < 20 || count > 300 {
		t.Errorf("%d of about %d verifications timed", count, n)
	}
}

// A token entering the expiry warning window is counted once in
// apitoken.token.expiring, however many purges see it; one expiring
// later is not counted.
func TestExpiringTokensAreCounted(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	met, err := otelapitoken.New(&otelapitoken.Options{MeterProvider: sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))})
	if err != nil {
		t.Fatal(err)
	}
	opts := &apitoken.Options{PurgeInterval: -1, ExpiryWarning: 7 * 24 * time.Hour}
	met.Install(opts)
	m, err := apitoken.New(memstore.New(), opts)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	for _, d := range []time.Duration{24 * time.Hour, 30 * 24 * time.Hour} {
		if _, err := m.IssueFor(ctx, "acme", "", apitoken.IssueRequest{Privilege: apitoken.Admin, Expires: time.Now().Add(d)}); err != nil {
			t.Fatal(err)
		}
	}
	for range 2 {
		if _, err := m.Purge(ctx); err != nil {
			t.Fatal(err)
		}
	}
	var values []string
	got := collect(t, reader, &values)["apitoken.token.expiring"]
	if want := map[string]int64{"": 1}; len(got) != len(want) || got[""] != 1 {
		t.Errorf("apitoken.token.expiring has points %v, want %v", got, want)
	}
}
