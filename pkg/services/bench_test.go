package services

import (
	"io"
	"log/slog"
	"testing"

	"github.com/gocourier/courier/pkg/layout"
	"github.com/gocourier/courier/test/testenv"
)

// BenchmarkLoadDebian measures reading the whole Debian configuration into
// specs, which courierd does at start and on every SIGHUP.
func BenchmarkLoadDebian(b *testing.B) {
	testenv.NeedPackage(b, "courier-mta", "/etc/courier/esmtpd", "/etc/courier/imapd", "/etc/courier/pop3d")
	l, err := layout.ForPreset("debian", "/")
	if err != nil {
		b.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	for i := 0; i < b.N; i++ {
		if _, err := Load(l, nil, log); err != nil {
			b.Fatal(err)
		}
	}
}
