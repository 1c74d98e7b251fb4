package apitoken

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/crypto/argon2"
)

// SessionOptions configures password login and sessions. The zero value
// means defaults; each field states its own.
type SessionOptions struct {
	// IdleTimeout ends a session unused this long. Default 30 min.
	IdleTimeout time.Duration
	// AbsoluteTimeout ends a session this long after login, however busy.
	// Default 12 h.
	AbsoluteTimeout time.Duration
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
	// one client address (IPv4 address, or IPv6 /64), or failed MFA codes
	// for one user, start a back-off for that pair alone: failures from
	// one address never block the right password from another. Default
	// 10.
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
}

func (o *SessionOptions) setDefaults() error {
	setDefault(&o.IdleTimeout, DefaultIdleTimeout)
	setDefault(&o.AbsoluteTimeout, DefaultAbsoluteTimeout)
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
	if o.MinPasswordLength > o.MaxPasswordLength {
		return fmt.Errorf("%w: MinPasswordLength above MaxPasswordLength", ErrInvalidArgument)
	}
	return o.Argon2.setDefaults()
}

// loginGuard throttles repeated failures per key (a login name with a
// client address, or an MFA user), keeps this instance's per-name failure
// windows, and bounds password hashing.
type loginGuard struct {
	opts  SessionOptions
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
// User.LoginWindowStart and LoginWindowFailures do on the record.
type nameWindow struct {
	start    time.Time
	failures int
}

// maxTrackedNames bounds the failure map; past it, entries whose back-off
// is over are dropped first.
const maxTrackedNames = 100_000

func newLoginGuard(o SessionOptions) *loginGuard {
	return &loginGuard{
		opts:  o,
		slots: newHashSlots(o.MaxConcurrentHashes, o.MaxQueuedHashes, o.MaxHashWait),
		fails: make(map[string]*failures),
		names: make(map[string]*nameWindow),
	}
}

// windowCapped reports whether a failure window that started at start and
// holds failures has reached the per-name ceiling at now.
func (o *SessionOptions) windowCapped(start time.Time, failures int, now time.Time) bool {
	return failures >= o.MaxLoginFailuresPerName && !start.IsZero() && now.Sub(start) < o.LoginFailureWindow
}

// windowFail counts one failure into a window, starting a new window when
// the old one is over. A start in the future (another instance's clock
// runs ahead) keeps its window rather than restarting it.
func (o *SessionOptions) windowFail(start *time.Time, failures *int, now time.Time) {
	if start.IsZero() || now.Sub(*start) >= o.LoginFailureWindow {
		*start, *failures = now, 0
	}
	*failures++
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
	g.opts.windowFail(&w.start, &w.failures, now)
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

// Login is a successful password login.
type Login struct {
	// Secret is the session token, shown once.
	Secret string
	// Session is the stored session record.
	Session *Token
	// User is the user who logged in.
	User *User
}

// Unlocked reports whether the session may act (false while MFA is due).
func (l Login) Unlocked() bool { return l.Session.Unlocked }

// Login checks name and password and starts a session (SPEC 21-22). An
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
func (m *Manager) Login(ctx context.Context, name, password string, client netip.Addr) (Login, error) {
	l, err := m.login(ctx, name, password, client)
	if err != nil {
		m.emit(Event{Type: EventLoginFailed, Err: err})
		return Login{}, err
	}
	m.emit(Event{Type: EventLogin, TokenID: l.Session.ID, Account: l.User.Account, UserID: l.User.ID})
	return l, nil
}

func (m *Manager) login(ctx context.Context, name, password string, client netip.Addr) (Login, error) {
	so := &m.opts.Sessions
	if len(password) > so.MaxPasswordLength {
		// Explicit, never truncated; it says nothing about the account.
		return Login{}, fmt.Errorf("%w: password longer than %d bytes", ErrInvalidArgument, so.MaxPasswordLength)
	}
	if len(name) > 256 {
		return Login{}, ErrBadCredentials // no user can have this name
	}
	now := m.now()
	pair := "login:" + clientKey(client) + "\x00" + name
	if m.logins.throttled(pair, now) || m.logins.nameCapped(name, now) {
		return Login{}, ErrThrottled
	}
	u, err := m.store.UserByName(ctx, name)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return Login{}, storeErr(err)
	}
	stored := ""
	if u != nil {
		if so.windowCapped(u.LoginWindowStart, u.LoginWindowFailures, now) {
			return Login{}, ErrThrottled
		}
		stored = u.PasswordHash
	}
	ok, err := m.checkPasswordBounded(ctx, stored, password)
	if err != nil {
		return Login{}, err
	}
	if !ok || u == nil || u.Disabled {
		m.loginFailed(ctx, pair, name, u)
		return Login{}, ErrBadCredentials
	}
	m.logins.succeed(pair)
	return m.startSession(ctx, u)
}

// loginFailed counts a failed login for its pair, for this instance's
// window of the name, and on the user record when there is one. The record
// is written even if the caller has gone (an attacker must not dodge the
// count by hanging up); if the write fails the local window still counts,
// and the answer is ErrBadCredentials all the same, so that a store error
// on a known name does not tell it from an unknown one.
func (m *Manager) loginFailed(ctx context.Context, pair, name string, u *User) {
	now := m.now()
	m.logins.fail(pair, now)
	m.logins.nameFail(name, now)
	if u == nil {
		return
	}
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	so := &m.opts.Sessions
	m.updateUser(wctx, u.ID, func(u *User) error {
		so.windowFail(&u.LoginWindowStart, &u.LoginWindowFailures, now)
		return nil
	})
}

// StartSession starts a session for user id with no password check. It is
// for hosts that authenticate users themselves (single sign-on) and for
// tests; a disabled or missing user is ErrUserDisabled. The session is
// locked if the user is enrolled in MFA.
func (m *Manager) StartSession(ctx context.Context, userID string) (Login, error) {
	u, err := m.store.UserByID(ctx, userID)
	if errors.Is(err, ErrNotFound) || (err == nil && u.Disabled) {
		return Login{}, ErrUserDisabled
	}
	if err != nil {
		return Login{}, storeErr(err)
	}
	return m.startSession(ctx, u)
}

func (m *Manager) startSession(ctx context.Context, u *User) (Login, error) {
	now := m.now()
	s := &Token{
		Kind: KindSession, Owner: OwnerUser, Account: u.Account, UserID: u.ID, CreatedBy: u.ID,
		Type: "session", Privilege: u.Role, DefaultAppState: Allow,
		Created: now, Expires: now.Add(m.opts.Sessions.AbsoluteTimeout), Unlocked: len(u.MFASecret) == 0,
	}
	iss, err := m.create(ctx, s)
	if err != nil {
		return Login{}, err
	}
	return Login{Secret: iss.Secret, Session: iss.Token, User: u}, nil
}

// checkPasswordBounded runs argon2id under the bounded login queue (ErrBusy
// when it is full). An empty stored hash (unknown user, or one without a
// password) is checked against a dummy hash of the same cost, through the
// same queue, so that neither the time taken nor a busy answer tells the
// cases apart.
func (m *Manager) checkPasswordBounded(ctx context.Context, stored, password string) (bool, error) {
	g := m.logins
	if stored == "" {
		g.dummy.once.Do(func() {
			g.dummy.hash, g.dummy.err = dummyHash(m.opts.Sessions.Argon2, m.opts.Rand)
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

// Unlock completes MFA for a locked session with a TOTP code (SPEC 22).
// Each code is accepted once per user; codes from one step either side of
// now are accepted. Wrong codes count towards the same back-off as logins.
func (m *Manager) Unlock(ctx context.Context, session Principal, code string) error {
	now := m.now()
	t, err := m.store.TokenByID(ctx, session.TokenID)
	if errors.Is(err, ErrNotFound) {
		return ErrUnknown
	}
	if err != nil {
		return storeErr(err)
	}
	if t.Kind != KindSession {
		return fmt.Errorf("%w: only sessions unlock", ErrInvalidArgument)
	}
	if err := m.checkLive(new(newView(t, nil, "")), now); err != nil {
		return err
	}
	if t.Unlocked {
		return nil
	}
	key := "mfa:" + t.UserID
	if m.logins.throttled(key, now) {
		return ErrThrottled
	}
	_, err = m.updateUser(ctx, t.UserID, func(u *User) error {
		if u.Disabled || len(u.MFASecret) == 0 {
			return ErrBadMFACode
		}
		secret, err := m.sealer.open(u.MFASecret, u.ID)
		if err != nil {
			return err
		}
		step := matchTOTP(secret, code, now)
		if step < 0 || step <= u.MFALastStep {
			return ErrBadMFACode
		}
		u.MFALastStep = step
		return nil
	})
	if errors.Is(err, ErrBadMFACode) || errors.Is(err, ErrNotFound) {
		m.logins.fail(key, now)
		return ErrBadMFACode
	}
	if err != nil {
		return err
	}
	m.logins.succeed(key)
	// The code is spent; finish the unlock even if ctx is cancelled now,
	// or the user would lose the code and stay locked.
	finishCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if _, err := m.updateToken(finishCtx, t.ID, func(t *Token) error {
		if !t.Revoked.IsZero() {
			return ErrRevoked
		}
		t.Unlocked = true
		return nil
	}); err != nil {
		return err
	}
	m.emit(Event{Type: EventUnlocked, TokenID: t.ID, Account: t.Account, UserID: t.UserID})
	return nil
}

// Logout ends the caller's session only (SPEC 23): API tokens stay. Locked
// sessions may log out. Logging out twice is not an error.
func (m *Manager) Logout(ctx context.Context, session Principal) error {
	t, err := m.store.TokenByID(ctx, session.TokenID)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return storeErr(err)
	}
	if t.Kind != KindSession {
		return fmt.Errorf("%w: only sessions log out; revoke API tokens", ErrInvalidArgument)
	}
	err = m.store.DeleteToken(ctx, t.ID)
	m.cache.invalidateToken(t.Hash)
	m.usage.forget(t.ID)
	if err != nil {
		return storeErr(err)
	}
	m.emit(Event{Type: EventLogout, TokenID: t.ID, Account: t.Account, UserID: t.UserID})
	return nil
}

// MFAEnrolment is a new TOTP secret for the caller's authenticator app.
type MFAEnrolment struct {
	// Secret is the base32 TOTP secret (shown once).
	Secret string
	// URL is the otpauth:// provisioning URI (for a QR code).
	URL string
}

// EnrollMFA gives the caller's user a new TOTP secret (replacing any old
// one). From the next login on, their sessions start locked. It needs an
// unlocked session or a user token of the user.
func (m *Manager) EnrollMFA(ctx context.Context, caller Principal) (MFAEnrolment, error) {
	a, err := m.authorize(ctx, caller)
	if err != nil {
		return MFAEnrolment{}, err
	}
	if a.userID == "" {
		return MFAEnrolment{}, fmt.Errorf("%w: account tokens have no user to enrol", ErrInvalidArgument)
	}
	secret := make([]byte, totpSecret)
	if _, err := io.ReadFull(m.opts.Rand, secret); err != nil {
		return MFAEnrolment{}, fmt.Errorf("apitoken: reading randomness: %w", err)
	}
	sealed, err := m.sealer.seal(secret, a.userID, m.opts.Rand)
	if err != nil {
		return MFAEnrolment{}, err
	}
	u, err := m.updateUser(ctx, a.userID, func(u *User) error {
		u.MFASecret, u.MFALastStep = sealed, 0
		return nil
	})
	if err != nil {
		return MFAEnrolment{}, err
	}
	m.emit(Event{Type: EventUserChanged, Account: u.Account, UserID: u.ID, ActorID: a.tokenID})
	url := otpauthURL(m.opts.Sessions.Issuer, u.Name, secret)
	return MFAEnrolment{Secret: base32Secret(secret), URL: url}, nil
}
