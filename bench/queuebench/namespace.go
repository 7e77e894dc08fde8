package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

const realLocals = "/etc/courier/locals"

// courierInNamespace measures the real Courier from a copy of this program
// running in a private mount namespace. The peers' setup makes example.test
// a hosted domain, but when /etc/courier/locals also lists it (this machine's
// does), Courier strips the domain and looks up "bench", which does not
// exist: every message bounces. In the namespace a locals file without the
// domain is bound over the real one, for the daemons start-courier.sh starts
// there and for every sendmail; /etc/courier itself is not changed. Without
// that conflict the namespace is not needed.
func (b *bench) courierInNamespace() (*result, error) {
	// Set up here, so -teardown (kept by this process) undoes it.
	if err := b.ensure(courierSetUp, "setup-courier.sh", "teardown-courier.sh"); err != nil {
		return nil, err
	}
	clash, err := localsLists(realLocals, domain)
	if err != nil {
		return nil, err
	}
	if !clash {
		return b.measure("courier")
	}
	dir, err := os.MkdirTemp("", "queuebench-ns-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	data, err := os.ReadFile(realLocals)
	if err != nil {
		return nil, err
	}
	var keep []string
	for _, l := range strings.Split(string(data), "\n") {
		if !strings.EqualFold(strings.TrimSpace(l), domain) {
			keep = append(keep, l)
		}
	}
	locals := filepath.Join(dir, "locals")
	if err := os.WriteFile(locals, []byte(strings.Join(keep, "\n")), 0o644); err != nil {
		return nil, err
	}
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	resultPath := filepath.Join(dir, "result.json")
	// The flags given to this process, except the target list and
	// -teardown (this process tears down what it set up).
	var childArgs []string
	flag.Visit(func(f *flag.Flag) {
		if f.Name != "targets" && f.Name != "teardown" && f.Name != "result" {
			childArgs = append(childArgs, "-"+f.Name+"="+f.Value.String())
		}
	})
	childArgs = append(childArgs, "-targets=courier", "-result="+resultPath)
	fmt.Fprintf(os.Stderr, "queuebench: %s lists %s: measuring the real Courier in a mount namespace with %s bound over it\n", realLocals, domain, locals)
	script := `mount --bind "$0" ` + realLocals + ` && exec "$@"`
	cmd := exec.Command("unshare", append([]string{"-m", "--propagation", "private", "sh", "-c", script, locals, self}, childArgs...)...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	runErr := cmd.Run()
	rs, err := readResult(resultPath)
	if err != nil {
		return nil, errors.Join(runErr, err)
	}
	if len(rs) != 1 {
		return nil, errors.Join(runErr, errors.New("no result from the namespace"))
	}
	return rs[0], runErr
}

func localsLists(path, d string) (bool, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if strings.EqualFold(strings.TrimSpace(sc.Text()), d) {
			return true, nil
		}
	}
	return false, sc.Err()
}

// resultJSON is result with exported fields, for the namespace's report.
type resultJSON struct {
	Name                                       string
	Submitted, One, Five                       int
	SubmitTime, SubmitDrain, OneTime, FiveTime int64
	SendmailErrors                             int64
	Held                                       *heldResult
	SMTP                                       *smtpResult
	Out                                        *outResult
}

func writeResult(path string, rs []*result) error {
	var out []resultJSON
	for _, r := range rs {
		out = append(out, resultJSON{r.name, r.submitted, r.one, r.five, int64(r.submitTime), int64(r.submitDrain), int64(r.oneTime), int64(r.fiveTime), r.sendmailErrors, r.held, r.smtp, r.out})
	}
	data, err := json.Marshal(out)
	if err != nil {
		return err
	}
	return os.WriteFile(path, data, 0o600)
}

func readResult(path string) ([]*result, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var in []resultJSON
	if err := json.Unmarshal(data, &in); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var rs []*result
	for _, j := range in {
		rs = append(rs, &result{name: j.Name, submitted: j.Submitted, one: j.One, five: j.Five,
			submitTime: durationNS(j.SubmitTime), submitDrain: durationNS(j.SubmitDrain), oneTime: durationNS(j.OneTime), fiveTime: durationNS(j.FiveTime), sendmailErrors: j.SendmailErrors, held: j.Held, smtp: j.SMTP, out: j.Out})
	}
	return rs, nil
}
