package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// maxWindow bounds an expiry window or lifetime given to the server: ten
// years, the library's default token lifetime.
const maxWindow = 3650 * 24 * time.Hour

// maxWindowText bounds the text of a window before it is parsed.
const maxWindowText = 32

// parseWindow reads a window of time from a query parameter or a flag:
// whole days ("7d", "90d") or a Go duration in hours, minutes or seconds
// ("48h", "36h30m"). It must be positive and at most ten years; anything
// else is an error that says what is accepted, without echoing the input.
func parseWindow(s string) (time.Duration, error) {
	bad := fmt.Errorf("a window of time is whole days (\"7d\") or hours (\"48h\"), more than zero and at most %d days", int(maxWindow/(24*time.Hour)))
	if s == "" || len(s) > maxWindowText {
		return 0, bad
	}
	var d time.Duration
	if days, ok := strings.CutSuffix(s, "d"); ok {
		// Digits only: no sign, no spaces, no "1.5d".
		if days == "" || strings.TrimLeft(days, "0123456789") != "" || len(days) > 5 {
			return 0, bad
		}
		n, err := strconv.Atoi(days)
		if err != nil {
			return 0, bad
		}
		d = time.Duration(n) * 24 * time.Hour
	} else {
		var err error
		if d, err = time.ParseDuration(s); err != nil {
			return 0, bad
		}
	}
	if d <= 0 || d > maxWindow {
		return 0, bad
	}
	return d, nil
}
