package apitoken

import (
	"bytes"
	"slices"
	"time"
)

// Equal reports whether t and u are the same record in every field,
// Version included. Times compare as instants (time.Time.Equal), and nil
// and empty Apps (and Scopes and AllowedCIDRs) are equal, so records read back from different stores
// compare equal when they hold the same data.
func (t *Token) Equal(u *Token) bool {
	if t == nil || u == nil {
		return t == u
	}
	if t.ID != u.ID || t.Hash != u.Hash || t.Hint != u.Hint || t.Kind != u.Kind || t.Owner != u.Owner ||
		t.Account != u.Account || t.UserID != u.UserID || t.CreatedBy != u.CreatedBy || t.Parent != u.Parent ||
		t.Lineage != u.Lineage || t.Origin != u.Origin || t.Description != u.Description || t.Type != u.Type ||
		t.Privilege != u.Privilege || t.DefaultAppState != u.DefaultAppState || t.Unlocked != u.Unlocked ||
		t.Version != u.Version || t.LastUsedIP != u.LastUsedIP ||
		!slices.Equal(t.Scopes, u.Scopes) || !slices.Equal(t.AllowedCIDRs, u.AllowedCIDRs) || !sameTimes(
		[]time.Time{t.Created, t.LastUsed, t.Expires, t.Revoked, t.ExpiryWarned},
		[]time.Time{u.Created, u.LastUsed, u.Expires, u.Revoked, u.ExpiryWarned}) || len(t.Apps) != len(u.Apps) {
		return false
	}
	for i, a := range t.Apps {
		b := u.Apps[i]
		if a.Name != b.Name || a.State != b.State || !a.FirstSeen.Equal(b.FirstSeen) || !a.LastSeen.Equal(b.LastSeen) {
			return false
		}
	}
	return true
}

// Equal reports whether u and v are the same user in every field, Version
// included. Times compare as instants, and nil and empty MFA secrets are
// equal.
func (u *User) Equal(v *User) bool {
	if u == nil || v == nil {
		return u == v
	}
	return u.ID == v.ID && u.Account == v.Account && u.Name == v.Name && u.Role == v.Role &&
		u.Disabled == v.Disabled && u.PasswordHash == v.PasswordHash &&
		bytes.Equal(u.MFASecret, v.MFASecret) && u.MFALastStep == v.MFALastStep &&
		bytes.Equal(u.MFAPending, v.MFAPending) && u.MFAFailures == v.MFAFailures &&
		u.MFAWindowFailures == v.MFAWindowFailures && u.LoginWindowFailures == v.LoginWindowFailures &&
		u.Version == v.Version && sameTimes(
		[]time.Time{u.MFAWindowStart, u.LoginWindowStart, u.SessionsValidAfter, u.Created},
		[]time.Time{v.MFAWindowStart, v.LoginWindowStart, v.SessionsValidAfter, v.Created})
}

func sameTimes(a, b []time.Time) bool {
	for i := range a {
		if !a[i].Equal(b[i]) {
			return false
		}
	}
	return true
}
