package tokenpage

import (
	"fmt"
	"net/http"
	"time"

	"github.com/apitoken/apitoken"
)

// expiryChoice is one expiry the create step offers, with the date it
// gives.
type expiryChoice struct {
	Value, Label string
	Until        time.Time
	Checked      bool
}

// expiryChoices are the offered lifetimes; those beyond the Manager's
// maximum are left out.
var expiryChoices = []struct {
	value, label string
	d            time.Duration
}{
	{"168h", "7 days", 7 * 24 * time.Hour},
	{"720h", "30 days", 30 * 24 * time.Hour},
	{"2160h", "90 days", 90 * 24 * time.Hour},
	{"8760h", "1 year", 365 * 24 * time.Hour},
}

// defaultExpiry is the choice preselected: 90 days.
const defaultExpiry = "2160h"

const dateLayout = "2006-01-02"

// newToken is the create step: its own page, the least privilege
// preselected.
func (p *Handler) newToken(w http.ResponseWriter, r *http.Request, pr apitoken.Principal, v *view) {
	v.Section = "new"
	if len(v.Grantable) == 0 {
		v.Error = "Your role cannot create tokens: it can only read."
		p.render(w, r, http.StatusForbidden, v)
		return
	}
	now := time.Now()
	_, max, _ := p.m.ExpiryRule(pr.Account)
	for _, c := range expiryChoices {
		if c.d <= max {
			v.Expiries = append(v.Expiries, expiryChoice{Value: c.value, Label: c.label, Until: now.Add(c.d), Checked: c.value == defaultExpiry})
		}
	}
	if len(v.Expiries) > 0 && !func() bool {
		for _, e := range v.Expiries {
			if e.Checked {
				return true
			}
		}
		return false
	}() {
		v.Expiries[len(v.Expiries)-1].Checked = true
	}
	v.MinDate = now.UTC().Format(dateLayout)
	v.MaxDay = now.Add(max).Add(-24 * time.Hour)
	v.MaxDate = v.MaxDay.UTC().Format(dateLayout)
	p.render(w, r, http.StatusOK, v)
}

// expiresFrom turns the create form's expiry into a time: one of the
// offered lifetimes, "custom" with a date (the token works through that
// day, UTC), or nothing for the Manager's default. The Manager refuses a
// time beyond the account's maximum, and nothing where the account
// requires an expiry.
func (p *Handler) expiresFrom(account, choice, date string, now time.Time) (time.Time, error) {
	switch choice {
	case "":
		return time.Time{}, nil
	case "custom":
		d, err := time.Parse(dateLayout, date)
		if err != nil {
			return time.Time{}, fmt.Errorf("%w: choose a date for the custom expiry", apitoken.ErrInvalidArgument)
		}
		end := d.Add(24 * time.Hour)
		if _, max, _ := p.m.ExpiryRule(account); end.After(now.Add(max)) {
			end = now.Add(max) // the last day offered ends at the maximum
			if d.After(end) {
				return time.Time{}, fmt.Errorf("%w: the date is beyond the longest lifetime allowed", apitoken.ErrInvalidArgument)
			}
		}
		return end, nil
	}
	for _, c := range expiryChoices {
		if c.value == choice {
			return now.Add(c.d), nil
		}
	}
	return time.Time{}, apitoken.ErrInvalidArgument
}
