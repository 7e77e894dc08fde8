package local

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/gocourier/courier/pkg/address"
	"github.com/gocourier/courier/pkg/dotcourier"
	"github.com/gocourier/courier/pkg/logging"
	"github.com/gocourier/courier/pkg/maildir"
	"github.com/gocourier/courier/pkg/mbox"
)

// Exit statuses of the delivery child, sysexits(3) values the original's
// courierdeliver uses; the parent maps them (Outcome).
const (
	exOK       = 0
	exStop     = 99 // success, and no further instructions
	exNoUser   = 67
	exSoftware = 70
	exTempFail = 75
	exNoPerm   = 77
)

// MaxRecursion is how deep "||" instructions may nest (deliver.C: the
// fourth level is refused).
const MaxRecursion = 3

// maxDynamic is how much of a "||" program's output is read (BUFSIZ-1).
const maxDynamic = 8191

// Job is what the delivery child is told: the courierdeliver arguments of the
// original (username homedir ext recipient sender quota maildir) and the two
// control file values it needs.
type Job struct {
	User      string // USER: the account name authlib returned ("alias" for the aliasdir)
	Home      string // HOME; the child runs in it
	Ext       string // the address extension, separators turned into '-'
	Recipient string // the recipient as the control file holds it
	Sender    string // the envelope sender (VERP applied), "" for <>
	Quota     string // authlib QUOTA, MAILDIRQUOTA for programs
	Maildir   string // authlib MAILDIR: the default delivery instead of DEFAULTDELIVERY
	DotExt    string // control file dotextension ("" = courier)
	Maildrop  string // path of maildrop, run directly when a command names it
}

func (j Job) args() []string {
	return []string{j.User, j.Home, j.Ext, j.Recipient, j.Sender, j.Quota, j.Maildir, j.DotExt, j.Maildrop}
}

func parseJob(args []string) (Job, error) {
	if len(args) != 9 {
		return Job{}, fmt.Errorf("the delivery child takes 9 arguments, got %d", len(args))
	}
	return Job{User: args[0], Home: args[1], Ext: args[2], Recipient: args[3], Sender: args[4],
		Quota: args[5], Maildir: args[6], DotExt: args[7], Maildrop: args[8]}, nil
}

// child is one delivery, running as the recipient in its home directory
// (deliver.C). Its standard input is the message (the queue's data file),
// its standard output takes forwarding addresses one per line, its standard
// error the text that ends up in the control file and the bounce.
type child struct {
	job     Job
	msg     *os.File
	fwd     io.Writer
	errw    *os.File
	env     []string
	log     *slog.Logger
	counter int

	uf, dt, rp string // UFLINE, DTLINE, RPLINE
	def        string // DEFAULT
	size       int64

	mailbox *mbox.Mailbox // being written; a termination signal truncates it
}

// exit is how a step ends the delivery with a status.
type exit struct{ code int }

// RunChild is the delivery child's main: it returns the exit status.
func RunChild(args []string, msg *os.File, fwd io.Writer, errw *os.File) int {
	job, err := parseJob(args)
	if err != nil {
		fmt.Fprintln(errw, err)
		return exTempFail
	}
	syscall.Umask(0o077)
	c := &child{job: job, msg: msg, fwd: fwd, errw: errw, env: os.Environ(),
		log: childLog()}
	return c.run()
}

func (c *child) fail(code int, format string, a ...any) {
	fmt.Fprintf(c.errw, format, a...)
	panic(exit{code})
}

func (c *child) run() (code int) {
	defer func() {
		if r := recover(); r != nil {
			e, ok := r.(exit)
			if !ok {
				panic(r)
			}
			code = e.code
		}
	}()
	c.headers(time.Now())
	st, err := c.msg.Stat()
	if err != nil {
		c.fail(exTempFail, "Unable to read message file.\n")
	}
	c.size = st.Size()

	stem := c.job.DotExt
	if stem == "" {
		stem = dotcourier.DefaultExtension
	}
	file, err := dotcourier.Find(".", c.job.Ext, c.job.DotExt)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			c.fail(exNoUser, "Unknown user.\n")
		}
		c.fail(exTempFail, "Unable to read .%s file.\n", stem)
	}
	c.def = file.Default
	content, refusal := c.readFile(file.Name, stem)
	if refusal != "" {
		c.fail(exTempFail, "%s\n", refusal)
	}
	if c.loop() {
		// The original writes this one without a newline.
		c.fail(exSoftware, "Mail loop - already have my Delivered-To: header.")
	}
	var ins []dotcourier.Instruction
	name := file.Name
	if len(content) == 0 {
		name = "default delivery"
		content = []byte(c.defaultDelivery())
	}
	if ins, err = dotcourier.Parse(name, content); err != nil {
		c.fail(exTempFail, "%v\n", err)
	}
	c.execute(ins, 0)
	return exOK
}

// readFile reads the instruction file; a missing one is empty (default
// delivery). A world-writable file is refused (anyone could make the
// recipient run anything). A refusal is the message for the bounce.
func (c *child) readFile(name, stem string) ([]byte, string) {
	f, err := os.Open(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ""
	}
	if err != nil {
		return nil, fmt.Sprintf("Unable to read .%s file: %v", stem, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Sprintf("Unable to read .%s file: %v", stem, err)
	}
	data, err := io.ReadAll(f)
	if err != nil {
		return nil, fmt.Sprintf("Unable to read .%s file: %v", stem, err)
	}
	if st.Mode().Perm()&0o002 != 0 {
		return nil, fmt.Sprintf(".%s file is globally writeable.", stem)
	}
	return data, ""
}

// defaultDelivery is what an absent or empty .courier means: the account's
// MAILDIR from authlib, else DEFAULTDELIVERY, else ./Maildir.
func (c *child) defaultDelivery() string {
	if c.job.Maildir != "" {
		return c.job.Maildir
	}
	if v, ok := c.getenv("DEFAULTDELIVERY"); ok {
		return v
	}
	return "./Maildir"
}

func (c *child) getenv(name string) (string, bool) {
	for i := len(c.env) - 1; i >= 0; i-- {
		if k, v, ok := strings.Cut(c.env[i], "="); ok && k == name {
			return v, true
		}
	}
	return "", false
}

// headers builds UFLINE, DTLINE and RPLINE with the domains in ACE
// (deliver.C mkdelheaders).
func (c *child) headers(now time.Time) {
	sender, rcpt := ACE(c.job.Sender), ACE(c.job.Recipient)
	c.uf = "From " + sender + " " + now.Format("Mon Jan _2 15:04:05 2006")
	c.dt = "Delivered-To: " + rcpt
	c.rp = "Return-Path: <" + sender + ">"
}

// ACE returns addr with its domain (after the last '@') in A-labels, as
// Courier writes addresses into Delivered-To:, Return-Path: and the From_
// line (udomainace). An address whose domain does not parse is returned as
// it is.
func ACE(addr string) string {
	i := strings.LastIndexByte(addr, '@')
	if i < 0 {
		return addr
	}
	d, err := address.ParseDomain(addr[i+1:])
	if err != nil {
		return addr
	}
	return addr[:i+1] + d.ASCII()
}

// loop reports whether the header already has "Delivered-To: <recipient>"
// (deliver.C chkdelto): field name without regard to case, the value after
// the blanks compared exactly.
func (c *child) loop() bool {
	if _, err := c.msg.Seek(0, io.SeekStart); err != nil {
		c.fail(exTempFail, "Unable to read message file.\n")
	}
	want := ACE(c.job.Recipient)
	r := bufio.NewReader(c.msg)
	for {
		line, err := r.ReadString('\n')
		line = strings.TrimSuffix(line, "\n")
		if line == "" {
			return false
		}
		if name, value, ok := strings.Cut(line, ":"); ok && strings.EqualFold(name, "delivered-to") &&
			strings.TrimLeft(value, " ") == want {
			return true
		}
		if err != nil {
			return false
		}
	}
}

// execute carries out instructions in order; a status other than success
// ends the delivery at once.
func (c *child) execute(ins []dotcourier.Instruction, level int) {
	for _, in := range ins {
		switch in.Kind {
		case dotcourier.Mailbox:
			c.saveMessage(in.Path)
		case dotcourier.Program, dotcourier.Dynamic:
			if rc := c.command(in, level); rc != 0 {
				panic(exit{rc})
			}
		case dotcourier.Forward:
			for _, a := range in.Addresses {
				fmt.Fprintln(c.fwd, a)
			}
		}
	}
}

// saveMessage delivers to a mailbox: an mbox file when it can be opened for
// appending (a missing one is created), else a maildir (deliver.C
// savemessage).
func (c *child) saveMessage(path string) {
	if f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o666); err == nil {
		f.Close()
		c.saveMbox(path)
		return
	}
	c.saveMaildir(path)
}

func (c *child) saveMbox(path string) {
	m, err := mbox.Open(context.Background(), path, mbox.Options{})
	if err != nil {
		c.fail(exTempFail, "%s\n", errnoText(path, err))
	}
	c.mailbox = m
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGHUP, syscall.SIGINT, syscall.SIGQUIT, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		select {
		case <-stop:
			// Killed in the middle (the delivery's time limit): leave
			// the mailbox as it was.
			m.Rollback()
			m.Close()
			os.Exit(exTempFail)
		case <-done:
		}
	}()
	c.rewind()
	err = m.Append(c.uf, []string{c.dt, c.rp}, c.msg)
	signal.Stop(stop)
	close(done)
	m.Close()
	c.mailbox = nil
	if err != nil {
		c.fail(exTempFail, "mailbox.close: %v\n", err)
	}
}

func (c *child) saveMaildir(path string) {
	d, err := maildir.OpenDir(path)
	if err != nil {
		c.fail(exTempFail, "maildir.open: %s\n", errnoText(path, err))
	}
	if c.job.Quota != "" {
		if q, err := maildir.ParseQuotaSpec(c.job.Quota); err == nil {
			d.Quota = q
		} else {
			c.log.Warn(fmt.Sprintf("%s: ignoring the account's quota %q: %v", c.job.User, c.job.Quota, err))
		}
	}
	d.Log = c.log
	c.rewind()
	c.counter++
	hdr := c.dt + "\n" + c.rp + "\n"
	_, err = d.Deliver(io.MultiReader(strings.NewReader(hdr), c.msg), maildir.DeliverOptions{
		Uniq: strconv.Itoa(c.counter),
		Size: c.size + int64(len(hdr)),
	})
	if errors.Is(err, maildir.ErrOverQuota) {
		c.fail(exTempFail, "Maildir over quota.\n")
	}
	if err != nil {
		c.fail(exTempFail, "maildir.close: %s\n", errnoText(path, err))
	}
}

// errnoText is "<name>: <system error>" as the original's messages read.
func errnoText(name string, err error) string {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return name + ": " + errno.Error()
	}
	return err.Error()
}

func (c *child) rewind() {
	if _, err := c.msg.Seek(0, io.SeekStart); err != nil {
		c.fail(exTempFail, "Unable to read message file.\n")
	}
}

// command runs a "|" or "||" instruction (deliver.C docommand) and returns
// its exit status; for "||" a successful program's output is carried out
// first.
func (c *child) command(in dotcourier.Instruction, level int) int {
	dynamic := in.Kind == dotcourier.Dynamic
	if dynamic {
		if level >= MaxRecursion {
			fmt.Fprintf(c.errw, "Maximum recursion level for dynamic delivery instructions exceeded.\n")
			return exNoUser
		}
		if v, ok := c.getenv("DYNAMICDELIVERIES"); ok && atoi(v) == 0 {
			fmt.Fprintf(c.errw, "Dynamic delivery instructions disabled by administrator.\n")
			return exNoUser
		}
	}
	shell, ok := c.getenv("SHELL")
	if !ok || shell == "" {
		shell = "/bin/sh"
	}
	var cmd *exec.Cmd
	if c.job.Maildrop != "" && in.Command == c.job.Maildrop {
		cmd = exec.Command(c.job.Maildrop, "-A", c.dt, "-A", c.rp, "-f", c.job.Sender)
		cmd.Args[0] = "maildrop"
	} else {
		cmd = exec.Command(shell, "-c", in.Command)
	}
	cmd.Env = c.programEnv()
	c.rewind()
	cmd.Stdin = c.msg
	cmd.Stderr = c.errw
	cmd.Stdout = c.errw
	var out *os.File
	if dynamic {
		r, w, err := os.Pipe()
		if err != nil {
			c.fail(exTempFail, "pipe: %v\n", err)
		}
		cmd.Stdout = w
		out = r
		defer r.Close()
		if err := cmd.Start(); err != nil {
			w.Close()
			c.fail(exTempFail, "Cannot run %s\n", cmd.Path)
		}
		w.Close()
	} else if err := cmd.Start(); err != nil {
		c.fail(exTempFail, "Cannot run %s\n", cmd.Path)
	}
	var output []byte
	if out != nil {
		output, _ = io.ReadAll(io.LimitReader(out, maxDynamic))
		out.Close()
	}
	err := cmd.Wait()
	rc := 0
	if err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			c.fail(exTempFail, "%s: %v\n", shell, err)
		}
		ws := ee.Sys().(syscall.WaitStatus)
		if !ws.Exited() {
			return exNoPerm
		}
		rc = ws.ExitStatus()
	}
	if (rc == 0 || rc == exStop) && dynamic {
		more, err := dotcourier.Parse("output of "+in.Command, output)
		if err != nil {
			c.fail(exTempFail, "%v\n", err)
		}
		c.execute(more, level+1)
	}
	return rc
}

func atoi(s string) int {
	s = strings.TrimLeft(s, " \t")
	n := 0
	i := 0
	neg := false
	if i < len(s) && (s[i] == '-' || s[i] == '+') {
		neg = s[i] == '-'
		i++
	}
	for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
		n = n*10 + int(s[i]-'0')
		if n > 1<<30 {
			break
		}
	}
	if neg {
		return -n
	}
	return n
}

// programEnv is the environment of a program (spec dot-courier.md §5): the
// child's own (the courierd configuration's variables) with these set.
func (c *child) programEnv() []string {
	j := c.job
	host, local := "localhost", j.Recipient
	if i := strings.LastIndexByte(j.Recipient, '@'); i >= 0 {
		host, local = j.Recipient[i+1:], j.Recipient[:i]
	}
	ext2, ext3, ext4 := "", "", ""
	if _, rest, ok := strings.Cut(j.Ext, "-"); ok {
		ext2 = rest
		if _, rest, ok = strings.Cut(rest, "-"); ok {
			ext3 = rest
			if _, rest, ok = strings.Cut(rest, "-"); ok {
				ext4 = rest
			}
		}
	}
	path, ok := c.getenv("PATH")
	if !ok {
		path = "/bin:/usr/bin:/usr/local/bin"
	}
	mdd, ok := c.getenv("MAILDROPDEFAULT")
	if !ok {
		mdd = "./Maildir"
	}
	shell, ok := c.getenv("SHELL")
	if !ok {
		shell = "/bin/sh"
	}
	set := []string{
		"HOME=" + j.Home, "USER=" + j.User, "SENDER=" + j.Sender, "RECIPIENT=" + j.Recipient,
		"HOST=" + host, "LOCAL=" + local, "EXT=" + j.Ext, "EXT2=" + ext2, "EXT3=" + ext3, "EXT4=" + ext4,
		"DEFAULT=" + c.def, "DTLINE=" + c.dt, "RPLINE=" + c.rp, "UFLINE=" + c.uf, "PATH=" + path,
		"MAILDIRQUOTA=" + j.Quota, "MAILDROPDEFAULT=" + mdd, "SHELL=" + shell,
	}
	return mergeEnv(c.env, set)
}

// mergeEnv returns base with the variables of set replacing those of the
// same name, one entry per name.
func mergeEnv(base, set []string) []string {
	names := make(map[string]bool, len(set))
	for _, kv := range set {
		k, _, _ := strings.Cut(kv, "=")
		names[k] = true
	}
	out := make([]string, 0, len(base)+len(set))
	for _, kv := range base {
		k, _, _ := strings.Cut(kv, "=")
		if !names[k] {
			out = append(out, kv)
		}
	}
	return append(out, set...)
}

// childLog logs what an administrator should know but the bounce should
// not carry (a quota file that could not be updated) to syslog only. A
// worker makes it once: connecting to syslog for every delivery cost more
// than writing the message.
var childLog = sync.OnceValue(func() *slog.Logger {
	return logging.New(logging.Options{Program: "courierlocal", Syslog: true})
})
