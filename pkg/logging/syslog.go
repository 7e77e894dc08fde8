package logging

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"
)

// Facility is a syslog facility code (RFC 3164 §4.1.1; the value is not
// shifted: mail is 2).
type Facility int

// facilities are the names the original courierlogger's -facility= accepts
// on Linux (it leaves out the BSD-only console and security).
var facilities = map[string]Facility{
	"kern": 0, "user": 1, "mail": 2, "daemon": 3, "auth": 4, "lpr": 6,
	"news": 7, "uucp": 8, "cron": 9, "authpriv": 10, "ftp": 11,
	"local0": 16, "local1": 17, "local2": 18, "local3": 19,
	"local4": 20, "local5": 21, "local6": 22, "local7": 23,
}

// ParseFacility returns the facility of a name such as "mail" or "local3".
func ParseFacility(name string) (Facility, error) {
	f, ok := facilities[name]
	if !ok {
		return 0, fmt.Errorf("unknown syslog facility %q (use mail, daemon, auth, authpriv, user, local0 ... local7, kern, lpr, news, uucp, cron or ftp)", name)
	}
	return f, nil
}

// Severity is a syslog severity (RFC 3164 §4.1.1): 0 is the most severe.
type Severity int

// The syslog severities.
const (
	SevEmerg Severity = iota
	SevAlert
	SevCrit
	SevErr
	SevWarning
	SevNotice
	SevInfo
	SevDebug
)

// Levels beyond slog's four, so that every syslog severity can be logged.
const (
	LevelNotice = slog.Level(2)
	LevelCrit   = slog.Level(12)
	LevelAlert  = slog.Level(16)
	LevelEmerg  = slog.Level(20)
)

// SeverityOf maps a slog level to the syslog severity it is logged with.
func SeverityOf(l slog.Level) Severity {
	switch {
	case l < slog.LevelInfo:
		return SevDebug
	case l < LevelNotice:
		return SevInfo
	case l < slog.LevelWarn:
		return SevNotice
	case l < slog.LevelError:
		return SevWarning
	case l < LevelCrit:
		return SevErr
	case l < LevelAlert:
		return SevCrit
	case l < LevelEmerg:
		return SevAlert
	}
	return SevEmerg
}

// DefaultSocket is where the system logger listens.
const DefaultSocket = "/dev/log"

// SocketEnv names an environment variable that, when set, replaces
// DefaultSocket. It exists for tests, which stand up their own datagram
// socket and point the programs they start at it; it is ignored by
// processes running setuid or setgid, so that a user cannot divert their
// log lines.
const SocketEnv = "COURIER_SYSLOG_SOCKET"

// DefaultWriteTimeout bounds one send to the system logger, so that a
// stuck syslog daemon delays a log call at most this long.
const DefaultWriteTimeout = time.Second

// MaxMessage bounds the message part of one syslog line; longer messages
// are cut (at a character boundary) and marked with "...". A datagram the
// socket refuses as too long would otherwise be lost, and rsyslog's default
// limit is 8 KiB for the whole line anyway.
const MaxMessage = 8000

// retryAfter is how long a Syslog that could not deliver waits before it
// tries the socket again; meanwhile Send fails at once.
const retryAfter = 10 * time.Second

// SocketPath returns the syslog socket to use: path when not empty, else
// $COURIER_SYSLOG_SOCKET (see SocketEnv), else DefaultSocket.
func SocketPath(path string) string {
	if path != "" {
		return path
	}
	if p := os.Getenv(SocketEnv); p != "" && os.Getuid() == os.Geteuid() && os.Getgid() == os.Getegid() {
		return p
	}
	return DefaultSocket
}

// SyslogConfig configures a Syslog.
type SyslogConfig struct {
	Ident        string        // program name in every line
	PID          int           // shown as ident[PID]; 0 leaves it out
	Facility     Facility      //
	Path         string        // socket; see SocketPath
	WriteTimeout time.Duration // 0: DefaultWriteTimeout
}

// Syslog sends messages to the local system logger the way the C library's
// syslog(3) does: one RFC 3164 line "<PRI>Mmm dd hh:mm:ss ident[pid]: msg"
// per message over the Unix socket, as a datagram, or NUL-terminated when
// the socket is a stream socket. It is safe for concurrent use.
type Syslog struct {
	cfg SyslogConfig

	mu        sync.Mutex
	conn      net.Conn
	stream    bool
	downUntil time.Time
	lastErr   error
	buf       []byte
}

// NewSyslog returns a Syslog and tries to connect at once (like
// openlog(LOG_NDELAY)), so that a process that later chroots or drops
// privileges keeps its connection. A failure is not an error here: Send
// reports it, and tries again later.
func NewSyslog(cfg SyslogConfig) *Syslog {
	cfg.Path = SocketPath(cfg.Path)
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = DefaultWriteTimeout
	}
	s := &Syslog{cfg: cfg}
	s.mu.Lock()
	if err := s.dial(); err != nil {
		s.setDown(err)
	}
	s.mu.Unlock()
	return s
}

// Path returns the socket the Syslog sends to.
func (s *Syslog) Path() string { return s.cfg.Path }

func (s *Syslog) dial() error {
	c, err := net.DialTimeout("unixgram", s.cfg.Path, s.cfg.WriteTimeout)
	if err == nil {
		s.conn, s.stream = c, false
		return nil
	}
	c, err2 := net.DialTimeout("unix", s.cfg.Path, s.cfg.WriteTimeout)
	if err2 == nil {
		s.conn, s.stream = c, true
		return nil
	}
	return fmt.Errorf("cannot connect to the system logger at %s: %w", s.cfg.Path, unwrapNet(err))
}

func unwrapNet(err error) error {
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		var sys *os.SyscallError
		if errors.As(op.Err, &sys) {
			return sys.Err
		}
		return op.Err
	}
	return err
}

// Send logs msg with the configured ident, pid and facility.
func (s *Syslog) Send(sev Severity, msg string) error {
	return s.SendAs(sev, s.cfg.Ident, s.cfg.PID, time.Now(), msg)
}

// SendAs logs msg under another ident and pid (0: none) with timestamp t.
// On a write error it reconnects and tries once more; if that fails too,
// it returns the error, and for the next 10 seconds Send returns that error
// at once instead of trying again, so that logging never stalls a daemon.
func (s *Syslog) SendAs(sev Severity, ident string, pid int, t time.Time, msg string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn == nil {
		if time.Now().Before(s.downUntil) {
			return s.lastErr
		}
		if err := s.dial(); err != nil {
			return s.setDown(err)
		}
	}
	s.buf = AppendRFC3164(s.buf[:0], int(s.cfg.Facility)*8+int(sev), t, ident, pid, truncate(msg, MaxMessage))
	err := s.write()
	if err == nil {
		return nil
	}
	// The logger may have restarted (a new socket at the same path):
	// reconnect once.
	s.conn.Close()
	s.conn = nil
	if derr := s.dial(); derr != nil {
		return s.setDown(derr)
	}
	if err = s.write(); err != nil {
		s.conn.Close()
		s.conn = nil
		return s.setDown(fmt.Errorf("cannot write to the system logger at %s: %w", s.cfg.Path, unwrapNet(err)))
	}
	return nil
}

func (s *Syslog) setDown(err error) error {
	s.downUntil = time.Now().Add(retryAfter)
	s.lastErr = err
	return err
}

func (s *Syslog) write() error {
	if err := s.conn.SetWriteDeadline(time.Now().Add(s.cfg.WriteTimeout)); err != nil {
		return err
	}
	p := s.buf
	if s.stream {
		// A stream carries no message boundaries: glibc ends each
		// message with a NUL byte, which syslog daemons accept.
		p = append(p, 0)
	}
	_, err := s.conn.Write(p)
	return err
}

// Close closes the connection.
func (s *Syslog) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn == nil {
		return nil
	}
	err := s.conn.Close()
	s.conn = nil
	return err
}

// truncate cuts msg to at most max bytes, not inside a UTF-8 sequence.
func truncate(msg string, max int) string {
	if len(msg) <= max {
		return msg
	}
	cut := max - 3
	for i := 0; i < utf8.UTFMax && cut > 0 && !utf8.RuneStart(msg[cut]); i++ {
		cut--
	}
	return msg[:cut] + "..."
}

// AppendRFC3164 appends one syslog line as glibc's syslog(3) formats it:
// "<PRI>Mmm dd hh:mm:ss ident[pid]: msg" (day padded with a space, local
// time, "[pid]" only when pid is not 0).
func AppendRFC3164(b []byte, pri int, t time.Time, ident string, pid int, msg string) []byte {
	b = append(b, '<')
	b = strconv.AppendInt(b, int64(pri), 10)
	b = append(b, '>')
	b = t.AppendFormat(b, time.Stamp)
	b = append(b, ' ')
	b = append(b, ident...)
	if pid != 0 {
		b = append(b, '[')
		b = strconv.AppendInt(b, int64(pid), 10)
		b = append(b, ']')
	}
	b = append(b, ':', ' ')
	return append(b, msg...)
}
