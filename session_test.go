package apitoken_test

import (
	"strings"
	"testing"

	"github.com/apitoken/apitoken"
	"github.com/apitoken/apitoken/event"
)

// StartSession reports each session it starts as one event.Login with the
// session's ID, account and user (nothing secret), a locked one too; a
// session it refuses is not reported.
func TestStartSessionReportsTheLogin(t *testing.T) {
	var ev events
	m, _ := newManager(t, &apitoken.Options{OnEvent: ev.add})
	add := func(name string, edit func(*apitoken.User)) *apitoken.User {
		t.Helper()
		u, err := m.AddUser(ctx, apitoken.NewUser{Account: "acme", Name: name, Role: apitoken.Normal})
		if err != nil {
			t.Fatal(err)
		}
		if edit != nil {
			if u, err = m.EditUser(ctx, u.ID, func(u *apitoken.User) error { edit(u); return nil }); err != nil {
				t.Fatal(err)
			}
		}
		return u
	}
	plain := add("plain@example.com", nil)
	mfa := add("mfa@example.com", func(u *apitoken.User) { u.MFASecret = []byte("12345678901234567890") })
	disabled := add("disabled@example.com", func(u *apitoken.User) { u.Disabled = true })
	for _, c := range []struct {
		name, userID string
		reported     bool
	}{
		{"a user", plain.ID, true},
		{"a user enrolled in MFA (a locked session)", mfa.ID, true},
		{"a disabled user", disabled.ID, false},
		{"an unknown user", "0000000000000001", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			ev.mu.Lock()
			ev.all = nil
			ev.mu.Unlock()
			iss, err := m.StartSession(ctx, c.userID)
			if c.reported != (err == nil) {
				t.Fatalf("StartSession: %v", err)
			}
			ev.mu.Lock()
			defer ev.mu.Unlock()
			var logins []apitoken.Event
			for _, e := range ev.all {
				if e.Type == event.Login {
					logins = append(logins, e)
				}
			}
			if !c.reported {
				if len(logins) != 0 {
					t.Fatalf("events %+v, want none", logins)
				}
				return
			}
			if len(logins) != 1 {
				t.Fatalf("%d event.Login, want 1: %+v", len(logins), logins)
			}
			want := apitoken.Event{Type: event.Login, Time: logins[0].Time, TokenID: iss.Token.ID, Account: "acme", UserID: c.userID}
			if logins[0] != want || logins[0].Time.IsZero() {
				t.Errorf("event %+v, want %+v", logins[0], want)
			}
			if strings.Contains(logins[0].TokenID+logins[0].Account+logins[0].UserID, iss.Secret) {
				t.Error("the event holds the secret")
			}
		})
	}
}
