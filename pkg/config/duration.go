package config

import (
	"fmt"
	"math"
	"strings"
	"time"
)

// ParseDuration reads a Courier time interval (queuetime, warntime,
// retryalpha, respawnlo, esmtptimeout...): numbers each followed by a unit
// w (weeks), d, h, m or s, upper or lower case, optionally separated by
// blanks ("1w2d", "4h", "5 m"); a number without a unit, only allowed last,
// is seconds ("300"). This is the syntax of Courier's config_readtime
// (spec, aliases-and-control-files.md). Where Courier silently stops at a
// character it does not know, this rejects the value, so an admin's typo is
// reported instead of turning into a zero interval.
func ParseDuration(s string) (time.Duration, error) {
	var total int64
	i := 0
	skip := func() {
		for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n') {
			i++
		}
	}
	skip()
	if i == len(s) {
		return 0, fmt.Errorf("empty time interval: want for example 300, 5m, 4h or 1w2d")
	}
	for i < len(s) {
		start := i
		var n int64
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			if n > (math.MaxInt64/int64(time.Second))/10 {
				return 0, fmt.Errorf("time interval %q is too large", s)
			}
			n = n*10 + int64(s[i]-'0')
			i++
		}
		if i == start {
			return 0, fmt.Errorf("bad time interval %q: want a number before %q", s, unitAt(s, i))
		}
		skip()
		unit := int64(1)
		if i < len(s) {
			switch s[i] {
			case 's', 'S':
			case 'm', 'M':
				unit = 60
			case 'h', 'H':
				unit = 60 * 60
			case 'd', 'D':
				unit = 24 * 60 * 60
			case 'w', 'W':
				unit = 7 * 24 * 60 * 60
			case '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
				return 0, fmt.Errorf("bad time interval %q: a number without a unit (seconds) must come last", s)
			default:
				return 0, fmt.Errorf("bad time interval %q: unknown unit %q (use w, d, h, m or s)", s, unitAt(s, i))
			}
			i++
			skip()
		}
		limit := int64(math.MaxInt64 / int64(time.Second))
		if n > limit/unit || total > limit-n*unit {
			return 0, fmt.Errorf("time interval %q is too large", s)
		}
		total += n * unit
	}
	return time.Duration(total) * time.Second, nil
}

func unitAt(s string, i int) string {
	r := []rune(strings.ToValidUTF8(s[i:], "?"))
	if len(r) == 0 {
		return ""
	}
	return string(r[0])
}
