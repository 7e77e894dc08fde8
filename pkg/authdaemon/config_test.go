package authdaemon

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/gocourier/courier/pkg/config"
	"github.com/gocourier/courier/pkg/layout"
	"github.com/gocourier/courier/test/testenv"
)

// etc/authdaemonrc.dist reads as the defaults the comments promise, and its
// sections are the original's names and revisions (so sysconftool keeps an
// upgraded Debian file's settings).
func TestDistFile(t *testing.T) {
	root, err := testenv.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(root, "etc", "authdaemonrc.dist")
	l, _ := layout.ForPreset("debian", "/")
	c, err := LoadConfig(path, l)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c.ModuleList, []string{"authuserdb", "authpam"}) || c.Daemons != 5 || c.Debug != 0 ||
		c.DefaultOptions != "" || c.SocketDir != "/run/courier/authdaemon" || c.LoginCacheTTL != 5*time.Minute || len(c.Warnings) != 0 {
		t.Errorf("defaults: %+v", c)
	}
	data, _ := os.ReadFile(path)
	_, sections, err := config.SplitSections(path, data)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range sections {
		names = append(names, s.Marker)
	}
	want := []string{"##NAME: authmodulelist:3", "##NAME: authmodulelistorig:4", "##NAME: daemons:0", "##NAME: authdaemonvar:2",
		"##NAME: DEBUG_LOGIN:0", "##NAME: DEFAULTOPTIONS:0", "##NAME: LOGGEROPTS:0", "##NAME: LDAP_TLS_OPTIONS:0", "##NAME: LOGIN_CACHE_TTL:0"}
	if !reflect.DeepEqual(names, want) {
		t.Errorf("sections %q", names)
	}
}

func TestLoadConfig(t *testing.T) {
	dir := t.TempDir()
	l, _ := layout.ForPreset("sandbox", dir)
	path := filepath.Join(dir, "authdaemonrc")
	write := func(s string) {
		if err := os.WriteFile(path, []byte(s), 0o640); err != nil {
			t.Fatal(err)
		}
	}
	write("authmodulelist=\"authpwd\"\ndaemons=x\nDEBUG_LOGIN=7\nLOGIN_CACHE_TTL=1h\nLOGGEROPTS=\"-facility=local3\"\nX_SITE=1\n")
	c, err := LoadConfig(path, l)
	if err != nil {
		t.Fatal(err)
	}
	if c.Daemons != 1 || c.Debug != 0 || len(c.Warnings) != 2 || c.LoginCacheTTL != time.Hour || c.Facility() != "local3" ||
		c.SocketDir != l.AuthdaemonVar || os.Getenv("X_SITE") != "1" {
		t.Errorf("%+v (facility %q)", c, c.Facility())
	}
	// A variable dropped from the file is dropped from the environment.
	write("authmodulelist=\"authpwd\"\ndaemons=3\nLOGIN_CACHE_TTL=-5\n")
	c, err = LoadConfig(path, l)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := os.LookupEnv("X_SITE"); ok || c.Daemons != 3 || c.LoginCacheTTL != DefaultLoginCacheTTL || len(c.Warnings) != 1 {
		t.Errorf("after the reload: %+v", c)
	}
	write("authdaemonvar=relative/dir\n")
	if _, err := LoadConfig(path, l); err == nil || !strings.Contains(err.Error(), "absolute") {
		t.Errorf("relative authdaemonvar: %v", err)
	}
	write("authmodulelist=\"unterminated\n")
	if _, err := LoadConfig(path, l); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("bad syntax: %v", err)
	}
}
