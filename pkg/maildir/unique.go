package maildir

import (
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

var (
	hostOnce sync.Once
	hostPart string

	// collisions numbers the extra "_<n>" part added to a temporary name
	// when another goroutine of this process took the same microsecond.
	collisions atomic.Uint64
)

// hostname returns this machine's name as it appears in message file names:
// '/' and ':' would break the path and the info suffix, so they are written
// as the octal escapes \057 and \072 (spec/maildir.md §2).
func hostname() string {
	hostOnce.Do(func() {
		h, err := os.Hostname()
		if err != nil || h == "" {
			h = "localhost"
		}
		h = strings.ReplaceAll(h, "/", `\057`)
		hostPart = strings.ReplaceAll(h, ":", `\072`)
	})
	return hostPart
}

// nameParts are the pieces of a message file name known before the file
// exists. Courier names the file in tmp/ "<time>.M<usec>P<pid>[_<uniq>].<host>"
// (plus ",S=<size>" when the size is known in advance) and the file in new/
// the same with "V<dev>I<inode>" of the tmp file inserted after the pid and
// the actual size appended (maildircreate.c).
type nameParts struct {
	sec, usec int64
	pid       int
	uniq      string
	host      string
}

func newNameParts(now time.Time, uniq string) nameParts {
	return nameParts{
		sec:  now.Unix(),
		usec: int64(now.Nanosecond() / 1000),
		pid:  os.Getpid(),
		uniq: uniq,
		host: hostname(),
	}
}

func (p nameParts) prefix(b []byte) []byte {
	b = strconv.AppendInt(b, p.sec, 10)
	b = append(b, ".M"...)
	b = strconv.AppendInt(b, p.usec, 10)
	b = append(b, 'P')
	return strconv.AppendInt(b, int64(p.pid), 10)
}

func (p nameParts) suffix(b []byte) []byte {
	if p.uniq != "" {
		b = append(b, '_')
		b = append(b, p.uniq...)
	}
	b = append(b, '.')
	return append(b, p.host...)
}

// tmpName is the file's name in tmp/.
func (p nameParts) tmpName(expectedSize int64) string {
	b := make([]byte, 0, 96)
	b = p.prefix(b)
	b = p.suffix(b)
	if expectedSize > 0 {
		b = append(b, ",S="...)
		b = strconv.AppendInt(b, expectedSize, 10)
	}
	return string(b)
}

// finalName is the file's name in new/ (or, before the info, in cur/). The
// size is always written, also for an empty message, so that readers never
// need to stat. vsize < 0 leaves ",W=" out, as Courier does.
func (p nameParts) finalName(dev, ino uint64, size, vsize int64) string {
	b := make([]byte, 0, 128)
	b = p.prefix(b)
	b = append(b, 'V')
	b = appendHex16(b, dev)
	b = append(b, 'I')
	b = appendHex16(b, ino)
	b = p.suffix(b)
	b = append(b, ",S="...)
	b = strconv.AppendInt(b, size, 10)
	if vsize >= 0 {
		b = append(b, ",W="...)
		b = strconv.AppendInt(b, vsize, 10)
	}
	return string(b)
}

// appendHex16 writes v as 16 upper-case, zero-padded hex digits, the width
// Courier uses for 64-bit dev_t and ino_t (numlib strh_dev_t/strh_ino_t).
func appendHex16(b []byte, v uint64) []byte {
	const digits = "0123456789ABCDEF"
	for shift := 60; shift >= 0; shift -= 4 {
		b = append(b, digits[(v>>uint(shift))&0xF])
	}
	return b
}
