// Package unixnano converts times to and from the int64 Unix nanoseconds
// that the pointer-free verification cache and usage tracker store.
package unixnano

import "time"

// Of returns t as Unix nanoseconds, 0 for the zero time; false if t is
// outside the years 1678 to 2261 that int64 nanoseconds hold.
func Of(t time.Time) (int64, bool) {
	if t.IsZero() {
		return 0, true
	}
	ns := t.UnixNano()
	return ns, ns != 0 && time.Unix(0, ns).Equal(t)
}

// Time returns the time of ns Unix nanoseconds, the zero time for 0.
func Time(ns int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns)
}
