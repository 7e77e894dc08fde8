package userdb

import (
	"fmt"

	"github.com/gocourier/courier/pkg/passwd"
)

// PasswordFields returns the fields a password change sets in rec for a
// service (spec/userdb.md §4, spec/authdaemon.md §3 PASSWD): the
// <service>pw field if the record has one, else systempw, hashed in the
// scheme of its old value (passwd.SameScheme; DefaultScheme when there was
// none); and every CRAM key the record already has for that service
// (<service>-hmac-<hash>pw, else hmac-<hash>pw), recomputed.
func PasswordFields(rec Record, service, newPassword string) ([]Field, error) {
	has := func(n string) bool { _, ok := rec.Get(n); return ok }
	pwField := "systempw"
	if service != "" && has(service+"pw") {
		pwField = service + "pw"
	}
	old, _ := rec.Get(pwField)
	h, err := passwd.SameScheme(old, newPassword)
	if err != nil {
		return nil, err
	}
	fields := []Field{{Name: pwField, Value: h}}
	for _, alg := range passwd.HMACHashes() {
		name := ""
		switch {
		case service != "" && has(service+"-hmac-"+alg+"pw"):
			name = service + "-hmac-" + alg + "pw"
		case has("hmac-" + alg + "pw"):
			name = "hmac-" + alg + "pw"
		default:
			continue
		}
		key, err := passwd.HMACKey(alg, newPassword)
		if err != nil {
			return nil, err
		}
		fields = append(fields, Field{Name: name, Value: key})
	}
	return fields, nil
}

// ChangePassword is authdaemond's PASSWD for userdb accounts: it rewrites
// the password fields of account name (PasswordFields) in the text file of
// the source that holds it, then rebuilds the .dat files as makeuserdb
// does. The caller has already verified the old password. On a bad source
// nothing is changed.
func ChangePassword(src Source, name, service, newPassword string) error {
	if err := src.CheckSafe(); err != nil {
		return err
	}
	entries, err := src.Read()
	if err != nil {
		return err
	}
	for _, e := range entries {
		if e.Name != name {
			continue
		}
		fields, err := PasswordFields(e.Record, service, newPassword)
		if err != nil {
			return err
		}
		if err := Set(e.File, name, fields); err != nil {
			return err
		}
		if _, err := src.Compile(); err != nil {
			return fmt.Errorf("password of %s changed in %s, but rebuilding %s failed: %w", name, e.File, src.Dat, err)
		}
		return nil
	}
	return fmt.Errorf("account %s not found in %s", name, src.Path)
}
