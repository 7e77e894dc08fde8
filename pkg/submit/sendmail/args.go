package sendmail

import (
	"fmt"
	"strings"

	"github.com/gocourier/courier/pkg/address"
)

// Args are sendmail's command line (spec queue-and-courierd.md §6,
// sendmail(1)).
type Args struct {
	Sender     string // -f (also -r): envelope sender as given; "" with HasSender is <>
	HasSender  bool
	FullName   string // -F: the From: display name
	HasName    bool
	Notify     address.Notify // -N: never | success,fail,delay
	Ret        string         // -R full|hdrs: "F" or "H"
	EnvID      string         // -V: ENVID as given (stored xtext-encoded)
	Security   string         // -S NONE|STARTTLS
	ToStdout   bool           // -n: print the rewritten message, queue nothing
	BccOnly    bool           // -bcc: recipients from Bcc: only
	SMTP       bool           // -bs: ESMTP on stdin/stdout
	ListQueue  bool           // -bp: mailq
	VERP       bool           // -verp
	Help       bool           // --help
	Recipients []string       // the address arguments
}

// valueOptions take a value, in the same argument ("-fuser") or the next
// ("-f user"). The original knows o f F R N S V; B C h L O p r X are the
// real sendmail's value options, taken here so that their value is not
// mistaken for a recipient.
const valueOptions = "ofFRNSVBChLOprX"

// rmailOptions are the options rmail accepts (sendmail(1) RMAIL).
var rmailOptions = []string{"-f", "-verp", "-N", "-R", "-V", "-o", "-t"}

// ParseArgs parses sendmail's arguments (without the program name); rmail
// restricts them as the original does. Options end at the first argument
// that does not start with '-', or after "-" or "--". Unknown flags are
// ignored, as sendmail(1) says of -o, -t, -q and the like.
func ParseArgs(args []string, rmail bool) (*Args, error) {
	a := &Args{}
	i := 0
	for i < len(args) {
		arg := args[i]
		if len(arg) == 0 || arg[0] != '-' {
			break
		}
		i++
		if arg == "-" || arg == "--" {
			break
		}
		if rmail && arg != "--help" && !hasAnyPrefix(arg, rmailOptions) {
			return nil, fmt.Errorf("rmail: invalid option %s", arg)
		}
		switch arg {
		case "-verp":
			a.VERP = true
			continue
		case "-bcc":
			a.BccOnly = true
			continue
		case "-bs":
			a.SMTP = true
			continue
		case "-bp":
			a.ListQueue = true
			continue
		case "--help":
			a.Help = true
			continue
		}
		c := arg[1]
		if c == 'n' {
			a.ToStdout = true
			continue
		}
		if !strings.ContainsRune(valueOptions, rune(c)) {
			continue // -t, -i, -oi, -q..., -bm, -v ...: nothing to do
		}
		val := arg[2:]
		if val == "" && i < len(args) {
			val = args[i]
			i++
		}
		if err := a.set(c, val); err != nil {
			return nil, err
		}
	}
	a.Recipients = args[i:]
	if rmail && len(a.Recipients) == 0 && !a.Help {
		return nil, fmt.Errorf("rmail: missing recipients")
	}
	return a, nil
}

func hasAnyPrefix(s string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

func (a *Args) set(c byte, val string) error {
	switch c {
	case 'f', 'r':
		a.Sender, a.HasSender = val, true
	case 'F':
		a.FullName, a.HasName = val, true
	case 'N':
		n, err := parseNotify(val)
		if err != nil {
			return err
		}
		a.Notify = n
	case 'R':
		switch strings.ToLower(val) {
		case "full":
			a.Ret = "F"
		case "hdrs":
			a.Ret = "H"
		default:
			return fmt.Errorf("sendmail: invalid option -R %s: use -R full (return the whole message in delivery reports) or -R hdrs (only its headers)", val)
		}
	case 'S':
		switch s := strings.ToUpper(val); s {
		case "NONE", "STARTTLS":
			a.Security = s
		default:
			return fmt.Errorf("sendmail: invalid option -S %s: the security level is NONE or STARTTLS", val)
		}
	case 'V':
		if strings.ContainsAny(val, "\n\x00") {
			return fmt.Errorf("sendmail: invalid option -V: the envelope id must be one line")
		}
		a.EnvID = val
	}
	return nil
}

// parseNotify reads -N: "never", or a list of success, fail (failure) and
// delay separated by commas or blanks, in any case.
func parseNotify(val string) (address.Notify, error) {
	var n address.Notify
	words := strings.FieldsFunc(val, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' })
	for _, w := range words {
		switch strings.ToLower(w) {
		case "never":
			n |= address.NotifyNever
		case "success":
			n |= address.NotifySuccess
		case "fail", "failure":
			n |= address.NotifyFailure
		case "delay":
			n |= address.NotifyDelay
		default:
			return 0, fmt.Errorf("sendmail: invalid option -N %s: %q is not one of never, success, fail, delay", val, w)
		}
	}
	if len(words) == 0 {
		return 0, fmt.Errorf("sendmail: option -N needs a value: never, or success, fail, delay separated by commas")
	}
	if n&address.NotifyNever != 0 && n != address.NotifyNever {
		return 0, fmt.Errorf("sendmail: invalid option -N %s: never cannot be combined with other values", val)
	}
	return n, nil
}
