// Command authpam is authdaemond's PAM helper: it reads PAM requests on
// standard input and answers them on standard output (see pkg/auth/pamwire).
// authdaemond starts it when authmodulelist names authpam; it is not meant
// to be run by hand.
package main

import (
	"fmt"
	"os"

	"github.com/gocourier/courier/pkg/auth/pamhelper"
)

const usage = `Usage: authpam
authdaemond's PAM helper. It reads one request a line on standard input
("AUTH service user password rhost" or "PASSWD service user old new rhost",
fields percent-escaped) and answers each with OK, FAIL <reason> or TEMP <reason>.
authdaemond starts it for the authpam module; it is not run by hand.
`

func main() {
	if len(os.Args) > 1 {
		if os.Args[1] == "--help" || os.Args[1] == "-h" {
			fmt.Print(usage)
			return
		}
		fmt.Fprint(os.Stderr, usage)
		os.Exit(1)
	}
	if err := pamhelper.Serve(os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
