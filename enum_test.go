package apitoken

import (
	"encoding/json"
	"errors"
	"testing"
)

type textEnum interface {
	MarshalText() ([]byte, error)
	String() string
}

func TestEnumTextRoundTrips(t *testing.T) {
	for _, tc := range []struct {
		v    textEnum
		text string
		back func([]byte) (textEnum, error)
	}{
		{ReadOnly, "read-only", unmarshalPrivilege},
		{Normal, "normal", unmarshalPrivilege},
		{Admin, "admin", unmarshalPrivilege},
		{Allow, "allow", unmarshalAppState},
		{Pending, "pending", unmarshalAppState},
		{Deny, "deny", unmarshalAppState},
		{OwnerUser, "user", unmarshalOwner},
		{OwnerAccount, "account", unmarshalOwner},
	} {
		t.Run(tc.text+" round-trips through its text form", func(t *testing.T) {
			b, err := tc.v.MarshalText()
			if err != nil || string(b) != tc.text || tc.v.String() != tc.text {
				t.Fatalf("MarshalText = %q, %v; String = %q", b, err, tc.v.String())
			}
			back, err := tc.back(b)
			if err != nil || back != tc.v {
				t.Fatalf("UnmarshalText(%q) = %v, %v", b, back, err)
			}
		})
	}
}

func unmarshalPrivilege(b []byte) (textEnum, error) {
	var p Privilege
	err := p.UnmarshalText(b)
	return p, err
}

func unmarshalAppState(b []byte) (textEnum, error) {
	var s AppState
	err := s.UnmarshalText(b)
	return s, err
}

func unmarshalOwner(b []byte) (textEnum, error) {
	var o Owner
	err := o.UnmarshalText(b)
	return o, err
}

func TestEnumRejectsUnknownTextAndUnsetValues(t *testing.T) {
	for _, text := range []string{"", "Admin", "ADMIN", "readonly", "read_only", "root", "allow ", "Allow", "0", "unset(0)"} {
		for name, back := range map[string]func([]byte) (textEnum, error){
			"privilege": unmarshalPrivilege, "app state": unmarshalAppState, "owner": unmarshalOwner,
		} {
			if v, err := back([]byte(text)); err == nil {
				t.Errorf("%s %q accepted as %v", name, text, v)
			} else if err != nil && !errors.Is(err, ErrInvalidArgument) {
				t.Errorf("%s %q: error %v is not ErrInvalidArgument", name, text, err)
			}
		}
	}
	for _, v := range []textEnum{Privilege(0), Privilege(4), AppState(0), AppState(9), Owner(0)} {
		if _, err := v.MarshalText(); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("MarshalText of unset %v: %v", v, err)
		}
	}
	if _, err := json.Marshal(struct{ P Privilege }{}); err == nil {
		t.Error("JSON encoding of an unset privilege succeeded")
	}
}

func TestPrivilegeOrderAndFailClosed(t *testing.T) {
	for _, tc := range []struct {
		p, min Privilege
		want   bool
	}{
		{ReadOnly, ReadOnly, true}, {ReadOnly, Normal, false}, {ReadOnly, Admin, false},
		{Normal, ReadOnly, true}, {Normal, Normal, true}, {Normal, Admin, false},
		{Admin, ReadOnly, true}, {Admin, Normal, true}, {Admin, Admin, true},
		{0, ReadOnly, false}, {Admin, 0, false}, {0, 0, false}, {Privilege(200), ReadOnly, false},
	} {
		if got := tc.p.AtLeast(tc.min); got != tc.want {
			t.Errorf("%v.AtLeast(%v) = %v, want %v", tc.p, tc.min, got, tc.want)
		}
	}
	if minPrivilege(Admin, 0) != 0 || minPrivilege(Admin, Normal) != Normal {
		t.Error("minPrivilege does not fail closed")
	}
}

func TestUnsetAppStateDecidesDeny(t *testing.T) {
	for s, want := range map[AppState]error{Allow: nil, Pending: ErrAppPending, Deny: ErrAppDenied, 0: ErrAppDenied, 7: ErrAppDenied} {
		if got := s.decision(); !errors.Is(got, want) || (want == nil && got != nil) {
			t.Errorf("%v decides %v, want %v", s, got, want)
		}
	}
}
