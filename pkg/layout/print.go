package layout

import (
	"bufio"
	"fmt"
	"io"
	"os/user"
)

// WriteConfig prints l as courier-config does, with the mail user's and
// group's numeric ids resolved on this system (-1 when they do not exist).
func WriteConfig(w io.Writer, l Layout) error {
	bw := bufio.NewWriter(w)
	uid, gid := "-1", "-1"
	if u, err := user.Lookup(l.MailUser); err == nil {
		uid = u.Uid
	}
	if g, err := user.LookupGroup(l.MailGroup); err == nil {
		gid = g.Gid
	}
	for _, kv := range l.Vars() {
		fmt.Fprintf(bw, "%s=%s\n", kv[0], kv[1])
		if kv[0] == "mailgroup" {
			fmt.Fprintf(bw, "mailuid=%s\nmailgid=%s\n", uid, gid)
		}
	}
	return bw.Flush()
}
