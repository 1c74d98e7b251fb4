package apitoken_test

import (
	"testing"
	"time"

	"github.com/apitoken/apitoken"
	"github.com/apitoken/apitoken/storetest"
)

func TestTokenEqual(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	for _, c := range []struct {
		name   string
		change func(*apitoken.Token)
		equal  bool
	}{
		{"a copy is equal", func(*apitoken.Token) {}, true},
		{"times in another zone are the same instants", func(tk *apitoken.Token) { tk.Created = tk.Created.In(time.FixedZone("x", 3600)) }, true},
		{"empty and nil apps are equal", func(tk *apitoken.Token) { tk.Apps = []apitoken.App{} }, true},
		{"another version differs", func(tk *apitoken.Token) { tk.Version++ }, false},
		{"another hash differs", func(tk *apitoken.Token) { tk.Hash[31]++ }, false},
		{"a revocation differs", func(tk *apitoken.Token) { tk.Revoked = at }, false},
		{"a use differs", func(tk *apitoken.Token) { tk.LastUsed = at }, false},
		{"an app differs", func(tk *apitoken.Token) { tk.Apps = []apitoken.App{{Name: "ci", State: apitoken.Allow}} }, false},
		{"another description differs", func(tk *apitoken.Token) { tk.Description += "!" }, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			a := storetest.Token(1, "acme", "u1")
			b := a.Clone()
			c.change(b)
			if got := a.Equal(b); got != c.equal || b.Equal(a) != c.equal {
				t.Fatalf("Equal = %v, want %v", got, c.equal)
			}
		})
	}
}

func TestUserEqual(t *testing.T) {
	for _, c := range []struct {
		name   string
		change func(*apitoken.User)
		equal  bool
	}{
		{"a copy is equal", func(*apitoken.User) {}, true},
		{"empty and nil MFA secrets are equal", func(u *apitoken.User) { u.MFASecret = []byte{} }, true},
		{"another MFA secret differs", func(u *apitoken.User) { u.MFASecret = []byte("x") }, false},
		{"a throttling counter differs", func(u *apitoken.User) { u.LoginWindowFailures++ }, false},
		{"another version differs", func(u *apitoken.User) { u.Version++ }, false},
		{"disabled differs", func(u *apitoken.User) { u.Disabled = true }, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			a := storetest.User(1, "acme")
			b := a.Clone()
			c.change(b)
			if got := a.Equal(b); got != c.equal {
				t.Fatalf("Equal = %v, want %v", got, c.equal)
			}
		})
	}
}
