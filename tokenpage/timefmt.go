package tokenpage

import (
	"fmt"
	"strings"
	"time"
)

// exact is a time as the page shows it on hover: UTC to the minute.
func exact(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.UTC().Format("2006-01-02 15:04 UTC")
}

// relative says how far t is from now in words: "3 days ago", "in 2
// months", "just now".
func relative(now, t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := t.Sub(now)
	future := d > 0
	if !future {
		d = -d
	}
	var s string
	switch {
	case d < time.Minute:
		return "just now"
	case d < time.Hour-30*time.Second:
		s = plural(d, time.Minute, "minute")
	case d < 24*time.Hour-30*time.Minute:
		s = plural(d, time.Hour, "hour")
	case d < 30*24*time.Hour-12*time.Hour:
		s = plural(d, 24*time.Hour, "day")
	case d < 345*24*time.Hour:
		s = plural(d, 30*24*time.Hour, "month")
	default:
		s = plural(d, 365*24*time.Hour, "year")
	}
	if future {
		return "in " + s
	}
	return s + " ago"
}

// plural is d in whole units, rounded to the nearest, with the unit's name.
func plural(d, per time.Duration, unit string) string {
	n := int((d + per/2) / per)
	if n == 1 {
		return "1 " + unit
	}
	return fmt.Sprintf("%d %ss", n, unit)
}

// initial is the first letter of name, upper-cased, for the avatar.
func initial(name string) string {
	for _, r := range name {
		return strings.ToUpper(string(r))
	}
	return "?"
}
