//go:build tools

// Package tools pins the modules the suite is built on while packages are
// being written, so that concurrent work does not race on go.mod.
package tools

import (
	_ "github.com/emersion/go-imap/v2"
	_ "github.com/emersion/go-message"
	_ "github.com/emersion/go-sasl"
	_ "github.com/emersion/go-smtp"
	_ "github.com/gdamore/tcell/v2"
	_ "github.com/go-crypt/crypt"
	_ "go.etcd.io/bbolt"
	_ "golang.org/x/sys/unix"
)
