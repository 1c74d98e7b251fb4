// Package otelapitoken reports an apitoken.Manager's activity as
// OpenTelemetry metrics. It is a module of its own so that the apitoken
// library does not depend on OpenTelemetry.
//
// Install it on the Manager's options before calling apitoken.New:
//
//	met, err := otelapitoken.New(&otelapitoken.Options{MeterProvider: provider})
//	...
//	opts := &apitoken.Options{HashKey: key, Logger: logger}
//	met.Install(opts) // adds the metrics; Logger and any OnEvent stay
//	m, err := apitoken.New(store, opts)
//
// # Instruments
//
// Names follow OpenTelemetry's naming guidelines (dotted, lower case, no
// unit or "total" in the name, UCUM units) under the "apitoken." namespace;
// the failure attribute is the semantic conventions' error.type.
//
//	apitoken.verifications     counter, {verification}  every Manager.Verify (so also the
//	                                           Guard's): error.type (absent on success),
//	                                           apitoken.token.kind (api, session; absent when no
//	                                           record was found), apitoken.cache.hit (bool)
//	apitoken.verify.duration   histogram, s    the sample of verifications the Manager times
//	                                           (one in 32): same attributes
//	apitoken.token.issued      counter, {token}    API tokens issued or rotated in, sessions
//	                                               started: apitoken.token.kind
//	apitoken.token.revoked     counter, {token}    revocations, by ID or by possession
//	apitoken.token.expiring    counter, {token}    API tokens that entered the expiry warning
//	                                               window (Options.ExpiryWarning), each once
//	apitoken.login.failures    counter, {failure}  failed logins: error.type (bad_credentials,
//	                                               throttled, busy, store_error, ...)
//	apitoken.store.errors      counter, {error}    store failures: apitoken.operation (verify,
//	                                               login, usage_flush, history_purge, leak_report)
//	apitoken.leak.reports      counter, {report}   secret-scanning matches: apitoken.leak.label
//	                                               (true_positive, false_positive)
//
// Verifications by outcome are apitoken.verifications by error.type, and the
// cache hit ratio is its sum with apitoken.cache.hit=true over its whole
// sum. The counter is kept in atomic integers and reported through an
// asynchronous (observable) counter at collection time, so a verification
// costs one atomic add, plus a histogram record for the timed sample.
//
// Every attribute value comes from a fixed list: no token, secret, token ID,
// account, user name, application name or URL is ever an attribute, so
// cardinality is bounded whatever the traffic.
package otelapitoken

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/apitoken/apitoken"
	"github.com/apitoken/apitoken/event"
	"github.com/apitoken/apitoken/login"
	"github.com/apitoken/apitoken/secretscanning"
)

// ScopeName is the instrumentation scope of the meter the instruments
// belong to.
const ScopeName = "github.com/apitoken/apitoken/otelapitoken"

// Attribute keys.
const (
	// AttrErrorType is the semantic conventions' error.type: a failure's
	// class, absent on success.
	AttrErrorType = attribute.Key("error.type")
	// AttrTokenKind is the credential's kind: "api" or "session".
	AttrTokenKind = attribute.Key("apitoken.token.kind")
	// AttrCacheHit says whether the verification cache served the record.
	AttrCacheHit = attribute.Key("apitoken.cache.hit")
	// AttrOperation is what was being done when a store failed.
	AttrOperation = attribute.Key("apitoken.operation")
	// AttrLeakLabel is a secret-scanning match's label.
	AttrLeakLabel = attribute.Key("apitoken.leak.label")
)

// OtherErrorType is error.type for an error the adapter does not classify,
// as the semantic conventions name it.
const OtherErrorType = "_OTHER"

// errorTypes classifies errors, most specific first. Index i+1 of a
// classification is errorTypes[i]; 0 is success and len+1 is _OTHER.
var errorTypes = []struct {
	name string
	is   func(error) bool
}{
	{"store_error", func(err error) bool { var se *apitoken.StoreError; return errors.As(err, &se) }},
	{"malformed", sentinel(apitoken.ErrMalformed)},
	{"unknown", sentinel(apitoken.ErrUnknown)},
	{"revoked", sentinel(apitoken.ErrRevoked)},
	{"expired", sentinel(apitoken.ErrExpired)},
	{"user_disabled", sentinel(apitoken.ErrUserDisabled)},
	{"session_locked", sentinel(apitoken.ErrSessionLocked)},
	{"app_pending", sentinel(apitoken.ErrAppPending)},
	{"app_denied", sentinel(apitoken.ErrAppDenied)},
	{"too_many_apps", httpCode("too_many_apps")},
	{"insufficient_scope", httpCode("insufficient_scope")},
	{"address_not_allowed", httpCode("address_not_allowed")},
	{"insufficient_privilege", sentinel(apitoken.ErrInsufficientPrivilege)},
	{"invalid_argument", sentinel(apitoken.ErrInvalidArgument)},
	{"bad_credentials", sentinel(login.ErrBadCredentials)},
	{"throttled", sentinel(login.ErrThrottled)},
	{"busy", sentinel(login.ErrBusy)},
	{"bad_mfa_code", sentinel(login.ErrBadMFACode)},
	{"mfa_blocked", sentinel(login.ErrMFABlocked)},
	{"conflict", sentinel(apitoken.ErrConflict)},
	{"closed", sentinel(apitoken.ErrClosed)},
	{"canceled", sentinel(context.Canceled)},
	{"deadline_exceeded", sentinel(context.DeadlineExceeded)},
}

// httpCode classifies the precise cases of sentinels, told apart by their
// HTTP codes.
func httpCode(code string) func(error) bool {
	return func(err error) bool { return apitoken.HTTPErrorOf(err).Code == code }
}

func sentinel(target error) func(error) bool {
	return func(err error) bool { return errors.Is(err, target) }
}

// classify returns err's index: 0 for nil, 1..len(errorTypes) for a known
// class, len(errorTypes)+1 for _OTHER.
func classify(err error) int {
	if err == nil {
		return 0
	}
	for i, t := range errorTypes {
		if t.is(err) {
			return i + 1
		}
	}
	return len(errorTypes) + 1
}

// errorTypeName is the error.type value of class i (i > 0).
func errorTypeName(i int) string {
	if i <= len(errorTypes) {
		return errorTypes[i-1].name
	}
	return OtherErrorType
}

// ErrorType returns the error.type value the adapter gives err: "" for nil,
// a fixed snake_case name for the library's sentinels and *StoreError, and
// OtherErrorType otherwise.
func ErrorType(err error) string {
	i := classify(err)
	if i == 0 {
		return ""
	}
	return errorTypeName(i)
}

// DurationBuckets are the verification histogram's bucket bounds in
// seconds: a cached verification takes microseconds, a store read up to
// milliseconds, a slow store more.
var DurationBuckets = []float64{
	1e-6, 2.5e-6, 5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4,
	1e-3, 2.5e-3, 5e-3, 1e-2, 2.5e-2, 5e-2, 0.1, 0.25, 0.5, 1,
}

// Options configures New. The zero value means defaults.
type Options struct {
	// MeterProvider makes the meter. Default otel.GetMeterProvider().
	MeterProvider metric.MeterProvider
}

// Metrics turns a Manager's events and verifications into instruments. It
// has the methods apitoken.Options wants: ObserveVerify for
// Options.ObserveVerify and OnEvent for Options.OnEvent. Both are safe for concurrent use and
// never block on export.
type Metrics struct {
	verifications  metric.Int64ObservableCounter
	verifyDuration metric.Float64Histogram
	issued         metric.Int64Counter
	revoked        metric.Int64Counter
	expiring       metric.Int64Counter
	loginFailures  metric.Int64Counter
	storeErrors    metric.Int64Counter
	leakReports    metric.Int64Counter

	// verifyCells holds, per kind (0, API, session), outcome class and
	// cache hit, the verification count and the prepared attribute set,
	// so a verification builds no attribute set and allocates nothing.
	verifyCells [3][][2]verifyCell
}

// verifyCell is one combination of verification attributes.
type verifyCell struct {
	n       atomic.Int64
	set     attribute.Set
	observe []metric.ObserveOption
	record  []metric.RecordOption
	_       [24]byte // keeps hot counters off each other's cache line
}

// New makes the instruments on a meter of opts.MeterProvider. A nil opts
// means defaults.
func New(opts *Options) (*Metrics, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.MeterProvider == nil {
		o.MeterProvider = otel.GetMeterProvider()
	}
	meter := o.MeterProvider.Meter(ScopeName)
	m := &Metrics{}
	var errs []error
	var err error
	m.verifications, err = meter.Int64ObservableCounter("apitoken.verifications", metric.WithUnit("{verification}"),
		metric.WithDescription("Token verifications (apitoken Manager.Verify), by outcome, kind and cache hit."),
		metric.WithInt64Callback(m.observeVerifications))
	errs = append(errs, err)
	m.verifyDuration, err = meter.Float64Histogram("apitoken.verify.duration", metric.WithUnit("s"),
		metric.WithDescription("Duration of a random sample of token verifications (apitoken Manager.Verify), by outcome."),
		metric.WithExplicitBucketBoundaries(DurationBuckets...))
	errs = append(errs, err)
	counter := func(name, unit, desc string) metric.Int64Counter {
		c, err := meter.Int64Counter(name, metric.WithUnit(unit), metric.WithDescription(desc))
		errs = append(errs, err)
		return c
	}
	m.issued = counter("apitoken.token.issued", "{token}", "API tokens issued or rotated in, and sessions started.")
	m.revoked = counter("apitoken.token.revoked", "{token}", "Tokens revoked, by ID or by possession.")
	m.expiring = counter("apitoken.token.expiring", "{token}", "API tokens that entered the expiry warning window, each once.")
	m.loginFailures = counter("apitoken.login.failures", "{failure}", "Failed password logins, throttled and busy refusals included.")
	m.storeErrors = counter("apitoken.store.errors", "{error}", "Store failures seen by the Manager, by operation.")
	m.leakReports = counter("apitoken.leak.reports", "{report}", "Token matches reported by a secret scanner, by label.")
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("otelapitoken: making instruments: %w", err)
	}
	kinds := []attribute.KeyValue{{}, AttrTokenKind.String(apitoken.KindAPI.String()), AttrTokenKind.String(apitoken.KindSession.String())}
	for k := range m.verifyCells {
		m.verifyCells[k] = make([][2]verifyCell, len(errorTypes)+2)
		for c := range m.verifyCells[k] {
			for hit := range 2 {
				attrs := []attribute.KeyValue{AttrCacheHit.Bool(hit == 1)}
				if k > 0 {
					attrs = append(attrs, kinds[k])
				}
				if c > 0 {
					attrs = append(attrs, AttrErrorType.String(errorTypeName(c)))
				}
				cell := &m.verifyCells[k][c][hit]
				cell.set = attribute.NewSet(attrs...)
				cell.observe = []metric.ObserveOption{metric.WithAttributeSet(cell.set)}
				cell.record = []metric.RecordOption{metric.WithAttributeSet(cell.set)}
			}
		}
	}
	return m, nil
}

// Install sets m.ObserveVerify as o.ObserveVerify and adds m.OnEvent to
// o.OnEvent, keeping any ObserveVerify or OnEvent o already has (they are
// called first).
func (m *Metrics) Install(o *apitoken.Options) {
	if next := o.OnEvent; next != nil {
		o.OnEvent = func(e apitoken.Event) { next(e); m.OnEvent(e) }
	} else {
		o.OnEvent = m.OnEvent
	}
	if prev := o.ObserveVerify; prev != nil {
		o.ObserveVerify = func(v apitoken.VerifyObservation) { prev(v); m.ObserveVerify(v) }
	} else {
		o.ObserveVerify = m.ObserveVerify
	}
}

// observeVerifications reports the verification counts at collection.
func (m *Metrics) observeVerifications(_ context.Context, o metric.Int64Observer) error {
	for k := range m.verifyCells {
		for c := range m.verifyCells[k] {
			for hit := range 2 {
				cell := &m.verifyCells[k][c][hit]
				if n := cell.n.Load(); n > 0 {
					o.Observe(n, cell.observe...)
				}
			}
		}
	}
	return nil
}

// ObserveVerify counts one verification in apitoken.verifications and, if
// it was timed, records its duration in apitoken.verify.duration.
func (m *Metrics) ObserveVerify(v apitoken.VerifyObservation) {
	k := 0
	switch v.Kind {
	case apitoken.KindAPI:
		k = 1
	case apitoken.KindSession:
		k = 2
	}
	hit := 0
	if v.CacheHit {
		hit = 1
	}
	cell := &m.verifyCells[k][classify(v.Err)][hit]
	cell.n.Add(1)
	if v.Timed {
		m.verifyDuration.Record(context.Background(), v.Duration.Seconds(), cell.record...)
	}
}

// OnEvent counts one event; use it as apitoken.Options.OnEvent (or let
// Install chain it).
func (m *Metrics) OnEvent(e apitoken.Event) {
	ctx := context.Background()
	switch e.Type {
	case event.Created, event.Rotated:
		m.issued.Add(ctx, 1, metric.WithAttributes(AttrTokenKind.String(apitoken.KindAPI.String())))
	case event.Login:
		m.issued.Add(ctx, 1, metric.WithAttributes(AttrTokenKind.String(apitoken.KindSession.String())))
	case event.Revoked:
		m.revoked.Add(ctx, 1)
	case event.Expiring:
		m.expiring.Add(ctx, 1)
	case event.LoginFailed:
		m.loginFailures.Add(ctx, 1, metric.WithAttributes(AttrErrorType.String(ErrorType(e.Err))))
		m.storeError(ctx, "login", e.Err)
	case event.VerifyFailed:
		m.storeError(ctx, "verify", e.Err)
	case event.FlushFailed:
		m.storeErrors.Add(ctx, 1, metric.WithAttributes(AttrOperation.String("usage_flush")))
	case event.PurgeFailed:
		m.storeErrors.Add(ctx, 1, metric.WithAttributes(AttrOperation.String("history_purge")))
	case event.LeakReported:
		switch {
		case e.Err == nil:
			m.leakReports.Add(ctx, 1, metric.WithAttributes(AttrLeakLabel.String(secretscanning.LabelTruePositive)))
		case errors.Is(e.Err, apitoken.ErrMalformed), errors.Is(e.Err, apitoken.ErrUnknown), errors.Is(e.Err, apitoken.ErrRevoked):
			m.leakReports.Add(ctx, 1, metric.WithAttributes(AttrLeakLabel.String(secretscanning.LabelFalsePositive)))
		default:
			m.storeError(ctx, "leak_report", e.Err)
		}
	}
}

// storeError counts err under operation op if it came from the store.
func (m *Metrics) storeError(ctx context.Context, op string, err error) {
	var se *apitoken.StoreError
	if errors.As(err, &se) {
		m.storeErrors.Add(ctx, 1, metric.WithAttributes(AttrOperation.String(op)))
	}
}
