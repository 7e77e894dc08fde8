// Command courier controls the Courier mail server: start, stop and restart
// courierd, the supervisor of every service; flush the queue; show and clear
// the backscatter suppression list.
package main

import (
	"fmt"
	"os"
	"time"

	"github.com/gocourier/courier/pkg/layout"
	"github.com/gocourier/courier/pkg/mailq"
	"github.com/gocourier/courier/pkg/privsep"
	"github.com/gocourier/courier/pkg/supervise"
	"github.com/gocourier/courier/pkg/track"
)

const usage = `Usage: courier start|stop|restart|flush [queue-id]|clear <address>|clear all|show all

  start       start courierd, which starts every configured service, and
              report what was started and where
  stop        stop courierd and every service, and wait until they are gone
  restart     make courierd re-read the configuration: services whose
              configuration changed are restarted, and so is the scheduler
              with its transport modules (they read the control files
              once); the SMTP servers re-read the control files and the
              access database; the others keep running
  flush       try every queued message now (or only the one with this
              queue id, as mailq shows it)
  clear       remove an address (or all) from the backscatter suppression
              list: mail to it is accepted again at once
  show all    list the addresses on the backscatter suppression list
  --version   print the version
`

func main() {
	args := os.Args[1:]
	if len(args) == 1 {
		switch args[0] {
		case "--help", "-h", "-help":
			fmt.Print(usage)
			return
		case "--version":
			fmt.Println(mailq.VersionLine)
			return
		}
	}
	if len(args) == 0 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(1)
	}
	l := layout.Current()
	switch args[0] {
	case "flush":
		if len(args) > 2 {
			break
		}
		os.Exit(mailq.Flush(args[1:], os.Stdout, os.Stderr))
	case "clear":
		if len(args) != 2 {
			break
		}
		os.Exit(clear(l, args[1]))
	case "show":
		if len(args) != 2 || args[1] != "all" {
			break
		}
		os.Exit(show(l))
	case "start", "stop", "restart":
		if len(args) != 1 {
			break
		}
		c := &supervise.Control{
			PidFile: supervise.PidPath(l.RunDir),
			Program: l.ProgramPath("courierd"),
			Stdout:  os.Stdout,
			Stderr:  os.Stderr,
		}
		var err error
		switch args[0] {
		case "start":
			err = c.Start()
		case "stop":
			err = c.Stop()
		case "restart":
			err = c.Restart()
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "courier:", err)
			os.Exit(1)
		}
		return
	default:
		fmt.Fprintf(os.Stderr, "courier: unknown command %q\n%s", args[0], usage)
		os.Exit(1)
	}
	fmt.Fprint(os.Stderr, usage)
	os.Exit(1)
}

// asMailUser makes root write the track files as the courier user, who owns
// them (the original's libmail_changeuidgid(MAILUID, MAILGID)).
func asMailUser(l layout.Layout) error {
	if !privsep.IsRoot() {
		return nil
	}
	c, err := privsep.MailCredential(l.MailUser, l.MailGroup)
	if err != nil {
		return err
	}
	return privsep.Drop(c)
}

func clear(l layout.Layout, addr string) int {
	if err := asMailUser(l); err != nil {
		fmt.Fprintln(os.Stderr, "courier:", err)
		return 1
	}
	t := track.Open(l.LocalstateDir)
	if addr == "all" {
		if err := t.ClearAll(time.Now()); err != nil {
			fmt.Fprintln(os.Stderr, "courier:", err)
			return 1
		}
		return 0
	}
	if err := t.Clear(addr, time.Now()); err != nil {
		fmt.Fprintln(os.Stderr, "courier:", err)
		return 1
	}
	fmt.Printf("%s cleared.\n", addr)
	return 0
}

func show(l layout.Layout) int {
	if err := asMailUser(l); err != nil {
		fmt.Fprintln(os.Stderr, "courier:", err)
		return 1
	}
	addrs, err := track.Open(l.LocalstateDir).List(time.Now())
	for _, a := range addrs {
		fmt.Println(a)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "courier:", err)
		return 1
	}
	return 0
}
