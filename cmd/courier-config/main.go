// Command courier-config prints the installation configuration the suite was
// built with, in the form of the original courier-config: one name=value per
// line. With -layout it prints another preset instead (the install scripts
// use this to learn where a layout puts each kind of file).
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/gocourier/courier/pkg/layout"
)

func main() {
	fs := flag.NewFlagSet("courier-config", flag.ContinueOnError)
	preset := fs.String("layout", "", "print the named layout preset (debian, courier, sandbox) instead of this build's")
	root := fs.String("root", "/", "with -layout: the tree root (DESTDIR, or the sandbox directory)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: courier-config [-layout=PRESET [-root=DIR]]\n\n"+
			"Prints the directories and the mail user this installation uses, one name=value per line.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(os.Args[1:]); err != nil {
		if err == flag.ErrHelp {
			fs.SetOutput(os.Stdout)
			fs.Usage()
			os.Exit(0)
		}
		os.Exit(1)
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "courier-config: unexpected argument %q\n", fs.Arg(0))
		os.Exit(1)
	}
	l := layout.Current()
	if *preset != "" {
		var err error
		if l, err = layout.ForPreset(*preset, *root); err != nil {
			fmt.Fprintf(os.Stderr, "courier-config: %v\n", err)
			os.Exit(1)
		}
	}
	if err := layout.WriteConfig(os.Stdout, l); err != nil {
		fmt.Fprintf(os.Stderr, "courier-config: %v\n", err)
		os.Exit(1)
	}
}
