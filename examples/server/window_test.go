package main

import (
	"strings"
	"testing"
	"time"
)

func TestParseWindow(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration // 0: refused
	}{
		{"7d", 7 * 24 * time.Hour},
		{"1d", 24 * time.Hour},
		{"007d", 7 * 24 * time.Hour},
		{"3650d", 3650 * 24 * time.Hour},
		{"48h", 48 * time.Hour},
		{"36h30m", 36*time.Hour + 30*time.Minute},
		{"90m", 90 * time.Minute},
		{"", 0},
		{"d", 0},
		{"0d", 0},
		{"0h", 0},
		{"-7d", 0},
		{"-48h", 0},
		{"+7d", 0},
		{"1.5d", 0},
		{"7 d", 0},
		{" 7d", 0},
		{"7D", 0},
		{"7", 0},
		{"3651d", 0},
		{"87601h", 0},
		{"99999999d", 0},
		{"9223372036854775807ns", 0},
		{"7dd", 0},
		{"1w", 0},
		{strings.Repeat("1", 40) + "h", 0},
	} {
		got, err := parseWindow(tc.in)
		if tc.want == 0 {
			// One fixed message for every refusal: it says what is
			// accepted and never echoes the input.
			if err == nil {
				t.Errorf("%q: accepted as %v", tc.in, got)
			} else if err.Error() != `a window of time is whole days ("7d") or hours ("48h"), more than zero and at most 3650 days` {
				t.Errorf("%q: error %q", tc.in, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%q: %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}

// FuzzParseWindow: any text either parses to a window within bounds that
// prints back the same length of time, or is refused with the fixed
// message; never a panic.
func FuzzParseWindow(f *testing.F) {
	for _, s := range []string{"7d", "48h", "36h30m", "0d", "-1d", "3651d", "1.5h", "9999999999999999999d", "", "d", "7dd"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := parseWindow(s)
		if err != nil {
			if d != 0 || !strings.HasPrefix(err.Error(), "a window of time is") {
				t.Fatalf("%q: %v, %v", s, d, err)
			}
			return
		}
		if d <= 0 || d > maxWindow {
			t.Fatalf("%q: accepted out of bounds: %v", s, d)
		}
		if days, ok := strings.CutSuffix(s, "d"); ok {
			if again, err := parseWindow(days + "d"); err != nil || again != d || d%(24*time.Hour) != 0 {
				t.Fatalf("%q: days not whole: %v", s, d)
			}
		} else if again, err := time.ParseDuration(s); err != nil || again != d {
			t.Fatalf("%q: %v but ParseDuration says %v, %v", s, d, again, err)
		}
	})
}
