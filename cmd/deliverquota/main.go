// Command deliverquota delivers the message on standard input to a maildir,
// enforcing its Maildir++ quota, like Courier's deliverquota
// (deliverquota(8); spec/maildir.md §3):
//
//	deliverquota [-c] [-w percent] [-W file] maildir [quota]
//
// -c creates the maildir (and its parents) when missing; -w N delivers the
// quota warning (-W file, default /etc/courier/quotawarnmsg) once a day
// while the maildir is at least N% full; quota sets a new quota, as
// maildirmake -q.
//
// Exit codes, as the original: 0 delivered; 77 (EX_NOPERM) over quota when
// standard input is a regular file, whose size is checked before delivery;
// 75 (EX_TEMPFAIL) over quota when it is a pipe (checked after reading),
// and when the maildir cannot be written; 73 usage.
package main

import (
	"errors"
	"fmt"
	"os"
	"strconv"

	"github.com/gocourier/courier/pkg/layout"
	"github.com/gocourier/courier/pkg/maildir"
)

const (
	exTempFail = 75
	exNoPerm   = 77
	exUsage    = 73 // what the original exits with on a usage error
)

func usage() {
	fmt.Fprintf(os.Stderr, "Usage: %s [-c] [-w percent] maildir\n", os.Args[0])
	os.Exit(exUsage)
}

func main() {
	args := os.Args[1:]
	create := false
	warnPercent := -1
	warnFile := ""
	i := 0
	for ; i < len(args); i++ {
		switch {
		case args[i] == "--help":
			fmt.Printf("Usage: %s [-c] [-w percent] [-W file] maildir [quota]\n\n"+
				"Delivers the message on standard input to maildir within its quota.\n"+
				"  -c          create the maildir and missing parents\n"+
				"  -w percent  deliver a quota warning when the maildir is this full\n"+
				"  -W file     the warning message (default %s)\n"+
				"  quota       set a new quota first, e.g. 1000000S,500C\n"+
				"Exit 0 delivered, 77 over quota (file input), 75 over quota (pipe) or temporary error.\n",
				os.Args[0], layout.Current().Config("quotawarnmsg"))
			os.Exit(0)
		case args[i] == "-c":
			create = true
			continue
		case args[i] == "-w" && i+1 < len(args):
			n, err := strconv.Atoi(args[i+1])
			if err != nil || n < 0 || n > 100 {
				usage()
			}
			warnPercent = n
			i++
			continue
		case args[i] == "-W" && i+1 < len(args):
			warnFile = args[i+1]
			i++
			continue
		}
		break
	}
	if i >= len(args) {
		usage()
	}
	dirPath := args[i]
	var override maildir.QuotaSpec
	if i+1 < len(args) {
		var err error
		if override, err = maildir.ParseQuotaSpec(args[i+1]); err != nil {
			fmt.Fprintf(os.Stderr, "deliverquota: %v\n", err)
			os.Exit(exUsage)
		}
	}

	if create {
		if err := maildir.MkdirAll(dirPath); err != nil {
			fmt.Fprintf(os.Stderr, "deliverquota: %v\n", err)
			os.Exit(exTempFail)
		}
	}
	d, err := maildir.OpenDir(dirPath)
	if err != nil {
		fmt.Fprintf(os.Stderr, "deliverquota: %v\n", err)
		os.Exit(exTempFail)
	}
	d.Quota = override

	opt := maildir.DeliverOptions{Mode: 0o666}
	overQuota := exTempFail
	if st, err := os.Stdin.Stat(); err == nil && st.Mode().IsRegular() && st.Size() > 0 {
		// A spooled message: its size is known, so the quota is checked
		// before anything is written.
		opt.Size = st.Size()
		overQuota = exNoPerm
	}
	if _, err := d.Deliver(os.Stdin, opt); err != nil {
		if errors.Is(err, maildir.ErrOverQuota) {
			if overQuota == exNoPerm {
				warn(dirPath, warnPercent, warnFile)
			}
			fmt.Println("Mail quota exceeded.")
			os.Exit(overQuota)
		}
		fmt.Fprintf(os.Stderr, "deliverquota: %v\n", err)
		os.Exit(exTempFail)
	}
	warn(dirPath, warnPercent, warnFile)
}

// warn delivers the quota warning if one is due. A warning that cannot be
// sent is reported but does not fail the delivery.
func warn(dir string, percent int, file string) {
	if percent < 0 {
		return
	}
	if _, err := maildir.QuotaWarning(dir, percent, file, layout.Current().Config("quotawarnmsg")); err != nil {
		fmt.Fprintf(os.Stderr, "deliverquota: %v\n", err)
	}
}
