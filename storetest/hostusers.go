package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/apitoken/apitoken"
)

// HostUsers is a user directory kept by the host, not in the Store: what
// a host with its own users (or single sign-on) gives Options.Users. It is
// safe for concurrent use; Set and Remove change a user, and the caller
// then calls Manager.InvalidateUser, as a host must.
type HostUsers struct {
	mu    sync.Mutex
	users map[string]apitoken.User
}

// NewHostUsers returns an empty directory.
func NewHostUsers() *HostUsers { return &HostUsers{users: map[string]apitoken.User{}} }

// Set adds or replaces a user (ID, Account, Role and Disabled are read).
func (h *HostUsers) Set(u apitoken.User) {
	h.mu.Lock()
	h.users[u.ID] = u
	h.mu.Unlock()
}

// Remove deletes a user.
func (h *HostUsers) Remove(id string) {
	h.mu.Lock()
	delete(h.users, id)
	h.mu.Unlock()
}

// UserByID implements apitoken.Users.
func (h *HostUsers) UserByID(_ context.Context, id string) (*apitoken.User, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	u, ok := h.users[id]
	if !ok {
		return nil, apitoken.ErrNotFound
	}
	return &u, nil
}

// runIssueFor checks host-authorised issuance with the host's own user
// directory: each role x requested privilege, disabled, unknown and
// other-account users, account tokens; the tokens verify, are capped by
// the user's current role, list and revoke through a session the host
// starts; and the Store holds no user record.
func runIssueFor(t *testing.T, ns NewStoreFunc, _ LifecycleConfig) {
	dir := NewHostUsers()
	e := newEnv(t, ns, func(o *apitoken.Options) { o.Users = dir })
	for i, role := range privs {
		dir.Set(apitoken.User{ID: fmt.Sprintf("host-user-%d", i), Account: "acme", Role: role})
	}
	dir.Set(apitoken.User{ID: "host-disabled", Account: "acme", Role: apitoken.Admin, Disabled: true})
	dir.Set(apitoken.User{ID: "host-elsewhere", Account: "other", Role: apitoken.Admin})
	ok, ins, gone := "ok", errName(apitoken.ErrInsufficientPrivilege), errName(apitoken.ErrUserDisabled)
	for i, role := range privs {
		want := map[apitoken.Privilege]string{}
		for _, p := range privs {
			want[p] = ok
			if p > role {
				want[p] = ins
			}
		}
		for _, p := range append([]apitoken.Privilege{0}, privs...) {
			t.Run(fmt.Sprintf("a %v user asking for %v", role, p), func(t *testing.T) {
				e.t = t
				iss, err := e.m.IssueFor(ctx, "acme", fmt.Sprintf("host-user-%d", i), apitoken.IssueRequest{Privilege: p})
				w := want[p]
				if p == 0 {
					w = ok // defaults to the role
				}
				if got := errName(err); got != w {
					t.Fatalf("got %s, want %s", got, w)
				}
				if err != nil {
					return
				}
				got := e.verify(iss.Secret)
				if (p == 0 && got.Privilege != role) || (p != 0 && got.Privilege != p) || got.Owner != apitoken.OwnerUser {
					t.Fatalf("verified as %v %v", got.Privilege, got.Owner)
				}
			})
		}
	}
	e.t = t
	for _, tc := range []struct {
		name          string
		account, user string
		req           apitoken.IssueRequest
		want          string
	}{
		{"a disabled user", "acme", "host-disabled", apitoken.IssueRequest{}, gone},
		{"an unknown user", "acme", "nobody", apitoken.IssueRequest{}, gone},
		{"a user of another account", "acme", "host-elsewhere", apitoken.IssueRequest{}, gone},
		{"no account", "", "host-user-0", apitoken.IssueRequest{}, errName(apitoken.ErrInvalidArgument)},
		{"an account token without a privilege", "acme", "", apitoken.IssueRequest{}, errName(apitoken.ErrInvalidArgument)},
		{"an account token", "acme", "", apitoken.IssueRequest{Privilege: apitoken.Admin}, ok},
		{"an owner that disagrees", "acme", "", apitoken.IssueRequest{Privilege: apitoken.Normal, Owner: apitoken.OwnerUser}, errName(apitoken.ErrInvalidArgument)},
		{"an invalid privilege", "acme", "host-user-2", apitoken.IssueRequest{Privilege: 9}, errName(apitoken.ErrInvalidArgument)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.m.IssueFor(ctx, tc.account, tc.user, tc.req)
			if got := errName(err); got != tc.want {
				t.Fatalf("got %s, want %s", got, tc.want)
			}
		})
	}
	// A demotion in the host's directory caps the token at once.
	iss, err := e.m.IssueFor(ctx, "acme", "host-user-2", apitoken.IssueRequest{})
	must(t, err)
	dir.Set(apitoken.User{ID: "host-user-2", Account: "acme", Role: apitoken.ReadOnly})
	e.m.InvalidateUser("host-user-2")
	if p := e.verify(iss.Secret); p.Privilege != apitoken.ReadOnly {
		t.Fatalf("after the host demoted the user the token verifies as %v", p.Privilege)
	}
	// A session the host starts for its normal user lists and revokes the
	// user's tokens: the three the table issued (default, read-only,
	// normal).
	l, err := e.m.StartSession(ctx, "host-user-1")
	must(t, err)
	s := e.verify(l.Secret)
	page, err := e.m.List(ctx, s, apitoken.ListOptions{})
	must(t, err)
	if len(page.Items) != 3 {
		t.Fatalf("the host user lists %d tokens, want 3", len(page.Items))
	}
	must(t, e.m.Revoke(ctx, s, page.Items[0].ID))
	dir.Remove("host-user-0")
	e.m.InvalidateUser("host-user-0")
	if _, err := e.m.StartSession(ctx, "host-user-0"); !errors.Is(err, apitoken.ErrUserDisabled) {
		t.Fatalf("a session for a removed user: %v", err)
	}
	users, err := e.store.ListUsers(ctx, apitoken.UserQuery{Account: "acme"})
	must(t, err)
	if len(users) != 0 {
		t.Fatalf("the Store holds %d user records; the host keeps its own", len(users))
	}
}
