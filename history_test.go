package apitoken_test

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/apitoken/apitoken"
	"github.com/apitoken/apitoken/storetest"
)

// TestListingOrdersAndCursors: Manager.List oldest or newest first, each
// continued by its own cursors (Next, or CursorAt for part of a page or
// to turn back); a cursor is never read in the other order, ListUsers
// refuses newest first, and cursors from before newest-first listings
// existed still continue their listing.
func TestListingOrdersAndCursors(t *testing.T) {
	clock := storetest.NewClock(time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC))
	m, _ := newManager(t, &apitoken.Options{Now: clock.Now})
	admin := signIn(t, m, apitoken.Admin)
	var toks []*apitoken.Token // oldest first
	for range 7 {
		clock.Advance(time.Second)
		iss, err := m.Issue(ctx, admin, apitoken.IssueRequest{})
		if err != nil {
			t.Fatal(err)
		}
		toks = append(toks, iss.Token)
	}
	list := func(o apitoken.ListOptions) apitoken.Page[*apitoken.Token] {
		t.Helper()
		p, err := m.List(ctx, admin, o)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	oldest := list(apitoken.ListOptions{Limit: 2})               // 0 1
	newest := list(apitoken.ListOptions{Limit: 2, Newest: true}) // 6 5
	// The form of cursors before listings could go newest first.
	legacy := base64.RawURLEncoding.EncodeToString(append(binary.AppendVarint(nil, toks[2].Created.UnixNano()), toks[2].ID...))

	for _, tc := range []struct {
		name     string
		opts     apitoken.ListOptions
		want     []int // indexes into toks, in the order listed
		wantNext bool
		err      error
	}{
		{"oldest first", apitoken.ListOptions{Limit: 3}, []int{0, 1, 2}, true, nil},
		{"newest first", apitoken.ListOptions{Limit: 3, Newest: true}, []int{6, 5, 4}, true, nil},
		{"oldest first goes on with newer ones", apitoken.ListOptions{Limit: 3, Cursor: oldest.Next}, []int{2, 3, 4}, true, nil},
		{"newest first goes on with older ones", apitoken.ListOptions{Limit: 3, Newest: true, Cursor: newest.Next}, []int{4, 3, 2}, true, nil},
		{"the last page newest first", apitoken.ListOptions{Limit: 5, Newest: true, Cursor: newest.Next}, []int{4, 3, 2, 1, 0}, false, nil},
		{"the last page oldest first", apitoken.ListOptions{Limit: 5, Cursor: oldest.Next}, []int{2, 3, 4, 5, 6}, false, nil},
		{"CursorAt goes on after a partly shown page", apitoken.ListOptions{Limit: 2, Newest: true, Cursor: newest.CursorAt(0, true)}, []int{5, 4}, true, nil},
		{"CursorAt turns back from a newest-first page", apitoken.ListOptions{Limit: 2, Cursor: newest.CursorAt(1, false)}, []int{6}, false, nil},
		{"CursorAt turns back from an oldest-first page", apitoken.ListOptions{Limit: 2, Newest: true, Cursor: oldest.CursorAt(1, true)}, []int{0}, false, nil},
		{"a cursor from before newest first continues oldest first", apitoken.ListOptions{Limit: 2, Cursor: legacy}, []int{3, 4}, true, nil},
		{"a newest-first cursor read oldest first", apitoken.ListOptions{Cursor: newest.Next}, nil, false, apitoken.ErrInvalidArgument},
		{"an oldest-first cursor read newest first", apitoken.ListOptions{Newest: true, Cursor: oldest.Next}, nil, false, apitoken.ErrInvalidArgument},
		{"a legacy cursor read newest first", apitoken.ListOptions{Newest: true, Cursor: legacy}, nil, false, apitoken.ErrInvalidArgument},
		{"a cursor that is not one", apitoken.ListOptions{Newest: true, Cursor: "AQ"}, nil, false, apitoken.ErrInvalidArgument},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := m.List(ctx, admin, tc.opts)
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("err %v, want %v", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var want []string
			for _, i := range tc.want {
				want = append(want, toks[i].ID)
			}
			var got []string
			for _, tk := range p.Items {
				got = append(got, tk.ID)
			}
			if fmt.Sprint(got) != fmt.Sprint(want) || (p.Next != "") != tc.wantNext {
				t.Fatalf("listed %v (next %q), want %v (next: %v)", got, p.Next, want, tc.wantNext)
			}
		})
	}
	if got := newest.CursorAt(2, true); got != "" {
		t.Errorf("CursorAt out of range: %q, want \"\"", got)
	}
	for _, o := range []apitoken.ListOptions{{Newest: true}, {Cursor: newest.Next}} {
		if _, err := m.ListUsers(ctx, admin, o); !errors.Is(err, apitoken.ErrInvalidArgument) {
			t.Errorf("ListUsers with %+v: %v, want ErrInvalidArgument (users list oldest first only)", o, err)
		}
	}
}
