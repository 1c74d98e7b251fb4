package storetest

import (
	"context"
	"encoding/base32"
	"testing"
	"time"

	"github.com/apitoken/apitoken"
	"github.com/apitoken/apitoken/login"
)

// EnableMFA enrols a TOTP secret for the user of the unlocked session and
// confirms it with the code of now, as a user with an authenticator app
// would, and returns the raw secret (for login.TOTPCode). The code of
// now's time step is spent: the next accepted code is a later step's.
func EnableMFA(tb testing.TB, l *login.Service, session apitoken.Principal, now time.Time) []byte {
	tb.Helper()
	ctx := context.Background()
	enr, err := l.EnrollMFA(ctx, session, "")
	if err != nil {
		tb.Fatalf("enrolling MFA: %v", err)
	}
	secret := decodeSecret(tb, enr.Secret)
	if err := l.ConfirmMFA(ctx, session, login.TOTPCode(secret, now)); err != nil {
		tb.Fatalf("confirming MFA: %v", err)
	}
	return secret
}

// decodeSecret decodes an enrolment's base32 secret.
func decodeSecret(tb testing.TB, s string) []byte {
	tb.Helper()
	secret, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(s)
	if err != nil {
		tb.Fatalf("enrolment secret %q: %v", s, err)
	}
	return secret
}
