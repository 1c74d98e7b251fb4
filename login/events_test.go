package login_test

import (
	"testing"

	"github.com/apitoken/apitoken/login"
)

// The login events keep the numbers and names they had in the root
// package: hosts log and count them by name.
func TestLoginEventsKeepTheirNames(t *testing.T) {
	for ty, want := range map[interface{ String() string }]string{
		login.EventLogin: "session.login", login.EventLoginFailed: "session.login_failed",
		login.EventPasswordChanged: "user.password_changed", login.EventMFAActivated: "mfa.activated",
		login.EventMFARemoved: "mfa.removed", login.EventMFAFailed: "mfa.failed",
	} {
		if got := ty.String(); got != want {
			t.Errorf("%v is %q, want %q", ty, got, want)
		}
	}
}
