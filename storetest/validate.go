package storetest

import (
	"testing"

	"github.com/apitoken/apitoken"
)

// badTokens are records holding a value no store can represent, each
// with the field it spoils.
func badTokens() []struct {
	field string
	tok   *apitoken.Token
} {
	spoil := func(f func(*apitoken.Token)) *apitoken.Token {
		t := Token(90, "acme", "u1")
		t.Apps = []apitoken.App{{Name: "grafana", State: apitoken.Allow, FirstSeen: base, LastSeen: base}}
		f(t)
		return t
	}
	return []struct {
		field string
		tok   *apitoken.Token
	}{
		{"kind 0", spoil(func(t *apitoken.Token) { t.Kind = 0 })},
		{"kind 9", spoil(func(t *apitoken.Token) { t.Kind = 9 })},
		{"owner 0", spoil(func(t *apitoken.Token) { t.Owner = 0 })},
		{"owner 7", spoil(func(t *apitoken.Token) { t.Owner = 7 })},
		{"privilege 0", spoil(func(t *apitoken.Token) { t.Privilege = 0 })},
		{"privilege 9", spoil(func(t *apitoken.Token) { t.Privilege = 9 })},
		{"default app state 0", spoil(func(t *apitoken.Token) { t.DefaultAppState = 0 })},
		{"default app state 9", spoil(func(t *apitoken.Token) { t.DefaultAppState = 9 })},
		{"an application's state 9", spoil(func(t *apitoken.Token) { t.Apps[0].State = 9 })},
	}
}

var validateCases = []storeCase{
	{"Writes of a record holding a value out of range are refused with ErrInvalidArgument and store nothing", func(t *testing.T, s apitoken.Store) {
		for _, bad := range badTokens() {
			wantErr(t, s.CreateToken(ctx, bad.tok), apitoken.ErrInvalidArgument)
			if _, err := s.TokenByID(ctx, bad.tok.ID); err == nil {
				t.Fatalf("CreateToken with %s stored the record", bad.field)
			}
		}
		good := Token(91, "acme", "u1")
		must(t, s.CreateToken(ctx, good))
		for _, bad := range badTokens() {
			u := bad.tok.Clone()
			u.ID, u.Hash, u.HashKeyID, u.Account, u.Version = good.ID, good.Hash, good.HashKeyID, good.Account, good.Version
			if bad.tok.Kind == good.Kind {
				wantErr(t, s.UpdateToken(ctx, u), apitoken.ErrInvalidArgument)
			}
			got, err := s.TokenByID(ctx, good.ID)
			must(t, err)
			sameToken(t, got, good)
		}
		bu := User(90, "acme")
		bu.Role = 9
		wantErr(t, s.CreateUser(ctx, bu), apitoken.ErrInvalidArgument)
		if _, err := s.UserByID(ctx, bu.ID); err == nil {
			t.Fatal("CreateUser with role 9 stored the user")
		}
		u := User(91, "acme")
		must(t, s.CreateUser(ctx, u))
		spoilt := u.Clone()
		spoilt.Role = 0
		wantErr(t, s.UpdateUser(ctx, spoilt), apitoken.ErrInvalidArgument)
		got, err := s.UserByID(ctx, u.ID)
		must(t, err)
		if got.Role != u.Role || got.Version != u.Version {
			t.Fatalf("a refused UpdateUser changed the user: %+v", got)
		}
	}},
	{"An import holding one bad record is refused whole", func(t *testing.T, s apitoken.Store) {
		im := importer(t, s)
		for _, bad := range badTokens() {
			ok := Token(92, "acme", "u1")
			_, err := im.ImportTokens(ctx, []*apitoken.Token{ok, bad.tok})
			wantErr(t, err, apitoken.ErrInvalidArgument)
			for _, id := range []string{ok.ID, bad.tok.ID} {
				if _, err := s.TokenByID(ctx, id); err == nil {
					t.Fatalf("an import refused for %s stored %s", bad.field, id)
				}
			}
		}
		ok, bu := User(93, "acme"), User(94, "acme")
		bu.Role = 0
		_, err := im.ImportUsers(ctx, []*apitoken.User{ok, bu})
		wantErr(t, err, apitoken.ErrInvalidArgument)
		if _, err := s.UserByID(ctx, ok.ID); err == nil {
			t.Fatal("an import refused for a bad role stored the good user")
		}
	}},
}
