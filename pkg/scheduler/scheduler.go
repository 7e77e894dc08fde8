// Package scheduler is courierd's queue manager (DESIGN.md §1, spec
// queue-and-courierd.md §3): it owns the queue once mail is accepted. It
// finds messages that are due (a scan at start-up, a rescan every
// queuefill, the trigger FIFO for new mail, flush and cancel requests),
// routes each undelivered recipient to a transport module, feeds the
// modules delivery lines over pipes (pkg/module), and when every delivery
// of a pass is back re-reads the control file to decide: delete the
// message, hand it to the dsn module for a report, fail what has expired,
// or reschedule it on the retry schedule of retryalpha, retrybeta,
// retrygamma and retrymaxdelta.
//
// The control file is the only state that survives a crash: the modules
// record every result there before they answer, and the scheduler appends
// its own records (C, A, F on expiry or cancel, w, x) before acting on
// them. A message whose delivery was cut short by a crash is simply tried
// again (DESIGN.md §3: at least once, never lost).
//
// Callers: cmd/courierd's "scheduler" mode, started by the supervisor.
package scheduler

import (
	"bufio"
	"container/heap"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/gocourier/courier/pkg/address"
	"github.com/gocourier/courier/pkg/controlfiles"
	"github.com/gocourier/courier/pkg/inflow"
	"github.com/gocourier/courier/pkg/module"
	"github.com/gocourier/courier/pkg/queue"
)

// Retry is the retry schedule (spec §3): after a pass that leaves
// recipients deferred, with c passes recorded so far, the next attempt is
// Alpha later when c is not a multiple of Beta, else Gamma × 2^min(c/Beta,
// MaxDelta) later.
type Retry struct {
	Alpha, Gamma     time.Duration
	Beta, MaxDelta   int
	QueueFill        time.Duration // periodic rescan of the whole queue
	QueueLo, QueueHi int           // messages in progress at once
}

// DefaultRetry are the original's defaults.
var DefaultRetry = Retry{Alpha: 5 * time.Minute, Beta: 3, Gamma: 15 * time.Minute, MaxDelta: 3, QueueFill: 5 * time.Minute}

// Next returns the time of the next attempt after a pass ending at now,
// with passes C records in the control file.
func (r Retry) Next(now time.Time, passes int) time.Time {
	if r.Beta <= 0 || passes%r.Beta != 0 {
		return now.Add(r.Alpha)
	}
	k := min(passes/r.Beta, r.MaxDelta)
	return now.Add(r.Gamma << uint(k))
}

// LoadRetry reads retryalpha, retrybeta, retrygamma, retrymaxdelta,
// queuefill, queuelo and queuehi from the control files.
func LoadRetry(f *controlfiles.Files, modules []module.Config) (Retry, error) {
	r := DefaultRetry
	var err error
	if r.Alpha, err = f.Duration("retryalpha", r.Alpha); err != nil {
		return r, err
	}
	if r.Gamma, err = f.Duration("retrygamma", r.Gamma); err != nil {
		return r, err
	}
	if r.QueueFill, err = f.Duration("queuefill", r.QueueFill); err != nil {
		return r, err
	}
	n, err := f.Int("retrybeta", int64(r.Beta))
	if err != nil {
		return r, err
	}
	r.Beta = int(n)
	if n, err = f.Int("retrymaxdelta", int64(r.MaxDelta)); err != nil {
		return r, err
	}
	r.MaxDelta = int(min(n, 30))
	// queuelo = max(200, total MAXDELS); queuehi = min(2×queuelo,
	// queuelo+1000) (spec §3).
	total := 0
	for _, m := range modules {
		total += m.MaxDels
	}
	lo, err := f.Int("queuelo", int64(max(200, total)))
	if err != nil {
		return r, err
	}
	r.QueueLo = int(lo)
	hi, err := f.Int("queuehi", int64(min(2*r.QueueLo, r.QueueLo+1000)))
	if err != nil {
		return r, err
	}
	r.QueueHi = max(int(hi), 1)
	return r, nil
}

// Config is what the scheduler needs from cmd/courierd.
type Config struct {
	Queue   *queue.Queue
	Files   *controlfiles.Files
	Modules []*Module // running modules, by PRIORITY
	Retry   Retry
	// NeedDSN tells whether a message needs a report of this kind
	// ("final" or "delay"); pkg/dsn.Needed.
	NeedDSN func(c *queue.Control, kind string) bool
	// Track records a failure ('F') or deferral ('D') of a tracked (T)
	// message's recipient for backscatter suppression; nil: none.
	Track  func(addr string, kind byte, now time.Time)
	Logger *slog.Logger
	Now    func() time.Time
	// Inflow is set while the scheduler is full (QueueHi messages in
	// progress and more due): courieresmtpd then holds new mail back
	// (pkg/inflow). nil: no flag.
	Inflow *inflow.Flag
}

// DSN kinds, the host column of a line to the dsn module.
const (
	DSNFinal = "final"
	DSNDelay = "delay"
)

// message is a message in progress: loaded, with deliveries out.
type message struct {
	inode   uint64
	ctl     *queue.Control
	sched   time.Time // the A the msgq/ link carries
	pending int       // deliveries not answered yet
	dsn     string    // kind of report waiting for the dsn module
	flush   bool      // a flush arrived while in progress: go again at once
}

// Scheduler is one running scheduler.
type Scheduler struct {
	cfg     Config
	log     *slog.Logger
	now     func() time.Time
	due     dueHeap
	index   map[uint64]*dueItem // scheduled, not in progress
	active  map[uint64]*message
	broken  map[uint64]bool // failed to load; skipped until restart
	byID    map[string]*delivery
	seq     uint64
	replies chan reply
	dsn     *Module
	// removals takes the files of finished messages to a goroutine of
	// Run that unlinks them: freeing their inodes and blocks was a third
	// of the loop's time, which every delivery waited behind.
	removals chan uint64
}

// New makes a scheduler; Run starts it.
func New(cfg Config) *Scheduler {
	s := &Scheduler{cfg: cfg, log: cfg.Logger, now: cfg.Now,
		index: map[uint64]*dueItem{}, active: map[uint64]*message{}, broken: map[uint64]bool{},
		byID: map[string]*delivery{}, replies: make(chan reply, 256)}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.cfg.Retry.QueueHi <= 0 {
		s.cfg.Retry.QueueHi = 400
	}
	if s.cfg.Retry.QueueFill <= 0 {
		s.cfg.Retry.QueueFill = DefaultRetry.QueueFill
	}
	for _, m := range cfg.Modules {
		if m.Name == "dsn" {
			s.dsn = m
		}
	}
	return s
}

// ErrModuleAborted is returned by Run when a module's output ended: the
// original courierd exits then too, and the supervisor restarts the
// scheduler with fresh modules.
var ErrModuleAborted = errors.New("a transport module stopped")

// Run schedules until ctx is cancelled, a STOP or RESTART arrives on the
// trigger FIFO (nil is returned, after the deliveries in progress are
// answered or stopTimeout passed), or a module dies.
func (s *Scheduler) Run(ctx context.Context, trigger io.Reader, stopTimeout time.Duration) error {
	for _, m := range s.cfg.Modules {
		go m.readReplies(s.replies)
	}
	s.removals = make(chan uint64, 1024)
	removed := make(chan struct{})
	go func(removals <-chan uint64) {
		defer close(removed)
		for inode := range removals {
			if err := s.cfg.Queue.RemoveFiles(inode); err != nil {
				s.log.Error("cannot remove a delivered message; recovery removes it at the next start", "err", err)
			}
		}
	}(s.removals)
	defer func() {
		close(s.removals)
		<-removed
	}()
	lines := make(chan string, 1024)
	if trigger != nil {
		go func() {
			sc := bufio.NewScanner(trigger)
			for sc.Scan() {
				lines <- sc.Text()
			}
		}()
	}
	if err := s.rescan(false); err != nil {
		return err
	}
	fill := time.NewTicker(s.cfg.Retry.QueueFill)
	defer fill.Stop()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	stopping := false
	var stopDeadline <-chan time.Time
	// A wake-up rescans msgq/, which costs time in proportion to the
	// backlog. Under a stream of submissions the wake-ups are coalesced:
	// the next rescan waits ten times as long as the last one took (at
	// least 20 ms), so listing the queue never takes more than a tenth
	// of the scheduler's time. A single message on a quiet queue is
	// still picked up at once.
	var (
		lastWake time.Time
		wakeGap  time.Duration
		wakeDue  <-chan time.Time
	)
	wakeScan := func() {
		lastWake = time.Now()
		if err := s.rescan(true); err != nil {
			s.log.Error("cannot read the queue", "err", err)
		}
		wakeGap = max(20*time.Millisecond, 10*time.Since(lastWake))
	}
	for {
		if !stopping {
			s.dispatchDue()
		}
		s.setFull(!stopping && s.full())
		if stopping && len(s.byID) == 0 {
			s.log.Info("scheduler stopped; queued mail waits for the next start")
			return nil
		}
		timer.Reset(s.untilNext())
		select {
		case <-ctx.Done():
			if !stopping {
				stopping = true
				stopDeadline = time.After(stopTimeout)
			}
		case <-stopDeadline:
			s.log.Warn("scheduler stopped with deliveries still running; they will be tried again at the next start", "deliveries", len(s.byID))
			return nil
		case r := <-s.replies:
			if r.err != nil {
				s.log.Error(fmt.Sprintf("MODULE %s ABORTED.", r.module.Name), "err", r.err)
				return fmt.Errorf("%w: %s", ErrModuleAborted, r.module.Name)
			}
			s.answered(r)
		case l := <-lines:
			wake := false
			for {
				switch cmd := strings.TrimSpace(l); {
				case cmd == "":
					wake = true
				case cmd == "STOP" || cmd == "RESTART":
					if !stopping {
						s.log.Info("scheduler: " + strings.ToLower(cmd) + " requested, waiting for deliveries in progress")
						stopping = true
						stopDeadline = time.After(stopTimeout)
					}
				case strings.HasPrefix(cmd, "FLUSH"):
					s.flush(strings.TrimSpace(strings.TrimPrefix(cmd, "FLUSH")))
				default:
					s.log.Warn("unknown command on the trigger FIFO ignored", "command", cmd)
				}
				select {
				case l = <-lines:
					continue
				default:
				}
				break
			}
			if wake && !stopping && wakeDue == nil {
				if gap := time.Until(lastWake.Add(wakeGap)); gap > 0 {
					wakeDue = time.After(gap)
				} else {
					wakeScan()
				}
			}
		case <-wakeDue:
			wakeDue = nil
			if !stopping {
				wakeScan()
			}
		case <-fill.C:
			if !stopping {
				if err := s.rescan(false); err != nil {
					s.log.Error("cannot read the queue", "err", err)
				}
			}
		case <-timer.C:
		}
	}
}

// full reports whether the scheduler takes no more messages although more
// are due.
func (s *Scheduler) full() bool {
	return len(s.active) >= s.cfg.Retry.QueueHi && len(s.due) > 0 && !s.due[0].at.After(s.now())
}

// setFull publishes full in the inflow flag.
func (s *Scheduler) setFull(full bool) {
	if s.cfg.Inflow == nil {
		return
	}
	if err := s.cfg.Inflow.Set(full); err != nil {
		s.log.Error("cannot tell courieresmtpd whether deliveries keep up; new mail is not held back", "err", err)
		s.cfg.Inflow = nil
	}
}

// rescan adds the queue's messages that the scheduler does not know yet.
func (s *Scheduler) rescan(recent bool) error {
	var es []queue.Entry
	var err error
	if recent {
		es, err = s.cfg.Queue.ScanRecent(s.now())
	} else {
		es, err = s.cfg.Queue.Scan()
	}
	if err != nil {
		return err
	}
	for _, e := range es {
		if s.active[e.Inode] != nil || s.index[e.Inode] != nil || s.broken[e.Inode] {
			continue
		}
		s.schedule(e.Inode, e.NextAttempt, e.NextAttempt)
	}
	return nil
}

// schedule puts a message on the due heap: at is when to try, sched the A
// its msgq/ link carries.
func (s *Scheduler) schedule(inode uint64, at, sched time.Time) {
	it := &dueItem{inode: inode, at: at, sched: sched}
	s.index[inode] = it
	heap.Push(&s.due, it)
}

func (s *Scheduler) untilNext() time.Duration {
	if len(s.due) == 0 || len(s.active) >= s.cfg.Retry.QueueHi {
		return time.Hour
	}
	d := s.due[0].at.Sub(s.now())
	if d < 0 {
		return 0
	}
	return min(d+time.Millisecond, time.Hour)
}

// flush makes every scheduled message, or the one with this queue id, due
// now (courier flush, cancelmsg).
func (s *Scheduler) flush(qid string) {
	now := s.now()
	if qid == "" {
		for _, it := range s.index {
			it.at = now
		}
		heap.Init(&s.due)
		for _, m := range s.active {
			m.flush = true
		}
		return
	}
	id, err := queue.ParseQueueID(qid)
	if err != nil {
		s.log.Warn("flush of an invalid queue id ignored", "id", qid)
		return
	}
	if it := s.index[id.Inode]; it != nil {
		it.at = now
		heap.Fix(&s.due, it.pos)
		return
	}
	if m := s.active[id.Inode]; m != nil {
		m.flush = true
		return
	}
	// Not known yet: a message submitted since the last scan.
	if _, err := os.Stat(s.cfg.Queue.ControlPath(id.Inode)); err == nil {
		s.schedule(id.Inode, now, now)
		if err := s.rescan(true); err != nil {
			s.log.Error("cannot read the queue", "err", err)
		}
	}
}

// dispatchDue starts the messages that are due, up to QueueHi in progress.
func (s *Scheduler) dispatchDue() {
	now := s.now()
	for len(s.due) > 0 && len(s.active) < s.cfg.Retry.QueueHi && !s.due[0].at.After(now) {
		it := heap.Pop(&s.due).(*dueItem)
		delete(s.index, it.inode)
		s.start(it.inode, it.sched)
	}
	for _, m := range s.cfg.Modules {
		s.feed(m)
	}
}

// start loads a message and sends its undelivered recipients to their
// modules.
func (s *Scheduler) start(inode uint64, sched time.Time) {
	ctl, err := s.cfg.Queue.Load(inode)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return // deleted meanwhile (cancelled and finished, or removed by hand)
		}
		s.log.Error("cannot read a queued message; it is skipped until courierd restarts (recovery moves unreadable files to tmp/broken)", "inode", inode, "err", err)
		s.broken[inode] = true
		return
	}
	m := &message{inode: inode, ctl: ctl, sched: ctl.NextAttempt}
	s.active[inode] = m
	now := s.now()
	if ctl.Cancelled() && !ctl.CancelAcked {
		s.cancel(m, now)
		return
	}
	groups := map[*Module]map[string][]module.Recipient{}
	var unrouted []queue.Record
	for i, r := range ctl.Recipients {
		if r.Status.Done() {
			continue
		}
		mod, host := s.route(r.Address)
		if mod == nil {
			unrouted = append(unrouted, queue.Info(i, queue.InfoReply, "No transport module is installed for this address: "+r.Address), queue.Deferred(i, now))
			continue
		}
		if groups[mod] == nil {
			groups[mod] = map[string][]module.Recipient{}
		}
		groups[mod][host] = append(groups[mod][host], module.Recipient{Index: i, Address: r.Address})
	}
	if len(unrouted) > 0 {
		if err := s.cfg.Queue.Append(inode, unrouted...); err != nil {
			s.log.Error("cannot record a deferral", "id", ctl.ID, "err", err)
		}
	}
	for mod, hosts := range groups {
		for host, rcpts := range hosts {
			for len(rcpts) > 0 {
				n := min(len(rcpts), max(mod.MaxRcpt, 1))
				s.enqueue(mod, m, host, rcpts[:n])
				rcpts = rcpts[n:]
			}
		}
	}
	if m.pending == 0 {
		s.passDone(m)
	}
}

// route picks the module for an address: local for no domain, a domain of
// locals or a hosted domain; esmtp otherwise (spec §3: the lowest PRIORITY
// module whose rewriting claims the address).
func (s *Scheduler) route(addr string) (*Module, string) {
	domain := ""
	if i := strings.LastIndexByte(addr, '@'); i >= 0 {
		domain = strings.ToLower(addr[i+1:])
	}
	want, host := "esmtp", domain
	if s.cfg.Files.IsLocalDomain(domain) {
		want, host = "local", strings.ToLower(addr)
		if a, err := address.ParseAddress(addr, true); err == nil {
			if res, ok := s.cfg.Files.Rules.Resolve(a); ok && res.Name != "" {
				host = res.Name
			}
		}
	}
	for _, m := range s.cfg.Modules {
		if m.Name == want {
			return m, host
		}
	}
	return nil, ""
}

// enqueue adds one delivery to a module's waiting line.
func (s *Scheduler) enqueue(mod *Module, m *message, host string, rcpts []module.Recipient) {
	s.seq++
	d := &delivery{msg: m, mod: mod, line: module.Delivery{Inode: m.inode, QueueID: m.ctl.ID.String(), Sender: m.ctl.Sender,
		ID: strconv.FormatUint(s.seq, 10), Host: host, Recipients: rcpts}}
	m.pending++
	mod.wait(d)
}

// feed sends a module the waiting deliveries its limits allow.
func (s *Scheduler) feed(mod *Module) {
	for {
		d := mod.next()
		if d == nil {
			return
		}
		line, err := d.line.Line()
		if err != nil {
			// An address with a tab or newline: submit never stores one.
			s.log.Error("cannot hand a delivery to its module", "id", d.line.QueueID, "err", err)
			mod.done(d)
			s.finishDelivery(d)
			continue
		}
		s.byID[d.line.ID] = d
		if mod != s.dsn { // a report is no delivery: no "started" line
			for _, r := range d.line.Recipients {
				s.log.Info(fmt.Sprintf("started,id=%s,from=<%s>,module=%s,host=%s,addr=<%s>", d.line.QueueID, d.line.Sender, mod.Name, d.line.Host, r.Address))
			}
		}
		mod.send(line + "\n")
	}
}

// answered handles a module's reply to one delivery.
func (s *Scheduler) answered(r reply) {
	d := s.byID[r.ID]
	if d == nil || d.mod != r.module {
		s.log.Warn("module answered an unknown delivery", "module", r.module.Name, "id", r.ID)
		return
	}
	delete(s.byID, r.ID)
	d.mod.done(d)
	if d.dsn != "" {
		s.dsnDone(d, r.Text)
		return
	}
	s.finishDelivery(d)
}

func (s *Scheduler) finishDelivery(d *delivery) {
	m := d.msg
	m.pending--
	if m.pending == 0 {
		s.passDone(m)
	}
}

// passDone ends a delivery pass: the control file now holds every result
// of it. Re-read it and decide.
func (s *Scheduler) passDone(m *message) {
	now := s.now()
	before := m.ctl
	ctl, err := s.cfg.Queue.Load(m.inode)
	if err != nil {
		s.log.Error("cannot re-read a message after delivery; it is tried again later", "id", before.ID, "err", err)
		s.requeue(m, now.Add(s.cfg.Retry.Alpha))
		return
	}
	m.ctl = ctl
	s.track(before, ctl, now)
	if ctl.Done() && !s.needDSN(ctl, DSNFinal) {
		// Every result is on disk in the control file: a record of the
		// pass would be removed with it. After a crash before the
		// removal, recovery finds the message done and removes it.
		s.remove(m)
		return
	}
	recs := []queue.Record{queue.PassComplete(now)}
	if !ctl.Done() && !now.Before(ctl.Expires) {
		// queuetime is over: every recipient still deferred fails with
		// the last attempt's reply (spec §3).
		for i, r := range ctl.Recipients {
			if !r.Status.Done() {
				recs = append(recs, queue.Failed(i, now))
				s.log.Info(fmt.Sprintf("id=%s,from=<%s>,addr=<%s>,status: failure", ctl.ID, ctl.Sender, r.Address), "reason", "queuetime expired")
			}
		}
	}
	if err := s.record(m, recs...); err != nil {
		s.log.Error("cannot record the end of a delivery pass; it is tried again later", "id", ctl.ID, "err", err)
		s.requeue(m, now.Add(s.cfg.Retry.Alpha))
		return
	}
	if ctl.Done() {
		s.finish(m)
		return
	}
	if ctl.WarningSent.IsZero() && !now.Before(ctl.Warn) && s.needDSN(ctl, DSNDelay) {
		s.sendDSN(m, DSNDelay)
		return
	}
	s.reschedule(m)
}

// record appends the scheduler's own records to a message's control file
// and applies them to the loaded copy, which then equals a new read of the
// file.
func (s *Scheduler) record(m *message, recs ...queue.Record) error {
	if err := s.cfg.Queue.Append(m.inode, recs...); err != nil {
		return err
	}
	return m.ctl.Apply(recs...)
}

// finish deletes a message whose recipients are all done, after its report
// if one is due.
func (s *Scheduler) finish(m *message) {
	if s.needDSN(m.ctl, DSNFinal) {
		s.sendDSN(m, DSNFinal)
		return
	}
	s.remove(m)
}

// remove deletes a finished message: its msgq/ link at once, so no rescan
// finds it again, and its files in Run's removal goroutine.
func (s *Scheduler) remove(m *message) {
	if err := s.cfg.Queue.Unschedule(m.inode, m.sched); err != nil {
		s.log.Error("cannot remove a delivered message; recovery removes it at the next start", "id", m.ctl.ID, "err", err)
	} else {
		s.removals <- m.inode
	}
	s.log.Info("completed,id=" + m.ctl.ID.String())
	delete(s.active, m.inode)
}

func (s *Scheduler) reschedule(m *message) {
	now := s.now()
	next := s.cfg.Retry.Next(now, m.ctl.Passes)
	// The last attempt comes when queuetime runs out, not a retry
	// interval after it: its result is what the bounce reports.
	if next.After(m.ctl.Expires) {
		next = m.ctl.Expires
	}
	if m.flush {
		next = now
	}
	if err := s.cfg.Queue.Reschedule(m.inode, m.sched, next); err != nil {
		s.log.Error("cannot reschedule a message; it is tried again later", "id", m.ctl.ID, "err", err)
		s.requeue(m, next)
		return
	}
	delete(s.active, m.inode)
	s.schedule(m.inode, next, next)
}

// requeue keeps a message in memory for another try without a new A
// record (the control file could not be written).
func (s *Scheduler) requeue(m *message, at time.Time) {
	delete(s.active, m.inode)
	s.schedule(m.inode, at, m.sched)
}

func (s *Scheduler) needDSN(c *queue.Control, kind string) bool {
	return s.cfg.NeedDSN != nil && s.cfg.NeedDSN(c, kind)
}

// sendDSN hands a message to the dsn module.
func (s *Scheduler) sendDSN(m *message, kind string) {
	if s.dsn == nil {
		s.log.Error("a delivery report is due but no dsn module is configured (module.dsn); the report is not sent", "id", m.ctl.ID, "kind", kind)
		s.dsnDone(&delivery{msg: m, dsn: kind}, "")
		return
	}
	var rcpts []module.Recipient
	for i, r := range m.ctl.Recipients {
		rcpts = append(rcpts, module.Recipient{Index: i, Address: r.Address})
	}
	s.seq++
	d := &delivery{msg: m, mod: s.dsn, dsn: kind, line: module.Delivery{Inode: m.inode, QueueID: m.ctl.ID.String(), Sender: m.ctl.Sender,
		ID: strconv.FormatUint(s.seq, 10), Host: kind, Recipients: rcpts}}
	m.dsn = kind
	s.dsn.wait(d)
	s.feed(s.dsn)
}

// dsnDone acts on the dsn module's answer.
func (s *Scheduler) dsnDone(d *delivery, text string) {
	m := d.msg
	m.dsn = ""
	if strings.HasPrefix(text, module.Deferral) {
		s.log.Warn("the delivery report could not be queued; trying again later", "id", m.ctl.ID, "reason", strings.TrimSpace(strings.TrimPrefix(text, module.Deferral)))
		s.requeue(m, s.now().Add(s.cfg.Retry.Alpha))
		return
	}
	if d.dsn == DSNFinal {
		s.remove(m)
		return
	}
	if err := s.record(m, queue.WarningSent(s.now())); err != nil {
		s.log.Error("cannot record that the delay notice was sent; it may be sent again", "id", m.ctl.ID, "err", err)
	}
	s.reschedule(m)
}

// cancel acts on cancelmsg's request: every recipient not yet done fails
// with the reasons as its reply, and the message is finished (spec §4).
func (s *Scheduler) cancel(m *message, now time.Time) {
	ctl := m.ctl
	recs := []queue.Record{queue.CancelAcknowledged()}
	for i, r := range ctl.Recipients {
		if r.Status.Done() {
			continue
		}
		attempted := false
		for _, in := range r.Info {
			if in.Code == queue.InfoPeer || in.Code == queue.InfoConnError {
				attempted = true
			}
		}
		if !attempted {
			for _, reason := range ctl.CancelReasons {
				recs = append(recs, queue.Info(i, queue.InfoReply, reason))
			}
		}
		recs = append(recs, queue.Failed(i, now))
		s.log.Info(fmt.Sprintf("id=%s,addr=<%s>: %s", ctl.ID, r.Address, strings.Join(ctl.CancelReasons, " ")))
		s.log.Info(fmt.Sprintf("id=%s,addr=<%s>,status: failure", ctl.ID, r.Address))
	}
	recs = append(recs, queue.PassComplete(now))
	if err := s.record(m, recs...); err != nil {
		s.log.Error("cannot record the cancellation; it is tried again later", "id", ctl.ID, "err", err)
		s.requeue(m, now.Add(s.cfg.Retry.Alpha))
		return
	}
	s.finish(m)
}

// track records, for a message whose failures are tracked (T record), the
// recipients that failed or were deferred in this pass.
func (s *Scheduler) track(before, after *queue.Control, now time.Time) {
	if s.cfg.Track == nil || !after.Track {
		return
	}
	for i, r := range after.Recipients {
		if i < len(before.Recipients) && before.Recipients[i].Status == r.Status && before.Recipients[i].StatusTime.Equal(r.StatusTime) {
			continue
		}
		switch r.Status {
		case queue.StatusFailed:
			s.cfg.Track(r.Address, 'F', now)
		case queue.StatusDeferred:
			s.cfg.Track(r.Address, 'D', now)
		}
	}
}

// dueItem is a scheduled message on the heap.
type dueItem struct {
	inode uint64
	at    time.Time // when to try
	sched time.Time // the A of its msgq/ link
	pos   int
}

type dueHeap []*dueItem

func (h dueHeap) Len() int { return len(h) }
func (h dueHeap) Less(i, j int) bool {
	if !h[i].at.Equal(h[j].at) {
		return h[i].at.Before(h[j].at)
	}
	return h[i].inode < h[j].inode
}
func (h dueHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i]; h[i].pos = i; h[j].pos = j }
func (h *dueHeap) Push(x any)   { it := x.(*dueItem); it.pos = len(*h); *h = append(*h, it) }
func (h *dueHeap) Pop() any {
	old := *h
	it := old[len(old)-1]
	*h = old[:len(old)-1]
	return it
}
