package event_test

import (
	"testing"

	"github.com/apitoken/apitoken/event"
)

// Hosts store and alert on event numbers and names, so both are part of
// the API: this table pins every one.
func TestEveryTypeKeepsItsNumberAndName(t *testing.T) {
	for _, tc := range []struct {
		ty   event.Type
		num  uint8
		name string
	}{
		{event.Created, 1, "token.created"},
		{event.Revoked, 2, "token.revoked"},
		{event.Promoted, 3, "token.promoted"},
		{event.Rotated, 4, "token.rotated"},
		{event.Updated, 5, "token.updated"},
		{event.PrivilegeChanged, 6, "token.privilege_changed"},
		{event.AppRecorded, 7, "app.recorded"},
		{event.AppAllowed, 8, "app.allowed"},
		{event.AppDenied, 9, "app.denied"},
		{event.VerifyFailed, 10, "verify.failed"},
		{event.Login, 11, "session.login"},
		{event.LoginFailed, 12, "session.login_failed"},
		{event.Logout, 13, "session.logout"},
		{event.Unlocked, 14, "session.unlocked"},
		{event.UserChanged, 15, "user.changed"},
		{event.FlushFailed, 16, "usage.flush_failed"},
		{event.ChangeFeedDown, 17, "cache.feed_down"},
		{event.ChangeFeedUp, 18, "cache.feed_up"},
		{event.PasswordChanged, 19, "user.password_changed"},
		{event.MFAActivated, 20, "mfa.activated"},
		{event.MFARemoved, 21, "mfa.removed"},
		{event.MFAFailed, 22, "mfa.failed"},
		{event.PurgeFailed, 23, "history.purge_failed"},
		{event.LeakReported, 24, "token.leak_reported"},
		{event.Expiring, 25, "token.expiring"},
	} {
		if uint8(tc.ty) != tc.num || tc.ty.String() != tc.name {
			t.Errorf("%d %q, want %d %q", uint8(tc.ty), tc.ty.String(), tc.num, tc.name)
		}
	}
	for _, unknown := range []event.Type{0, 200, 255} {
		if got := unknown.String(); got != "unknown" {
			t.Errorf("Type(%d).String() = %q, want unknown", unknown, got)
		}
	}
}
