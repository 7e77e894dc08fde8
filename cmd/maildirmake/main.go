// Command maildirmake creates maildirs and folders, sets maildir quotas and
// links sharable maildirs, with the options, messages and exit codes of
// Courier's maildirmake (maildirmake(1); spec/maildir.md §9):
//
//	maildirmake [-S] [-q quota] [-f folder | -F folder] [-s mode] maildir
//	maildirmake --add name=/path maildir
//	maildirmake --del name maildir
//	maildirmake --checkutf8|--convutf8 maildir [maildirfilter]
//
// Exit 0 on success, 1 on errors and usage errors, 2 when --add names a
// maildir that is already defined.
package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"syscall"

	"github.com/gocourier/courier/pkg/layout"
	"github.com/gocourier/courier/pkg/maildir"
)

const usageLine = "Usage: maildirmake [ options ] maildir"

const help = usageLine + `

Creates a maildir (tmp/, new/, cur/; mode 0700), or with -f a folder in an
existing maildir, and maintains quotas and shared folders.

  -S             make a sharable maildir (mode 0755)
  -q quota       set the quota, e.g. 1000000S,500C (bytes S, messages C);
                 creates the maildir if missing, else recounts it
  -f folder      create folder (UTF-8, '.' separates levels) in the maildir
  -F folder      the same, folder typed in the locale's character set; '.',
                 '/', ':', '\' and '~' are kept inside one level as \ooo
  -s mode        with -f, in a sharable maildir: read, write[,group]
  --add name=/path   list the sharable maildir /path as name
  --del name         remove name from the list
  --checkutf8 maildir    report how folder names in modified UTF-7 (Courier
                         before 1.0) would be renamed to UTF-8
  --convutf8 maildir     do it, including courierimapsubscribed
`

func usage() {
	fmt.Println(usageLine)
	os.Exit(1)
}

func main() {
	args := os.Args[1:]
	var folder, quota, addShared, delShared string
	haveFolder, haveQuota := false, false
	perm := os.FileMode(0o700)
	mustHaveFolder := false
	argn := 0
	// Options are parsed as the original does: "-fName" and "-f Name"
	// alike, and the first argument not starting with '-' ends them.
	value := func(opt string) string {
		if v := args[argn][len(opt):]; v != "" || argn+1 >= len(args) {
			return v
		}
		argn++
		return args[argn]
	}
	for ; argn < len(args); argn++ {
		a := args[argn]
		if a == "" || a[0] != '-' || a == "-" {
			break
		}
		switch {
		case a == "--help" || a == "-h":
			fmt.Print(help)
			os.Exit(0)
		case strings.HasPrefix(a, "-f"):
			folder, haveFolder = value("-f"), true
		case strings.HasPrefix(a, "-F"):
			raw := value("-F")
			utf, err := maildir.ToUTF8(raw, maildir.LocaleCharset(os.Getenv))
			if err != nil {
				fmt.Fprintf(os.Stderr, "Cannot convert %s to maildir encoding: %v\n", raw, err)
				os.Exit(1)
			}
			folder, haveFolder = maildir.EscapeFolderName(utf), true
		case a == "-S":
			perm = 0o755
		case strings.HasPrefix(a, "-s"):
			perm = sharedMode(value("-s"))
			mustHaveFolder = true
		case strings.HasPrefix(a, "-q"):
			quota, haveQuota = value("-q"), true
		case a == "--add" && argn+1 < len(args):
			argn++
			addShared = args[argn]
		case a == "--del" && argn+1 < len(args):
			argn++
			delShared = args[argn]
		case (a == "--checkutf8" || a == "--convutf8") && argn+1 < len(args):
			filter := ""
			if argn+2 < len(args) {
				filter = args[argn+2]
			}
			os.Exit(convertUTF8(args[argn+1], filter, a == "--convutf8"))
		default:
			usage()
		}
	}
	if argn >= len(args) {
		usage()
	}
	dir := args[argn]

	switch {
	case addShared != "":
		name, path, ok := strings.Cut(addShared, "=")
		if !ok || !strings.HasPrefix(path, "/") {
			usage()
		}
		if _, err := os.Stat(dir); err != nil {
			fail(err, 1)
		}
		err := maildir.AddShared(dir, name, path, layout.Current().Config("maildirshared"))
		switch {
		case errors.Is(err, maildir.ErrSharedExists):
			fmt.Fprintf(os.Stderr, "%v.\n", err)
			os.Exit(2)
		case errors.Is(err, maildir.ErrSharedName):
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		case err != nil:
			fail(err, 1)
		}
		os.Exit(0)
	case delShared != "":
		err := maildir.DelShared(dir, delShared)
		switch {
		case errors.Is(err, maildir.ErrSharedNotFound):
			fmt.Fprintf(os.Stderr, "%v.\n", err)
			os.Exit(1)
		case err != nil:
			fail(err, 1)
		}
		os.Exit(0)
	}

	if haveFolder {
		if err := maildir.ValidFolderName(folder); err != nil {
			if strings.HasPrefix(folder, ".") {
				fmt.Printf("Invalid folder name: %s\n", folder)
			} else {
				fmt.Printf("Invalid folder name: %s (%v)\n", folder, err)
			}
			os.Exit(1)
		}
		dir = dir + "/." + folder
	} else if mustHaveFolder {
		usage()
	}

	if haveQuota {
		spec, err := maildir.ParseQuotaSpec(quota)
		if err != nil {
			fmt.Fprintf(os.Stderr, "maildirmake: %v\n", err)
			os.Exit(1)
		}
		if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
			if err := maildir.Make(dir, perm&^0o022, perm&^0o022, haveFolder); err != nil {
				fail(err, 1)
			}
		}
		if err := maildir.SetQuota(dir, spec); err != nil {
			fail(err, 1)
		}
		os.Exit(0)
	}

	subdirPerm := perm
	if !haveFolder {
		subdirPerm = 0o700
	}
	if err := maildir.Make(dir, perm&^0o022, subdirPerm, haveFolder); err != nil {
		fail(err, 1)
	}
}

// convertUTF8 is --checkutf8 (doit false) and --convutf8, with the
// original's report lines. A maildrop filter written by SqWebMail can be
// named; converting it is not supported, so an existing one stops the
// conversion before anything changes.
func convertUTF8(dir, filter string, doit bool) int {
	fmt.Printf("Checking %s:\n", dir)
	if filter != "" {
		if _, err := os.Stat(filter); err == nil {
			fmt.Fprintf(os.Stderr, "Error: %s: converting SqWebMail mail filters is not supported; convert it by hand, then run again without it\n", filter)
			return 1
		}
	}
	plan, err := maildir.PlanUTF8(dir)
	if err != nil {
		var list interface{ Unwrap() []error }
		if errors.As(err, &list) {
			for _, e := range list.Unwrap() {
				fmt.Fprintf(os.Stderr, "Error: %v\n", e)
			}
		} else {
			fmt.Fprintf(os.Stderr, "Error: %v\n", err)
		}
		return 1
	}
	for _, s := range plan.Subscriptions {
		fmt.Printf("Subscription to %s changed to %s\n", s[0], s[1])
	}
	for _, r := range plan.Renames {
		fmt.Printf("Rename %s to %s\n", r[0], r[1])
	}
	subs := dir + "/" + maildir.SubscriptionsFile
	if !doit {
		if plan.HaveSubscriptions {
			fmt.Printf("Verified %s\n", subs)
		}
		return 0
	}
	if err := plan.Apply(); err != nil {
		fmt.Fprintf(os.Stderr, "FATAL ERROR: %v\n", err)
		return 1
	}
	if plan.HaveSubscriptions {
		fmt.Printf("Updating %s\n", subs)
	}
	return 0
}

// sharedMode turns -s's keyword list into the folder's mode: read makes it
// readable by everyone (0755), write writable by everyone with the sticky
// bit (01777), group limits either to the owner's group.
func sharedMode(spec string) os.FileMode {
	perm := os.FileMode(0o755)
	for _, w := range strings.FieldsFunc(spec, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' }) {
		switch w[0] {
		case 'r':
			perm = 0o755
		case 'w':
			perm = 0o777 | os.ModeSticky
		case 'g':
			perm &^= 0o007
		}
	}
	return perm
}

// fail prints err the way the original's perror() does ("maildirmake:
// path: File exists") and exits.
func fail(err error, code int) {
	var pe *fs.PathError
	var errno syscall.Errno
	switch {
	case errors.As(err, &pe) && errors.As(pe.Err, &errno):
		msg := errno.Error()
		fmt.Fprintf(os.Stderr, "maildirmake: %s: %s\n", pe.Path, strings.ToUpper(msg[:1])+msg[1:])
	default:
		fmt.Fprintf(os.Stderr, "maildirmake: %v\n", err)
	}
	os.Exit(code)
}
