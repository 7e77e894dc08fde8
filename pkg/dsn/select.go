package dsn

import (
	"strings"

	"github.com/gocourier/courier/pkg/address"
	"github.com/gocourier/courier/pkg/queue"
)

// Kind is the event a report is about.
type Kind int

const (
	// Final reports, once no recipient is deferred any more, failures
	// (including expired and cancelled recipients) and, when NOTIFY=SUCCESS
	// asked for it, local deliveries and relays to gateways without DSN
	// support. The scheduler passes it as host "final".
	Final Kind = iota
	// Delay warns that recipients are still deferred after warntime. The
	// scheduler passes it as host "delay".
	Delay
)

// String is the dsn module's host name for the kind: "final" or "delay".
func (k Kind) String() string {
	if k == Delay {
		return "delay"
	}
	return "final"
}

// ParseKind maps the host column of a dsn delivery line to a Kind. "deferred"
// is the original courierd's name for a delay warning.
func ParseKind(host string) (Kind, bool) {
	switch host {
	case "final":
		return Final, true
	case "delay", "deferred":
		return Delay, true
	}
	return Final, false
}

// TripleBounce is the envelope sender of a report about a message whose own
// sender was <>: such a report goes to the postmaster and is never reported on
// again (spec §7).
const TripleBounce = "#@[]"

// Needed reports whether a report of kind k would say anything: whether at
// least one recipient is to be reported (spec §3 "Delay DSN", §7). The
// scheduler asks before it hands a message to the dsn module.
func Needed(c *queue.Control, k Kind, s Settings) bool {
	for i := range c.Recipients {
		if reportTo(c, i, k, s) != "" {
			return true
		}
	}
	return false
}

// reportTo decides whether recipient i belongs in a report of kind k and, if
// so, to whom the report goes; "" means not reported. It follows the
// original's rules (comdsn2.c):
//   - the report goes to the sender, or with DSNTOAUTHADDR to the
//     authenticated address when that has an '@';
//   - for a final report every recipient not delivered counts as failed;
//   - with an empty sender only failures are reported, to the postmaster,
//     unless NOTIFY was given without FAILURE;
//   - a sender of TripleBounce gets nothing;
//   - a success is reported only for local deliveries and relays to gateways
//     without DSN support, and only with NOTIFY=SUCCESS;
//   - a failure is reported unless NOTIFY was given without FAILURE;
//   - a delay warning covers only recipients still waiting (deferred or not
//     yet attempted): with NOTIFY=DELAY, or when NOTIFY was not given and
//     DSNDEFAULTNOTIFYDELAY is on.
func reportTo(c *queue.Control, i int, k Kind, s Settings) string {
	r := &c.Recipients[i]
	sender := c.Sender
	if s.ToAuthAddr && strings.Contains(c.AuthUser, "@") {
		sender = c.AuthUser
	}
	notify := r.Notify
	delivered := r.Status == queue.StatusDelivered
	if sender == "" {
		if k == Final && !delivered && (notify == 0 || notify&address.NotifyFailure != 0) {
			return "postmaster"
		}
		return ""
	}
	if sender == TripleBounce {
		return ""
	}
	switch {
	case delivered:
		if k == Delay || r.SuccessSuffix == queue.SuccessRelayedDSN || notify&address.NotifySuccess == 0 {
			return ""
		}
	case k == Final:
		if notify != 0 && notify&address.NotifyFailure == 0 {
			return ""
		}
	case r.Status == queue.StatusFailed:
		// A delay warning covers only recipients still waiting.
		return ""
	default:
		if notify != 0 && notify&address.NotifyDelay == 0 || notify == 0 && !s.DefaultNotifyDelay {
			return ""
		}
	}
	return sender
}
