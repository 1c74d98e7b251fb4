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
	setDefault(&o.MaxMFAFailures, 100)
	setDefault(&o.MFAWindow, 24*time.Hour)
	setDefault(&o.MaxMFAFailuresPerWindow, 10)
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
	pair := loginPair(client, name)
	if m.loginThrottled(pair, name, nil, now) {
		return Login{}, ErrThrottled
	}
	u, err := m.store.UserByName(ctx, name)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return Login{}, storeErr(err)
	}
	stored := ""
	if u != nil {
		if m.loginThrottled(pair, name, u, now) {
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
// loginPair is the throttling key of one name from one client address.
func loginPair(client netip.Addr, name string) string {
	return "login:" + clientKey(client) + "\x00" + name
}

// loginThrottled reports whether a password check for name from pair must
// be refused without hashing: the pair is in its back-off, or the name has
// reached its ceiling (in memory, and on u's record when u is known).
func (m *Manager) loginThrottled(pair, name string, u *User, now time.Time) bool {
	if m.logins.throttled(pair, now) || m.logins.nameCapped(name, now) {
		return true
	}
	return u != nil && m.opts.Sessions.windowCapped(u.LoginWindowStart, u.LoginWindowFailures, now)
}

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
		countFailure(&u.LoginWindowStart, &u.LoginWindowFailures, now, so.LoginFailureWindow)
		return nil
	})
}

// StartSession starts a session for user id with no password check. It is
// for hosts that authenticate users themselves (single sign-on) and for
// tests; a disabled or missing user is ErrUserDisabled. The session is
// locked if the user is enrolled in MFA.
func (m *Manager) StartSession(ctx context.Context, userID string) (Login, error) {
	u, err := m.users.UserByID(ctx, userID)
	if errors.Is(err, ErrNotFound) || (err == nil && u.Disabled) {
		return Login{}, ErrUserDisabled
	}
	if err != nil {
		return Login{}, storeErr(err)
	}
	return m.startSession(ctx, u)
}

func (m *Manager) startSession(ctx context.Context, u *User) (Login, error) {
	if err := m.makeRoomForSession(ctx, u); err != nil {
		return Login{}, err
	}
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

// Unlock completes MFA for a locked session with a TOTP code. Each code is
// accepted once per user; codes from one step either side of now are
// accepted. Wrong codes count against the user's MFA budget, which every
// instance shares (see SessionOptions.MaxMFAFailures and MFAWindow):
// ErrBadMFACode, then ErrThrottled, and ErrMFABlocked at the cap.
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
	if _, err := m.spendMFACode(ctx, t.UserID, code, nil); err != nil {
		if errors.Is(err, ErrNotFound) {
			return ErrBadMFACode
		}
		return err
	}
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

// spendMFACode checks code against user id's active TOTP secret within
// the user's MFA budget, in one compare-and-update of the user record: a
// right code is spent (never accepted again), clears the run of failures
// and applies change (if any) to the same record; a wrong one is counted
// and gives ErrBadMFACode. Over the budget no code is checked at all.
func (m *Manager) spendMFACode(ctx context.Context, id, code string, change func(*User)) (*User, error) {
	so := &m.opts.Sessions
	var wrong bool
	u, err := m.updateUser(ctx, id, func(u *User) error {
		wrong = false
		now := m.now()
		if u.Disabled || len(u.MFASecret) == 0 {
			return ErrBadMFACode
		}
		if u.MFAFailures >= so.MaxMFAFailures {
			return ErrMFABlocked
		}
		if inWindow(u.MFAWindowStart, now, so.MFAWindow) && now.Before(u.MFAWindowStart.Add(mfaDelay(u.MFAWindowFailures, so))) {
			return ErrThrottled
		}
		secret, err := m.sealer.open(u.MFASecret, u.ID)
		if err != nil {
			return err
		}
		step := matchTOTP(secret, code, now)
		if step < 0 || step <= u.MFALastStep {
			countFailure(&u.MFAWindowStart, &u.MFAWindowFailures, now, so.MFAWindow)
			u.MFAFailures++
			wrong = true
			return nil
		}
		u.MFALastStep, u.MFAFailures = step, 0
		if change != nil {
			change(u)
		}
		return nil
	})
	if err == nil && wrong {
		err = ErrBadMFACode
		if u.MFAFailures >= so.MaxMFAFailures {
			err = fmt.Errorf("%w (%w)", ErrBadMFACode, ErrMFABlocked)
		}
		m.emit(Event{Type: EventMFAFailed, Account: u.Account, UserID: u.ID, Err: err})
	}
	return u, err
}

// mfaDelay is how long after its window's first failure a code may be
// tried once the window holds failures wrong codes: at once for the first
// three, then 1, 2, 4, … minutes, and not before the window ends once it
// holds MaxMFAFailuresPerWindow.
func mfaDelay(failures int, so *SessionOptions) time.Duration {
	switch {
	case failures >= so.MaxMFAFailuresPerWindow:
		return so.MFAWindow
	case failures < 3:
		return 0
	}
	return min(time.Minute<<min(failures-3, 20), so.MFAWindow)
}

// Logout ends the caller's session only (behaviour rule 23): API tokens stay. Locked
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
	if err := m.endSession(ctx, t); err != nil {
		return err
	}
	m.emit(Event{Type: EventLogout, TokenID: t.ID, Account: t.Account, UserID: t.UserID})
	return nil
}

// endSession deletes session t, effective for every later verification in
// this process before it returns.
func (m *Manager) endSession(ctx context.Context, t *Token) error {
	err := m.store.DeleteToken(ctx, t.ID)
	m.cache.invalidateToken(t.Hash)
	m.usage.forget(t.ID)
	return storeErr(err)
}

// MFAEnrolment is a new TOTP secret for the caller's authenticator app.
type MFAEnrolment struct {
	// Secret is the base32 TOTP secret (shown once).
	Secret string
	// URL is the otpauth:// provisioning URI (for a QR code).
	URL string
}

// EnrollMFA starts enrolling a new TOTP secret for the caller's own user
// and returns it. The secret is pending: it changes nothing for logins
// until ConfirmMFA accepts a code from it. Only an unlocked session of the
// user may enrol (ErrSessionRequired otherwise). While a secret is already
// active, code must be a current code from it (replacing a second factor
// needs the second factor); such codes count against the MFA budget like
// Unlock's. Starting again replaces a pending secret.
func (m *Manager) EnrollMFA(ctx context.Context, caller Principal, code string) (MFAEnrolment, error) {
	a, err := m.authorize(ctx, caller)
	if err != nil {
		return MFAEnrolment{}, err
	}
	if err := a.canChangeOwnCredentials(a.userID); err != nil {
		return MFAEnrolment{}, err
	}
	secret := make([]byte, totpSecret)
	if _, err := io.ReadFull(m.opts.Rand, secret); err != nil {
		return MFAEnrolment{}, fmt.Errorf("apitoken: reading randomness: %w", err)
	}
	sealed, err := m.sealer.seal(secret, a.userID, m.opts.Rand)
	if err != nil {
		return MFAEnrolment{}, err
	}
	u, err := m.store.UserByID(ctx, a.userID)
	if err != nil {
		return MFAEnrolment{}, storeErr(err)
	}
	setPending := func(u *User) { u.MFAPending = sealed }
	if len(u.MFASecret) > 0 {
		if code == "" {
			return MFAEnrolment{}, errCodeRequired
		}
		u, err = m.spendMFACode(ctx, a.userID, code, setPending)
	} else {
		u, err = m.updateUser(ctx, a.userID, func(u *User) error {
			if len(u.MFASecret) > 0 {
				return ErrConflict // enrolled meanwhile: ask again, with a code
			}
			setPending(u)
			return nil
		})
	}
	if err != nil {
		return MFAEnrolment{}, err
	}
	m.emit(Event{Type: EventUserChanged, Account: u.Account, UserID: u.ID, ActorID: a.tokenID})
	return MFAEnrolment{Secret: base32Secret(secret), URL: otpauthURL(m.opts.Sessions.Issuer, u.Name, secret)}, nil
}

// errCodeRequired refuses a change to an active second factor asked
// without a code from it; it is not counted as a wrong code.
var errCodeRequired = fmt.Errorf("%w: MFA is active: give a current code from it", ErrInvalidArgument)

// ConfirmMFA activates the caller's pending TOTP secret (from EnrollMFA)
// once code is a current code from it: from then on the user's logins
// start locked until Unlock. It replaces any earlier secret, and every
// other session of the user ends. Only an unlocked session of the user may
// confirm. With no pending secret it fails with ErrInvalidArgument; a wrong
// code gives ErrBadMFACode and keeps the secret pending.
func (m *Manager) ConfirmMFA(ctx context.Context, caller Principal, code string) error {
	a, err := m.authorize(ctx, caller)
	if err != nil {
		return err
	}
	if err := a.canChangeOwnCredentials(a.userID); err != nil {
		return err
	}
	u, err := m.updateUser(ctx, a.userID, func(u *User) error {
		if len(u.MFAPending) == 0 {
			return fmt.Errorf("%w: no MFA secret awaits confirmation", ErrInvalidArgument)
		}
		secret, err := m.sealer.open(u.MFAPending, u.ID)
		if err != nil {
			return err
		}
		step := matchTOTP(secret, code, m.now())
		if step < 0 {
			return ErrBadMFACode
		}
		u.MFASecret, u.MFAPending, u.MFALastStep, u.MFAFailures = u.MFAPending, nil, step, 0
		return nil
	})
	if err != nil {
		return err
	}
	if err := m.endOtherSessions(ctx, u, a.tokenID); err != nil {
		return err
	}
	m.emit(Event{Type: EventMFAActivated, Account: u.Account, UserID: u.ID, ActorID: a.tokenID})
	return nil
}

// RemoveMFA removes the caller's own TOTP secret (and any pending one);
// code must be a current code from the active secret and counts against
// the MFA budget like Unlock's. Every other session of the user ends. Only
// an unlocked session of the user may remove it.
func (m *Manager) RemoveMFA(ctx context.Context, caller Principal, code string) error {
	a, err := m.authorize(ctx, caller)
	if err != nil {
		return err
	}
	if err := a.canChangeOwnCredentials(a.userID); err != nil {
		return err
	}
	if code == "" {
		return errCodeRequired
	}
	u, err := m.spendMFACode(ctx, a.userID, code, func(u *User) {
		u.MFASecret, u.MFAPending, u.MFALastStep = nil, nil, 0
	})
	if err != nil {
		return err
	}
	if err := m.endOtherSessions(ctx, u, a.tokenID); err != nil {
		return err
	}
	m.emit(Event{Type: EventMFARemoved, Account: u.Account, UserID: u.ID, ActorID: a.tokenID})
	return nil
}

// endOtherSessions ends every session of u but keep, as Logout would.
func (m *Manager) endOtherSessions(ctx context.Context, u *User, keep string) error {
	ts, err := m.store.ListTokens(ctx, TokenQuery{Account: u.Account, UserID: u.ID, Kind: KindSession})
	if err != nil {
		return storeErr(err)
	}
	for _, t := range ts {
		if t.Kind == KindSession && t.ID != keep {
			if err := m.endSession(ctx, t); err != nil {
				return err
			}
		}
	}
	return nil
}
