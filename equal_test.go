package apitoken_test

import (
	"net/netip"
	"reflect"
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

// TestEqualComparesEveryField changes each field of a Token and a User in
// turn, by reflection, so that a field added later and forgotten in Equal
// fails here.
func TestEqualComparesEveryField(t *testing.T) {
	now := time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)
	tok := &apitoken.Token{ID: "a", Kind: apitoken.KindAPI, Owner: apitoken.OwnerUser, Account: "acme", UserID: "u",
		Privilege: apitoken.Normal, DefaultAppState: apitoken.Allow, Created: now, Expires: now.Add(time.Hour), Version: 1,
		Apps:   []apitoken.App{{Name: "ci", State: apitoken.Allow, FirstSeen: now, LastSeen: now}},
		Scopes: []string{"documents:read"}, AllowedCIDRs: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}
	usr := &apitoken.User{ID: "u", Account: "acme", Name: "n", Role: apitoken.Normal, Created: now, Version: 1}
	for _, rec := range []any{tok, usr} {
		v := reflect.ValueOf(rec).Elem()
		for i := range v.NumField() {
			name := v.Type().Field(i).Name
			changed := reflect.New(v.Type())
			changed.Elem().Set(v)
			f := changed.Elem().Field(i)
			switch f.Kind() {
			case reflect.String:
				f.SetString(f.String() + "x")
			case reflect.Bool:
				f.SetBool(!f.Bool())
			case reflect.Uint8, reflect.Uint64:
				f.SetUint(f.Uint() + 1)
			case reflect.Int, reflect.Int64:
				f.SetInt(f.Int() + 1)
			case reflect.Array: // Hash
				f.Index(0).SetUint(f.Index(0).Uint() + 1)
			case reflect.Slice:
				if f.Type().Elem().Kind() == reflect.Uint8 {
					f.SetBytes(append([]byte("x"), f.Bytes()...))
				} else {
					f.Set(reflect.Zero(f.Type())) // Apps: drop them
				}
			case reflect.Struct: // time.Time, netip.Addr
				switch x := f.Interface().(type) {
				case time.Time:
					f.Set(reflect.ValueOf(x.Add(time.Second)))
				case netip.Addr:
					f.Set(reflect.ValueOf(netip.MustParseAddr("192.0.2.1")))
				}
			default:
				t.Fatalf("field %s of kind %v: teach this test to change it", name, f.Kind())
			}
			var equal bool
			switch r := rec.(type) {
			case *apitoken.Token:
				equal = r.Equal(changed.Interface().(*apitoken.Token))
			case *apitoken.User:
				equal = r.Equal(changed.Interface().(*apitoken.User))
			}
			if equal {
				t.Errorf("%T.Equal ignores a change of %s", rec, name)
			}
		}
	}
}
