package config

import (
	"strings"
	"testing"
	"time"
)

func TestParseDuration(t *testing.T) {
	good := []struct {
		in   string
		want time.Duration
	}{
		{"0", 0},
		{"300", 300 * time.Second},
		{"5m", 5 * time.Minute},
		{"5M", 5 * time.Minute},
		{"4h", 4 * time.Hour},
		{"1w", 7 * 24 * time.Hour},
		{"1w2d3h4m5s", 7*24*time.Hour + 2*24*time.Hour + 3*time.Hour + 4*time.Minute + 5*time.Second},
		{"1W2D", 9 * 24 * time.Hour},
		{"60s", time.Minute},
		{"1h30", time.Hour + 30*time.Second},
		{" 5 m ", 5 * time.Minute},
		{"1h 30m", 90 * time.Minute},
		{"10m\n", 10 * time.Minute},
		{"0m", 0},
		{"2m2m", 4 * time.Minute},
	}
	for _, tc := range good {
		got, err := ParseDuration(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
	bad := []struct{ in, want string }{
		{"", "empty time interval"},
		{"  ", "empty time interval"},
		{"m", `bad time interval "m": want a number before "m"`},
		{"5x", `unknown unit "x"`},
		{"5 3m", `bad time interval "5 3m": a number without a unit (seconds) must come last`},
		{"-5m", `want a number before "-"`},
		{"1.5h", `unknown unit "."`},
		{"soon", `want a number before "s"`},
		{"99999999999999999999", "too large"},
		{"9999999999w", "too large"},
		{"5é", `unknown unit "é"`},
	}
	for _, tc := range bad {
		_, err := ParseDuration(tc.in)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseDuration(%q) error = %v; want it to say %q", tc.in, err, tc.want)
		}
	}
}
