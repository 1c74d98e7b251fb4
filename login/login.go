// Package login is password login for the library's own user records,
// built only on package apitoken's exported API: argon2id password
// hashing under a bounded queue, throttling of failed logins per name and
// client address and per name, TOTP second factors sealed at rest, the
// MFA failure budget, password changes and resets, and creating users
// with a password. Its sessions are the Manager's (Manager.StartSession
// once a password checks, Manager.UnlockSession once a code does); its
// errors carry their own HTTP answers, so apitoken.HTTPErrorOf and the
// Guard map them.
//
// A host whose users sign in its own way (single sign-on) does not need
// this package: see Manager.StartSession and Manager.IssueFor.
package login

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"sync"
	"time"

	"github.com/apitoken/apitoken"
	"github.com/apitoken/apitoken/event"
	"golang.org/x/crypto/argon2"
)

// Service is password login and MFA over a Manager and the Store's user
// records. It is safe for concurrent use.
type Service struct {
	m      *apitoken.Manager
	users  apitoken.UserStore
	opts   Options
	guard  *loginGuard
	sealer *sealer
}

// New returns the login service of m over users, which must be the
// UserStore of m's Store (the Store itself): logins read users by name
// from it, and every change to a user goes through m (Manager.AddUser,
// Manager.EditUser) so the Manager's cache and events follow. m must read
// its users from that Store too (apitoken.Options.Users unset): sessions
// start through Manager.StartSession, which reads m's directory. MFA secrets
// are sealed under m.DeriveKeyring's current key (see Options.HashKey and
// Options.HashKeys of package apitoken).
// A nil opts means defaults; invalid options are
// apitoken.ErrInvalidArgument.
func New(m *apitoken.Manager, users apitoken.UserStore, opts *Options) (*Service, error) {
	if m == nil || users == nil {
		return nil, fmt.Errorf("%w: login needs a Manager and its Store", apitoken.ErrInvalidArgument)
	}
	var o Options
	if opts != nil {
		o = *opts
	}
	if err := o.setDefaults(); err != nil {
		return nil, err
	}
	return &Service{m: m, users: users, opts: o, guard: newLoginGuard(o), sealer: newSealer(m.DeriveKeyring(sealLabel))}, nil
}

func setDefault[T comparable](p *T, def T) {
	var zero T
	if *p == zero {
		*p = def
	}
}

// storeErr wraps an error of a Store read as apitoken.StoreError, as the
// Manager does, so HTTP layers answer 500 without its text; the library's
// sentinels and context errors pass as they are.
func storeErr(err error) error {
	var se *apitoken.StoreError
	switch {
	case err == nil, errors.Is(err, apitoken.ErrNotFound), errors.Is(err, context.Canceled),
		errors.Is(err, context.DeadlineExceeded), errors.As(err, &se):
		return err
	}
	return &apitoken.StoreError{Err: err}
}

// Options configures password login, its throttling and MFA. The zero
// value means defaults; each field states its own. Session lifetimes are
// the Manager's (apitoken.Options.SessionIdleTimeout and
// SessionAbsoluteTimeout).
type Options struct {
	// Argon2 sets the password hashing cost. Default: OWASP's minimum.
	Argon2 Argon2Params
	// MaxPasswordLength bounds passwords in bytes; longer ones are an
	// error, never silently truncated. Default 1024.
	MaxPasswordLength int
	// MinPasswordLength is the least length of a new password. Default 8.
	MinPasswordLength int
	// MaxConcurrentHashes bounds argon2id runs at once (each run holds
	// Argon2.MemoryKiB). Default 4.
	MaxConcurrentHashes int
	// MaxQueuedHashes bounds logins waiting for a hashing slot; a login
	// that finds the queue full fails at once with ErrBusy, without
	// checking the password. Default 2 × MaxConcurrentHashes; negative
	// means no queue at all.
	MaxQueuedHashes int
	// MaxHashWait bounds how long a queued login waits for a hashing slot
	// before it gives up with ErrBusy. The queue bound alone keeps waits
	// near (MaxQueuedHashes/MaxConcurrentHashes + 1) hash times; this is
	// the backstop for when hashes slow down (a starved CPU). Default 1 s.
	MaxHashWait time.Duration
	// MaxFailures is how many consecutive failed logins for one name from
	// one client address (IPv4 address, or IPv6 /64) start a back-off for
	// that pair alone: failures from one address never block the right
	// password from another. Default 10.
	MaxFailures int
	// Backoff is how long attempts are refused, without checking the
	// password, once MaxFailures is reached. Default 5 min.
	Backoff time.Duration
	// MaxLoginFailuresPerName caps failed logins for one name from all
	// addresses together in one LoginFailureWindow; past it every attempt
	// for that name is refused with ErrThrottled, from any address and
	// with the right password too, until the window ends. The count is
	// kept on the user record, so instances sharing a store share it and
	// it survives restarts. Default 200, above the 120 an hour that one
	// address can reach alone at the default MaxFailures and Backoff, so
	// that one address cannot lock an owner out (see SECURITY.md).
	MaxLoginFailuresPerName int
	// LoginFailureWindow is the period of MaxLoginFailuresPerName: it
	// starts at the first failure after the previous window ended.
	// Default 1 h.
	LoginFailureWindow time.Duration
	// Issuer names the service in MFA enrolment URLs. Default "apitoken".
	Issuer string

	// MaxMFAFailures is how many wrong MFA codes in a row block MFA for a
	// user (ErrMFABlocked) until an admin clears the count or resets the
	// password. Default 100, the most NIST SP 800-63B allows.
	MaxMFAFailures int
	// MFAWindow and MaxMFAFailuresPerWindow bound MFA guessing in time:
	// after MaxMFAFailuresPerWindow wrong codes, codes are refused
	// (ErrThrottled) until MFAWindow has passed since the window's first
	// failure. From the third wrong code on, each further code also waits
	// until 1, 2, 4, … minutes after that first failure. The counts live
	// on the user record, so instances and restarts share them. Defaults
	// 24 h and 10.
	MFAWindow               time.Duration
	MaxMFAFailuresPerWindow int

	// Rand is the entropy source for salts and TOTP secrets. Default
	// crypto/rand.Reader. Replace it only in tests.
	Rand io.Reader
}

func (o *Options) setDefaults() error {
	setDefault(&o.MaxPasswordLength, 1024)
	setDefault(&o.MinPasswordLength, 8)
	setDefault(&o.MaxConcurrentHashes, 4)
	setDefault(&o.MaxQueuedHashes, 2*o.MaxConcurrentHashes)
	setDefault(&o.MaxHashWait, time.Second)
	setDefault(&o.MaxFailures, 10)
	setDefault(&o.Backoff, 5*time.Minute)
	setDefault(&o.MaxLoginFailuresPerName, 200)
	setDefault(&o.LoginFailureWindow, time.Hour)
	setDefault(&o.Issuer, "apitoken")
	setDefault(&o.MaxMFAFailures, 100)
	setDefault(&o.MFAWindow, 24*time.Hour)
	setDefault(&o.MaxMFAFailuresPerWindow, 10)
	if o.Rand == nil {
		o.Rand = rand.Reader
	}
	if o.MinPasswordLength > o.MaxPasswordLength {
		return fmt.Errorf("%w: MinPasswordLength above MaxPasswordLength", apitoken.ErrInvalidArgument)
	}
	return o.Argon2.setDefaults()
}

// loginGuard throttles repeated failures per key (a login name with a
// client address, or an MFA user), keeps this instance's per-name failure
// windows, and bounds password hashing.
type loginGuard struct {
	opts  Options
	slots *hashSlots
	mu    sync.Mutex
	fails map[string]*failures
	// names holds this instance's per-name failure windows, for every
	// name tried: the only ceiling for names with no user record, and a
	// local floor for the persisted one (kept if a store write fails).
	names map[string]*nameWindow
	dummy struct {
		once sync.Once
		hash string
		err  error
	}
	// hashes counts argon2id runs, for tests of throttling.
	hashes int64
}

// failures counts consecutive failures; a gap longer than the back-off
// starts the count again.
type failures struct {
	count int
	last  time.Time
	until time.Time
}

// nameWindow counts failed logins for one name in one window, as
// User.apitoken.User's LoginWindowStart and LoginWindowFailures do on the record.
type nameWindow struct {
	start    time.Time
	failures int
}

// maxTrackedNames bounds the failure map; past it, entries whose back-off
// is over are dropped first.
const maxTrackedNames = 100_000

func newLoginGuard(o Options) *loginGuard {
	return &loginGuard{
		opts:  o,
		slots: newHashSlots(o.MaxConcurrentHashes, o.MaxQueuedHashes, o.MaxHashWait),
		fails: make(map[string]*failures),
		names: make(map[string]*nameWindow),
	}
}

// windowCapped reports whether a failure window that started at start and
// holds failures has reached the per-name ceiling at now.
func (o *Options) windowCapped(start time.Time, failures int, now time.Time) bool {
	return failures >= o.MaxLoginFailuresPerName && inWindow(start, now, o.LoginFailureWindow)
}

// countFailure counts one failure into a window of the given length that
// starts at the first failure after the previous window ended. A start in
// the future (another instance's clock runs ahead) keeps its window rather
// than restarting it.
func countFailure(start *time.Time, failures *int, now time.Time, length time.Duration) {
	if !inWindow(*start, now, length) {
		*start, *failures = now, 0
	}
	*failures++
}

// inWindow reports whether a window that started at start is still open
// at now.
func inWindow(start, now time.Time, length time.Duration) bool {
	return !start.IsZero() && now.Sub(start) < length
}

// nameCapped reports whether this instance has seen the per-name ceiling
// of failures for name in the current window.
func (g *loginGuard) nameCapped(name string, now time.Time) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	w := g.names[name]
	return w != nil && g.opts.windowCapped(w.start, w.failures, now)
}

// nameFail counts a failed login for name in this instance's window.
func (g *loginGuard) nameFail(name string, now time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	w := g.names[name]
	if w == nil {
		if len(g.names) >= maxTrackedNames {
			for k, v := range g.names {
				if now.Sub(v.start) >= g.opts.LoginFailureWindow {
					delete(g.names, k)
				}
			}
			if len(g.names) >= maxTrackedNames {
				clear(g.names) // known names keep their persisted count
			}
		}
		w = &nameWindow{}
		g.names[name] = w
	}
	countFailure(&w.start, &w.failures, now, g.opts.LoginFailureWindow)
}

func (g *loginGuard) throttled(key string, now time.Time) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	f := g.fails[key]
	return f != nil && now.Before(f.until)
}

func (g *loginGuard) fail(key string, now time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	f := g.fails[key]
	if f == nil {
		if len(g.fails) >= maxTrackedNames {
			for k, v := range g.fails {
				if !now.Before(v.until) {
					delete(g.fails, k)
				}
			}
			if len(g.fails) >= maxTrackedNames {
				clear(g.fails)
			}
		}
		f = &failures{}
		g.fails[key] = f
	}
	if now.Sub(f.last) > g.opts.Backoff {
		f.count = 0
	}
	f.last = now
	f.count++
	if f.count >= g.opts.MaxFailures {
		f.until = now.Add(g.opts.Backoff)
		f.count = 0
	}
}

func (g *loginGuard) succeed(key string) {
	g.mu.Lock()
	delete(g.fails, key)
	g.mu.Unlock()
}

// Login checks name and password and starts a session (behaviour rule 22). An
// unknown name, a wrong password and a disabled user all give
// ErrBadCredentials after the same argon2id work.
//
// client is the address the attempt came from (see ClientAddr); an invalid
// (zero) Addr means unknown, and all unknown attempts share one bucket.
// Failures are throttled at two levels, both checked before any hashing:
//
//   - per name and client address (an IPv4 address, or the /64 of an IPv6
//     one), in memory: after MaxFailures failures in a row the pair gets
//     ErrThrottled until Backoff ends, while other addresses may still log
//     in with the right password;
//   - per name from all addresses: after MaxLoginFailuresPerName failures
//     in one LoginFailureWindow every attempt for the name gets
//     ErrThrottled, the owner's too, until the window ends. The count is
//     kept on the user record (shared by instances, surviving restarts);
//     names with no user get the same treatment from memory, so the two
//     answer alike within one instance.
//
// A successful login clears its pair's count but not the name's window.
// When the hashing queue is full, or no slot frees within MaxHashWait, the
// attempt gets ErrBusy without checking the password. A user enrolled in
// MFA gets a locked session.
func (s *Service) Login(ctx context.Context, name, password string, client netip.Addr) (apitoken.Issued, error) {
	l, err := s.login(ctx, name, password, client)
	if err != nil {
		s.m.Emit(apitoken.Event{Type: event.LoginFailed, Err: err})
		return apitoken.Issued{}, err
	}
	return l, nil // Manager.StartSession reported the login (event.Login)
}

func (s *Service) login(ctx context.Context, name, password string, client netip.Addr) (apitoken.Issued, error) {
	so := &s.opts
	if len(password) > so.MaxPasswordLength {
		// Explicit, never truncated; it says nothing about the account.
		return apitoken.Issued{}, fmt.Errorf("%w: password longer than %d bytes", apitoken.ErrInvalidArgument, so.MaxPasswordLength)
	}
	if len(name) > 256 {
		return apitoken.Issued{}, ErrBadCredentials // no user can have this name
	}
	now := s.m.Now()
	pair := loginPair(client, name)
	if s.loginThrottled(pair, name, nil, now) {
		return apitoken.Issued{}, ErrThrottled
	}
	u, err := s.users.UserByName(ctx, name)
	if err != nil && !errors.Is(err, apitoken.ErrNotFound) {
		return apitoken.Issued{}, storeErr(err)
	}
	stored := ""
	if u != nil {
		if s.loginThrottled(pair, name, u, now) {
			return apitoken.Issued{}, ErrThrottled
		}
		stored = u.PasswordHash
	}
	ok, err := s.checkPasswordBounded(ctx, stored, password)
	if err != nil {
		return apitoken.Issued{}, err
	}
	if !ok || u == nil || u.Disabled {
		s.loginFailed(ctx, pair, name, u)
		return apitoken.Issued{}, ErrBadCredentials
	}
	s.guard.succeed(pair)
	l, err := s.m.StartSession(ctx, u.ID)
	if errors.Is(err, apitoken.ErrUserDisabled) {
		return apitoken.Issued{}, ErrBadCredentials // disabled or deleted meanwhile
	}
	return l, err
}

// loginPair is the throttling key of one name from one client address.
func loginPair(client netip.Addr, name string) string {
	return "login:" + clientKey(client) + "\x00" + name
}

// loginThrottled reports whether a password check for name from pair must
// be refused without hashing: the pair is in its back-off, or the name has
// reached its ceiling (in memory, and on u's record when u is known).
func (s *Service) loginThrottled(pair, name string, u *apitoken.User, now time.Time) bool {
	if s.guard.throttled(pair, now) || s.guard.nameCapped(name, now) {
		return true
	}
	return u != nil && s.opts.windowCapped(u.LoginWindowStart, u.LoginWindowFailures, now)
}

// loginFailed counts a failed login for its pair, for this instance's
// window of the name, and on the user record when there is one. The record
// is written even if the caller has gone (an attacker must not dodge the
// count by hanging up); if the write fails the local window still counts,
// and the answer is ErrBadCredentials all the same, so that a store error
// on a known name does not tell it from an unknown one.
func (s *Service) loginFailed(ctx context.Context, pair, name string, u *apitoken.User) {
	now := s.m.Now()
	s.guard.fail(pair, now)
	s.guard.nameFail(name, now)
	if u == nil {
		return
	}
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	so := &s.opts
	s.m.EditUser(wctx, u.ID, func(u *apitoken.User) error {
		countFailure(&u.LoginWindowStart, &u.LoginWindowFailures, now, so.LoginFailureWindow)
		return nil
	})
}

// checkPasswordBounded runs argon2id under the bounded login queue (ErrBusy
// when it is full). An empty stored hash (unknown user, or one without a
// password) is checked against a dummy hash of the same cost, through the
// same queue, so that neither the time taken nor a busy answer tells the
// cases apart.
func (s *Service) checkPasswordBounded(ctx context.Context, stored, password string) (bool, error) {
	g := s.guard
	if stored == "" {
		g.dummy.once.Do(func() {
			g.dummy.hash, g.dummy.err = dummyHash(s.opts.Argon2, s.opts.Rand)
		})
		if g.dummy.err != nil {
			return false, g.dummy.err
		}
	}
	if err := g.slots.acquireLogin(ctx); err != nil {
		return false, err
	}
	defer g.slots.releaseLogin()
	g.mu.Lock()
	g.hashes++
	g.mu.Unlock()
	if stored == "" {
		_, err := checkPassword(g.dummy.hash, password)
		return false, err
	}
	ok, err := checkPassword(stored, password)
	if err != nil {
		// A corrupt stored hash fails closed, looking like a wrong password.
		return false, nil
	}
	return ok, nil
}

// dummyHash returns a PHC string at cost p with a random salt and a random
// key: checking a password against it costs one argon2id run, like a real
// hash, and matches nothing. Building it costs no hash, so the first
// unknown-name login is no slower than the rest.
func dummyHash(p Argon2Params, rand io.Reader) (string, error) {
	b := make([]byte, argonSaltLen+argonKeyLen)
	if _, err := io.ReadFull(rand, b); err != nil {
		return "", fmt.Errorf("apitoken: reading randomness: %w", err)
	}
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.MemoryKiB, p.Time, p.Threads,
		b64.EncodeToString(b[:argonSaltLen]), b64.EncodeToString(b[argonSaltLen:])), nil
}

// clientKey is the throttling bucket of a client address: an IPv4 address
// as it is, an IPv6 address by its /64 (one subscriber, or one attacker,
// usually holds a whole /64), and every invalid address in one shared
// "unknown" bucket.
func clientKey(a netip.Addr) string {
	if !a.IsValid() {
		return "unknown"
	}
	a = a.Unmap().WithZone("") // as ClientAddr returns addresses
	if a.Is4() {
		return a.String()
	}
	p, _ := a.Prefix(64)
	return p.String()
}
