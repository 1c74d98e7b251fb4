package apitoken_test

import (
	"slices"
	"testing"

	"github.com/apitoken/apitoken"
)

func TestGrantableAndManagesAccountFollowThePolicy(t *testing.T) {
	for _, tc := range []struct {
		name      string
		priv      apitoken.Privilege
		grantable []apitoken.Privilege
		manages   bool
	}{
		{"a read-only credential may grant nothing", apitoken.ReadOnly, nil, false},
		{"a normal credential may grant read-only and normal", apitoken.Normal, []apitoken.Privilege{apitoken.ReadOnly, apitoken.Normal}, false},
		{"an admin may grant every privilege and manage account tokens", apitoken.Admin, []apitoken.Privilege{apitoken.ReadOnly, apitoken.Normal, apitoken.Admin}, true},
		{"an unset privilege may grant nothing", 0, nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := apitoken.Principal{Privilege: tc.priv}
			if got := p.Grantable(); !slices.Equal(got, tc.grantable) {
				t.Errorf("Grantable() = %v, want %v", got, tc.grantable)
			}
			if got := p.ManagesAccount(); got != tc.manages {
				t.Errorf("ManagesAccount() = %v, want %v", got, tc.manages)
			}
		})
	}
}

// The helpers agree with what Issue does: every privilege Grantable offers
// issues, every other one is refused.
func TestGrantableAgreesWithIssue(t *testing.T) {
	m, _ := newManager(t, nil)
	for _, role := range []apitoken.Privilege{apitoken.ReadOnly, apitoken.Normal, apitoken.Admin} {
		u, err := m.AddUser(ctx, apitoken.NewUser{Account: "acme", Name: "u" + role.String(), Role: role})
		if err != nil {
			t.Fatal(err)
		}
		l, err := m.StartSession(ctx, u.ID)
		if err != nil {
			t.Fatal(err)
		}
		p, err := m.Verify(ctx, l.Secret, "")
		if err != nil {
			t.Fatal(err)
		}
		for v := apitoken.ReadOnly; v <= apitoken.Admin; v++ {
			_, err := m.Issue(ctx, p, apitoken.IssueRequest{Privilege: v})
			if offered := slices.Contains(p.Grantable(), v); offered != (err == nil) {
				t.Errorf("role %v, privilege %v: offered %v, Issue error %v", role, v, offered, err)
			}
		}
		_, err = m.Issue(ctx, p, apitoken.IssueRequest{Owner: apitoken.OwnerAccount, Privilege: apitoken.ReadOnly})
		if p.ManagesAccount() != (err == nil) {
			t.Errorf("role %v: ManagesAccount %v, account token error %v", role, p.ManagesAccount(), err)
		}
	}
}
