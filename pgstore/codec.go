package pgstore

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"time"

	"github.com/apitoken/apitoken"
	"github.com/jackc/pgx/v5"
)

// Times are stored as nanoseconds since the Unix epoch, NULL for the zero
// time. int64 nanoseconds cover the years 1678 to 2262; a time outside is
// refused rather than stored wrong.
func nanos(t time.Time) *int64 {
	if t.IsZero() {
		return nil
	}
	n := t.UnixNano()
	return &n
}

func checkTime(t time.Time) error {
	if !t.IsZero() && (t.Year() < 1678 || t.Year() > 2261) {
		return fmt.Errorf("%w: time %v is outside the years 1678 to 2261 this store keeps", apitoken.ErrInvalidArgument, t)
	}
	return nil
}

func fromNanos(n *int64) time.Time {
	if n == nil {
		return time.Time{}
	}
	return time.Unix(0, *n).UTC()
}

// storedApp is an App as kept in the apps jsonb column.
type storedApp struct {
	Name      string `json:"n"`
	State     uint8  `json:"s"`
	FirstSeen *int64 `json:"f,omitempty"`
	LastSeen  *int64 `json:"l,omitempty"`
}

func encodeApps(apps []apitoken.App) ([]byte, error) {
	out := make([]storedApp, len(apps))
	for i, a := range apps {
		if err := checkTime(a.FirstSeen); err != nil {
			return nil, err
		}
		if err := checkTime(a.LastSeen); err != nil {
			return nil, err
		}
		out[i] = storedApp{Name: a.Name, State: uint8(a.State), FirstSeen: nanos(a.FirstSeen), LastSeen: nanos(a.LastSeen)}
	}
	return json.Marshal(out)
}

func decodeApps(b []byte) ([]apitoken.App, error) {
	var in []storedApp
	if err := json.Unmarshal(b, &in); err != nil {
		return nil, fmt.Errorf("%w: apps: %v", ErrCorrupt, err)
	}
	if len(in) == 0 {
		return nil, nil
	}
	out := make([]apitoken.App, len(in))
	for i, a := range in {
		st := apitoken.AppState(a.State)
		if !st.Valid() || a.Name == "" {
			return nil, fmt.Errorf("%w: app %d", ErrCorrupt, i)
		}
		out[i] = apitoken.App{Name: a.Name, State: st, FirstSeen: fromNanos(a.FirstSeen), LastSeen: fromNanos(a.LastSeen)}
	}
	return out, nil
}

// tokenArgs returns the 23 column values of t in tokenColumns order, with
// version as the last.
func tokenArgs(t *apitoken.Token, version uint64) ([]any, error) {
	for _, tm := range []time.Time{t.Created, t.LastUsed, t.Expires, t.Revoked, t.ExpiryWarned} {
		if err := checkTime(tm); err != nil {
			return nil, err
		}
	}
	if t.Created.IsZero() {
		return nil, fmt.Errorf("%w: a token needs a creation time", apitoken.ErrInvalidArgument)
	}
	apps, err := encodeApps(t.Apps)
	if err != nil {
		return nil, err
	}
	return []any{t.ID, t.Hash[:], t.Hint, int16(t.Kind), int16(t.Owner), t.Account, t.UserID,
		t.CreatedBy, t.Parent, t.Lineage, t.Description, t.Type, int16(t.Privilege),
		int16(t.DefaultAppState), apps, *nanos(t.Created), nanos(t.LastUsed), nanos(t.Expires),
		nanos(t.Revoked), t.Unlocked, int64(version), t.Origin, nanos(t.ExpiryWarned), nonNil(t.Scopes),
		prefixTexts(t.AllowedCIDRs), addrText(t.LastUsedIP)}, nil
}

// nonNil returns s, or an empty slice for nil: the columns are NOT NULL.
func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// prefixTexts returns the CIDR text of each prefix.
func prefixTexts(ps []netip.Prefix) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.String()
	}
	return out
}

// addrText returns a's text, or empty for the zero Addr.
func addrText(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.WithZone("").String()
}

func scanToken(row pgx.CollectableRow) (*apitoken.Token, error) {
	var (
		t                                apitoken.Token
		hash, apps                       []byte
		kind, owner, privilege, appState int16
		created                          int64
		lastUsed, expires, revoked       *int64
		expiryWarned                     *int64
		version                          int64
		scopes, cidrs                    []string
		lastIP                           string
	)
	err := row.Scan(&t.ID, &hash, &t.Hint, &kind, &owner, &t.Account, &t.UserID, &t.CreatedBy,
		&t.Parent, &t.Lineage, &t.Description, &t.Type, &privilege, &appState, &apps, &created,
		&lastUsed, &expires, &revoked, &t.Unlocked, &version, &t.Origin, &expiryWarned, &scopes, &cidrs, &lastIP)
	if err != nil {
		return nil, err
	}
	if len(hash) != len(t.Hash) || version <= 0 {
		return nil, fmt.Errorf("%w: token %q", ErrCorrupt, t.ID)
	}
	copy(t.Hash[:], hash)
	t.Kind, t.Owner = apitoken.Kind(kind), apitoken.Owner(owner)
	t.Privilege, t.DefaultAppState = apitoken.Privilege(privilege), apitoken.AppState(appState)
	if t.Apps, err = decodeApps(apps); err != nil {
		return nil, fmt.Errorf("token %q: %w", t.ID, err)
	}
	t.Created = time.Unix(0, created).UTC()
	t.LastUsed, t.Expires, t.Revoked = fromNanos(lastUsed), fromNanos(expires), fromNanos(revoked)
	t.ExpiryWarned = fromNanos(expiryWarned)
	t.Version = uint64(version)
	if len(scopes) > 0 {
		t.Scopes = scopes
	}
	for _, c := range cidrs {
		p, err := netip.ParsePrefix(c)
		if err != nil {
			return nil, fmt.Errorf("%w: token %q: allowed range", ErrCorrupt, t.ID)
		}
		t.AllowedCIDRs = append(t.AllowedCIDRs, p)
	}
	if lastIP != "" {
		if t.LastUsedIP, err = netip.ParseAddr(lastIP); err != nil {
			return nil, fmt.Errorf("%w: token %q: last-used address", ErrCorrupt, t.ID)
		}
	}
	return &t, nil
}

// userArgs returns the column values of u in userColumns order, all but
// the last (version).
func userArgs(u *apitoken.User) ([]any, error) {
	for _, tm := range []time.Time{u.Created, u.SessionsValidAfter, u.MFAWindowStart, u.LoginWindowStart} {
		if err := checkTime(tm); err != nil {
			return nil, err
		}
	}
	if u.Created.IsZero() {
		return nil, fmt.Errorf("%w: a user needs a creation time", apitoken.ErrInvalidArgument)
	}
	return []any{u.ID, u.Account, u.Name, int16(u.Role), u.Disabled, u.PasswordHash,
		u.MFASecret, u.MFALastStep, nanos(u.SessionsValidAfter), u.Created.UnixNano(),
		u.MFAPending, int32(u.MFAFailures), nanos(u.MFAWindowStart), int32(u.MFAWindowFailures),
		nanos(u.LoginWindowStart), int32(u.LoginWindowFailures)}, nil
}

func scanUser(row pgx.CollectableRow) (*apitoken.User, error) {
	var (
		u                apitoken.User
		role             int16
		validAfter       *int64
		created, version int64
		mfaWindow        *int64
		loginWindow      *int64
		mfaFailures      int32
		mfaWindowFails   int32
		loginWindowFails int32
	)
	err := row.Scan(&u.ID, &u.Account, &u.Name, &role, &u.Disabled, &u.PasswordHash, &u.MFASecret,
		&u.MFALastStep, &validAfter, &created, &u.MFAPending, &mfaFailures, &mfaWindow, &mfaWindowFails,
		&loginWindow, &loginWindowFails, &version)
	if err != nil {
		return nil, err
	}
	if version <= 0 {
		return nil, fmt.Errorf("%w: user %q", ErrCorrupt, u.ID)
	}
	u.Role = apitoken.Privilege(role)
	u.SessionsValidAfter = fromNanos(validAfter)
	u.Created = time.Unix(0, created).UTC()
	u.MFAFailures, u.MFAWindowFailures, u.LoginWindowFailures = int(mfaFailures), int(mfaWindowFails), int(loginWindowFails)
	u.MFAWindowStart, u.LoginWindowStart = fromNanos(mfaWindow), fromNanos(loginWindow)
	u.Version = uint64(version)
	return &u, nil
}
