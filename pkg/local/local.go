// Package local owns local mail delivery: the courierlocal transport
// module (spec dot-courier.md, queue-and-courierd.md §3; the original's
// module.local: courierlocal, courierdeliver and the rewriting of local.C).
//
// Process model. courierlocal is started by the scheduler and stays root. It
// reads delivery lines with module.Serve; for each recipient it reads the
// control file, resolves the address (address.Rules.Resolve with the control
// files' rules), looks the account up through authdaemond (service
// "courier"), falls back through the -default files and the aliasdir
// pseudo-user, refuses uid 0 and uids below MINUID, and hands the delivery
// to a delivery worker: courierlocal itself, re-executed with the hidden
// argument "--deliver-worker", running as the recipient (uid, gid, groups),
// with the courierd configuration's environment, kept for further deliveries
// to the same identity (worker.go). For each delivery the worker enters the
// home directory and, with umask 077, does what the original's
// courierdeliver did (child.go): reads the .courier file, writes mailboxes
// and runs programs, writes forwarding addresses and messages to two pipes
// of the parent, and answers with a sysexits status. Only the root parent touches the queue: it appends the I/S/F/D
// records (Queue.Append, which writes concurrent results for one control
// file in one fsynced write), submits forwarded copies through pkg/submit and logs the
// original's syslog lines. On the delivery's time limit (control file
// localtimeout, default 15 minutes) the parent kills the worker's process
// group (SIGTERM, SIGKILL 10 s later) and records a deferral.
//
// Deliberate differences from the original: the account lookup happens in
// courierlocal, not in the scheduler's routing, and its answer is reused
// for two seconds (authCacheTTL); a recipient refused for its
// uid fails permanently with a message naming the rule; several recipients
// in one delivery line are delivered one after the other instead of being
// refused (MAXRCPT=1 is still what module.local sets); an unreadable (not
// missing) .courier file or one that does not parse defers the mail instead
// of falling back to the default delivery; a delivery child killed while it
// writes an mbox truncates it and defers (the original reports success).
package local

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/gocourier/courier/pkg/address"
	"github.com/gocourier/courier/pkg/authlib"
	"github.com/gocourier/courier/pkg/controlfiles"
	"github.com/gocourier/courier/pkg/dotcourier"
	"github.com/gocourier/courier/pkg/layout"
	"github.com/gocourier/courier/pkg/module"
	"github.com/gocourier/courier/pkg/privsep"
	"github.com/gocourier/courier/pkg/queue"
	"github.com/gocourier/courier/pkg/safeio"
	"github.com/gocourier/courier/pkg/submit"
)

// DefaultTimeout is the delivery time limit when the localtimeout control
// file is missing (localmail.c: 15 minutes).
const DefaultTimeout = 15 * time.Minute

// killGrace is how long a stuck delivery gets between SIGTERM and SIGKILL
// (moduledel.c).
const killGrace = 10 * time.Second

// maxMessages is how much of the child's standard error is kept for the
// control file (localmail.c msgbuf).
const maxMessages = 4096

// Service is the authlib service name of local delivery lookups.
const Service = "courier"

// Module is the courierlocal parent.
type Module struct {
	Layout   layout.Layout
	Files    *controlfiles.Files
	Queue    *queue.Queue
	Auth     *authlib.Client
	Submit   *submit.Submitter
	Log      *slog.Logger
	Self     string   // the courierlocal executable, re-executed as delivery workers
	Env      []string // environment of delivery children
	MinUID   uint32   // MINUID: lowest uid that may receive mail
	DotExt   string   // dotextension control file
	Maildrop string   // maildrop control file, "" when maildrop is not installed
	AliasDir string   // sysconfdir/aliasdir
	Timeout  time.Duration

	workers pool // idle delivery workers per identity (worker.go)

	authTTL   time.Duration // how long authdaemond's answers are kept; 0: not at all
	authMu    sync.Mutex
	authCache map[string]authEntry // recent authdaemond answers (pre)

	aliasOnce sync.Once
	aliasCred privsep.Credential
	aliasErr  error
}

// moduleVars are variables the scheduler sets for the module itself; the
// delivery children do not see them.
var moduleVars = map[string]bool{"MAXDELS": true, "MAXHOST": true, "MAXRCPT": true, "COURIER_MODULE": true, "COURIER_HOME": true}

// New prepares the module of the installation l with the environment the
// scheduler gave it.
func New(l layout.Layout, environ []string, log *slog.Logger) (*Module, error) {
	files, err := controlfiles.Load(l.SysconfDir)
	if err != nil {
		return nil, err
	}
	m, err := newLookup(l, files, environ, log)
	if err != nil {
		return nil, err
	}
	m.authTTL = authCacheTTL
	if m.Timeout, err = files.Duration("localtimeout", DefaultTimeout); err != nil {
		return nil, err
	}
	md, err := files.Value("maildrop", "/usr/bin/maildrop")
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(md); err == nil {
		m.Maildrop = md
	}
	if m.Self, err = os.Executable(); err != nil {
		return nil, err
	}
	owner, err := queue.MailOwner(l.MailUser, l.MailGroup)
	if err != nil {
		return nil, err
	}
	if m.Queue, err = queue.Open(l.LocalstateDir, queue.Options{Logger: log, Owner: owner}); err != nil {
		return nil, err
	}
	if m.Submit, err = submit.OpenOptions(l, submit.Options{Logger: log}); err != nil {
		return nil, fmt.Errorf("forwarding: %w", err)
	}
	return m, nil
}

// newLookup makes a Module with what account lookups need: the control
// files, the authdaemond client, the aliasdir, dotextension and MINUID, and
// the environment of delivery children (environ without the module's own
// variables).
func newLookup(l layout.Layout, files *controlfiles.Files, environ []string, log *slog.Logger) (*Module, error) {
	m := &Module{Layout: l, Files: files, Auth: authlib.NewClient(), Log: log, AliasDir: l.Config("aliasdir"), MinUID: 1}
	m.Auth.Socket = filepath.Join(l.AuthdaemonVar, "socket")
	var err error
	if m.DotExt, err = files.Value("dotextension", ""); err != nil {
		return nil, err
	}
	for _, kv := range environ {
		k, v, _ := strings.Cut(kv, "=")
		if moduleVars[k] {
			continue
		}
		if k == "MINUID" {
			n, err := strconv.ParseUint(v, 10, 32)
			if err != nil {
				return nil, fmt.Errorf("MINUID=%q in the courierd configuration is not a uid", v)
			}
			m.MinUID = uint32(n)
		}
		m.Env = append(m.Env, kv)
	}
	return m, nil
}

// Close releases what New opened.
func (m *Module) Close() error {
	if m.Submit != nil {
		return m.Submit.Close()
	}
	return nil
}

// Handle is the module.Handler: it delivers to every recipient of the line
// and records each result before it returns.
func (m *Module) Handle(ctx context.Context, d module.Delivery) string {
	ctl, err := m.Queue.Load(d.Inode)
	if err != nil {
		m.Log.Error(fmt.Sprintf("id=%s: cannot read the control file, delivery skipped: %v", d.QueueID, err))
		return ""
	}
	for _, r := range d.Recipients {
		if r.Index < 0 || r.Index >= len(ctl.Recipients) {
			m.Log.Error(fmt.Sprintf("id=%s: recipient index %d out of range (the message has %d); invalid line from the scheduler", d.QueueID, r.Index, len(ctl.Recipients)))
			continue
		}
		m.deliver(ctx, d, ctl, r.Index)
	}
	return ""
}

// result is the outcome of one recipient.
type result struct {
	info   []string // I<n> R lines before the final record
	status queue.Status
	reply  string // text of the final record's I line, "" for none
}

func (m *Module) deliver(ctx context.Context, d module.Delivery, ctl *queue.Control, idx int) {
	rcpt := ctl.Recipients[idx].Address
	res := m.attempt(ctx, d, ctl, idx)
	m.record(d, ctl, idx, rcpt, res)
}

// record appends the records and logs the original's lines
// (comctlfile.c ctlfile_append_info / ctlfile_append_reply).
func (m *Module) record(d module.Delivery, ctl *queue.Control, idx int, rcpt string, res result) {
	now := time.Now()
	prefix := fmt.Sprintf("id=%s,from=<%s>,addr=<%s>", ctl.ID, ctl.Sender, rcpt)
	var recs []queue.Record
	for _, line := range res.info {
		recs = append(recs, queue.Info(idx, queue.InfoReply, line))
		m.Log.Info(prefix + ": " + line)
	}
	replyLines := splitLines(res.reply)
	for _, line := range replyLines {
		recs = append(recs, queue.Info(idx, queue.InfoReply, line))
	}
	switch res.status {
	case queue.StatusDelivered:
		recs = append(recs, queue.Delivered(idx, now, queue.SuccessLocal))
		size := ""
		if st, err := os.Stat(m.Queue.DataPath(d.Inode)); err == nil && st.Size() > 0 {
			size = ",size=" + strconv.FormatInt(st.Size(), 10)
		}
		m.Log.Info(prefix + size + ",success: " + res.reply)
	case queue.StatusFailed:
		recs = append(recs, queue.Failed(idx, now))
		for _, line := range replyLines {
			m.Log.Info(prefix + ": " + line)
		}
		m.Log.Info(prefix + ",status: failure")
	default:
		recs = append(recs, queue.Deferred(idx, now))
		for _, line := range replyLines {
			m.Log.Info(prefix + ": " + line)
		}
		m.Log.Info(prefix + ",status: deferred")
	}
	if err := m.Queue.AppendSyncLater(d.Inode, recs...); err != nil {
		m.Log.Error(fmt.Sprintf("id=%s,addr=<%s>: cannot record the delivery result in the control file: %v", ctl.ID, rcpt, err))
	}
}

func splitLines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		l = strings.TrimSuffix(l, "\r")
		if l != "" {
			out = append(out, l)
		}
	}
	return out
}

func deferred(text string) result { return result{status: queue.StatusDeferred, reply: text} }
func failed(text string) result   { return result{status: queue.StatusFailed, reply: text} }

// account is a resolved recipient: who the delivery runs as.
type account struct {
	user     string // USER
	home     string
	ext      string
	cred     privsep.Credential
	maildir  string
	quota    string
	aliasDir bool
}

// lookup finds the account of rcpt (local.C rw_del_local2 and
// local_callback). The error result is final.
func (m *Module) lookup(ctx context.Context, rcpt string) (account, *result) {
	unknown := func() (account, *result) {
		r := failed("550 User <" + ACE(rcpt) + "> unknown")
		return account{}, &r
	}
	tempfail := func() (account, *result) {
		r := deferred("450 Service temporarily unavailable.")
		return account{}, &r
	}
	addr, err := address.ParseAddress(rcpt, true)
	if err != nil {
		return unknown()
	}
	res, ok := m.Files.Rules.Resolve(addr)
	if !ok {
		return unknown()
	}
	for _, lk := range res.Lookups {
		var acct account
		if lk.AliasDir {
			cred, err := m.aliasCredential()
			if err != nil {
				m.Log.Error(fmt.Sprintf("aliasdir deliveries run as the mail user %s, which cannot be looked up: %v", m.Layout.MailUser, err))
				return tempfail()
			}
			acct = account{user: "alias", home: m.AliasDir, ext: lk.Ext, cred: cred, aliasDir: true}
		} else {
			a, err := m.pre(ctx, lk.Account)
			if errors.Is(err, authlib.ErrFail) {
				continue
			}
			if err != nil {
				m.Log.Warn(fmt.Sprintf("looking up %s with authdaemond: %v", lk.Account, err))
				return tempfail()
			}
			if acct, err = m.accountOf(a, lk); err != nil {
				m.Log.Log(ctx, slog.LevelError+4, err.Error())
				return tempfail()
			}
		}
		if acct.ext != "" {
			if _, err := dotcourier.Find(acct.home, acct.ext, m.DotExt); errors.Is(err, os.ErrNotExist) {
				return unknown()
			}
		}
		if !acct.aliasDir {
			if err := privsep.RequireMailboxOwner(acct.cred.UID, m.MinUID); err != nil {
				m.Log.Error(fmt.Sprintf("%s: delivery refused: %v", rcpt, err))
				r := failed(fmt.Sprintf("550 Delivery to account %s refused: %v", acct.user, err))
				return account{}, &r
			}
		} else if acct.cred.UID == 0 {
			r := failed("550 aliasdir deliveries would run as root; the mail user must not be root")
			return account{}, &r
		}
		return acct, nil
	}
	return unknown()
}

// authCacheTTL is how long the module keeps an account's authdaemond
// answer for further deliveries. The original asks for every delivery; a
// burst of mail to one account then costs a round trip to authdaemond
// each, about a tenth of the module's work. A change to an account (its
// uid, home, maildir or quota) is seen at most this much later; unknown
// accounts and errors are never kept, so a new account receives mail at
// once. RCPT-time checks (Verifier) ask every time.
const authCacheTTL = 2 * time.Second

// authCacheMax bounds the cache; when it is full, expired answers are
// dropped, and if none has expired, all of them.
const authCacheMax = 4096

type authEntry struct {
	a    *authlib.Account
	when time.Time
}

// pre looks the account up through authdaemond, or takes its answer from
// the last authTTL.
func (m *Module) pre(ctx context.Context, name string) (*authlib.Account, error) {
	if m.authTTL <= 0 {
		return m.Auth.Pre(ctx, Service, name)
	}
	now := time.Now()
	m.authMu.Lock()
	e, ok := m.authCache[name]
	m.authMu.Unlock()
	if ok && now.Sub(e.when) < m.authTTL {
		return e.a, nil
	}
	a, err := m.Auth.Pre(ctx, Service, name)
	if err != nil {
		return nil, err
	}
	m.authMu.Lock()
	defer m.authMu.Unlock()
	if len(m.authCache) >= authCacheMax {
		for k, e := range m.authCache {
			if now.Sub(e.when) >= m.authTTL {
				delete(m.authCache, k)
			}
		}
		if len(m.authCache) >= authCacheMax {
			clear(m.authCache)
		}
	}
	if m.authCache == nil {
		m.authCache = map[string]authEntry{}
	}
	m.authCache[name] = authEntry{a, now}
	return a, nil
}

// accountOf turns an authlib answer into the identity of the delivery.
func (m *Module) accountOf(a *authlib.Account, lk address.Lookup) (account, error) {
	acct := account{user: a.Address, home: a.Home, ext: lk.Ext, maildir: a.Maildir, quota: a.Quota}
	if acct.user == "" {
		acct.user = lk.Account
	}
	if a.Home == "" || strings.ContainsAny(a.Home, "\n") || strings.ContainsAny(a.Maildir, "\n") {
		return acct, fmt.Errorf("invalid home directory or maildir for %s: empty or with a newline", lk.Account)
	}
	acct.cred = privsep.Credential{UID: a.UID, GID: a.GID, Groups: []uint32{a.GID}}
	if !a.HasUID {
		u, err := privsep.LookupUser(a.Username)
		if err != nil {
			return acct, fmt.Errorf("getpw(%s) failed - returned by authlib: %v", a.Username, err)
		}
		acct.cred.UID = u.UID
		if groups, err := privsep.UserGroups(u.Name, a.GID); err == nil {
			acct.cred.Groups = groups
		}
	}
	return acct, nil
}

func (m *Module) aliasCredential() (privsep.Credential, error) {
	m.aliasOnce.Do(func() {
		m.aliasCred, m.aliasErr = privsep.MailCredential(m.Layout.MailUser, m.Layout.MailGroup)
	})
	return m.aliasCred, m.aliasErr
}

// attempt delivers to recipient idx and says what to record.
func (m *Module) attempt(ctx context.Context, d module.Delivery, ctl *queue.Control, idx int) result {
	r := ctl.Recipients[idx]
	acct, fail := m.lookup(ctx, r.Address)
	if fail != nil {
		return *fail
	}
	data, err := safeio.Open(m.Queue.DataPath(d.Inode), syscall.O_RDONLY, 0)
	if err != nil {
		m.Log.Error(fmt.Sprintf("id=%s: %v", ctl.ID, err))
		return deferred("Unable to read message file.")
	}
	defer data.Close()
	sender := verpSender(ctl, r.Address)
	job := Job{User: acct.user, Home: acct.home, Ext: acct.ext, Recipient: r.Address, Sender: sender,
		Quota: acct.quota, Maildir: acct.maildir, DotExt: m.DotExt, Maildrop: m.Maildrop}
	run, err := m.runChild(ctx, job, acct.cred, data)
	if err != nil {
		return deferred(errnoText(acct.home, err))
	}
	res := result{info: splitLines(run.messages)}
	if run.timedOut {
		res.status = queue.StatusDeferred
		res.reply = fmt.Sprintf("Delivery did not finish within %v (localtimeout); it was stopped and will be retried.", m.Timeout)
		return res
	}
	var fwdErr error
	if len(run.forwards) > 0 {
		fwdErr = m.forward(ctl, r, sender, data, run.forwards)
	}
	switch {
	case run.signaled:
		res.status = queue.StatusFailed
	case run.code == exOK || run.code == exStop:
		if fwdErr != nil {
			res.status = queue.StatusFailed
			res.reply = "The following error occured when trying to forward this message: \n" + fwdErr.Error()
		} else {
			res.status = queue.StatusDelivered
			res.reply = "Message delivered."
		}
	case permanent(run.code):
		res.status = queue.StatusFailed
	default:
		res.status = queue.StatusDeferred
	}
	return res
}

// permanent reports whether a delivery exit status is a permanent failure
// (spec dot-courier.md §4; 70 EX_SOFTWARE too).
func permanent(code int) bool {
	switch code {
	case 64, 65, 67, 68, 69, exSoftware, 76, 77, 78, 100, 112:
		return true
	}
	return false
}

// childRun is what a delivery child did.
type childRun struct {
	code     int
	signaled bool
	timedOut bool
	messages string
	forwards []string
}

// runChild runs one delivery in a worker running as the recipient
// (worker.go) and collects its reports.
func (m *Module) runChild(ctx context.Context, job Job, cred privsep.Credential, data *os.File) (childRun, error) {
	var run childRun
	w, err := m.getWorker(cred)
	if err != nil {
		return run, err
	}
	fwdR, fwdW, err := pipe()
	if err != nil {
		m.putWorker(w)
		return run, err
	}
	msgR, msgW, err := pipe()
	if err != nil {
		fwdR.Close()
		syscall.Close(fwdW)
		m.putWorker(w)
		return run, err
	}
	err = w.send(job.args(), int(data.Fd()), fwdW, msgW)
	syscall.Close(fwdW)
	syscall.Close(msgW)
	if err != nil {
		fwdR.Close()
		msgR.Close()
		w.close()
		return run, fmt.Errorf("handing the delivery to its worker: %w", err)
	}
	var wg sync.WaitGroup
	var msgs []byte
	var fwds []string
	wg.Add(2)
	go func() {
		defer wg.Done()
		msgs = readLimited(msgR, maxMessages)
	}()
	go func() {
		defer wg.Done()
		fwds = readLines(fwdR)
	}()
	type answer struct {
		code      int
		homeErr   error
		workerErr error
	}
	answered := make(chan answer, 1)
	go func() {
		code, homeErr, err := w.reply()
		answered <- answer{code, homeErr, err}
	}()
	var a answer
	select {
	case a = <-answered:
	case <-ctx.Done():
		run.timedOut = true
		m.Log.Error(fmt.Sprintf("Error: stuck delivery, PID %d, sending signal %d", w.pid, int(syscall.SIGTERM)))
		w.kill(syscall.SIGTERM)
		select {
		case <-w.done:
		case <-time.After(killGrace):
			m.Log.Error(fmt.Sprintf("Error: stuck delivery, PID %d, sending signal %d", w.pid, int(syscall.SIGKILL)))
			w.kill(syscall.SIGKILL)
			<-w.done
		}
		// Whatever else of the group still holds the pipes is killed too.
		w.kill(syscall.SIGKILL)
		a = <-answered
	}
	readersDone := make(chan struct{})
	go func() { wg.Wait(); close(readersDone) }()
	select {
	case <-readersDone:
	case <-ctx.Done():
		// A program left running in the background holds the pipes.
		fwdR.Close()
		msgR.Close()
		<-readersDone
	}
	fwdR.Close()
	msgR.Close()
	run.messages, run.forwards = string(msgs), fwds
	switch {
	case run.timedOut:
		w.close()
	case a.workerErr != nil:
		// The worker died in the middle of the delivery: as the
		// original treats a delivery killed by a signal.
		w.close()
		run.signaled = true
	case a.homeErr != nil:
		m.putWorker(w)
		return run, a.homeErr
	default:
		m.putWorker(w)
		run.code = a.code
	}
	return run, nil
}

// pipe makes a pipe whose read end the parent reads through the runtime's
// poller and whose write end, a bare descriptor, only goes to the worker:
// os.Pipe would make both ends non-blocking and register them, and handing
// the write end over would undo that again.
func pipe() (*os.File, int, error) {
	var p [2]int
	if err := syscall.Pipe2(p[:], syscall.O_CLOEXEC); err != nil {
		return nil, -1, fmt.Errorf("pipe: %w", err)
	}
	if err := syscall.SetNonblock(p[0], true); err != nil {
		syscall.Close(p[0])
		syscall.Close(p[1])
		return nil, -1, fmt.Errorf("pipe: %w", err)
	}
	return os.NewFile(uintptr(p[0]), "pipe"), p[1], nil
}

// readLimited keeps the first n bytes of r and drains the rest.
func readLimited(r io.Reader, n int) []byte {
	buf, _ := io.ReadAll(io.LimitReader(r, int64(n)))
	io.Copy(io.Discard, r)
	return buf
}

// readLines reads forwarding addresses, one per line (at most 1023 bytes
// each, as localmail.c fwdbuf keeps).
func readLines(r io.Reader) []string {
	data, _ := io.ReadAll(r)
	var out []string
	for _, l := range strings.Split(string(data), "\n") {
		if len(l) > 1023 {
			l = l[:1023]
		}
		if l != "" {
			out = append(out, l)
		}
	}
	return out
}

// forward submits a copy of the message to the addresses the .courier file
// named (localmail.c dofwd): module "local", the original envelope sender,
// NOTIFY=FAILURE, the recipient's ORCPT (else the recipient) as ORCPT, and
// "Delivered-To: <recipient>" in front of the message, which is what stops a
// forwarding loop.
func (m *Module) forward(ctl *queue.Control, r queue.RecipientState, sender string, data *os.File, addrs []string) error {
	orcpt := r.ORCPT
	if orcpt == "" {
		orcpt = r.Address
	}
	env := queue.Envelope{Sender: sender, ReceivedFrom: "dns; localhost (localhost [127.0.0.1])", Source: "local"}
	for _, a := range addrs {
		env.Recipients = append(env.Recipients, queue.Recipient{Address: a, ORCPT: orcpt, Notify: address.NotifyFailure})
	}
	if _, err := data.Seek(0, io.SeekStart); err != nil {
		return err
	}
	body := io.MultiReader(strings.NewReader("Delivered-To: "+ACE(r.Address)+"\n"), data)
	id, err := m.Submit.Submit(&submit.Message{Module: "local", Envelope: env, AddHeaders: true,
		Trace: &submit.Trace{Ident: "forwarded by " + ACE(r.Address)}}, body)
	if err != nil {
		return err
	}
	m.Log.Info(fmt.Sprintf("id=%s,addr=<%s>: forwarded to %s as %s", ctl.ID, r.Address, strings.Join(addrs, ", "), id))
	return nil
}

// verpSender is the return address of a VERP message for recipient rcpt
// (comverp.c verp_getsender): "user-<encoded rcpt>@domain".
func verpSender(ctl *queue.Control, rcpt string) string {
	s := ctl.Sender
	at := strings.LastIndexByte(s, '@')
	if s == "" || !ctl.VERP || at < 0 {
		return s
	}
	return s[:at] + "-" + verpEncode(rcpt) + s[at:]
}

func verpEncode(rcpt string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(rcpt); i++ {
		c := rcpt[i]
		rest := rcpt[i+1:]
		if c == '@' && strings.IndexByte(rest, '@') < 0 {
			b.WriteByte('=')
			continue
		}
		if c == '=' && strings.IndexByte(rcpt[i:], '@') >= 0 {
			b.WriteByte(c)
			continue
		}
		switch c {
		case '=', '@', ':', '%', '!', '+', '-', '[', ']':
			b.WriteByte('+')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&15])
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}
