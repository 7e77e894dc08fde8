package mailbox

import (
	"cmp"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/gocourier/courier/pkg/maildir"
)

// A STORE of system flags answers before it renames its messages: 1,000
// renames in one directory take some 8 ms in the kernel, serialized by
// the directory's lock, while the command is otherwise done in a few. The
// change is first recorded where this process and every later scan look:
// the folder's cache (listing, state) takes the new file names and flags,
// the modseq store the new modseq and state hash of each message, and the
// session's next Refresh takes that state rather than scanning. The
// renames then run in a goroutine that holds the folder lock until they
// are done, so that whatever reads or changes the folder after them
// (other commands, sessions and processes, Courier's imapd) waits for
// them: everything that scans takes the lock, Close and the opening of a
// message being renamed wait for the session's renames, and Settle (the
// server's exit on a signal) for all of them. COPY does not wait: it links
// a message being renamed by either name, giving the copy the new flags.
//
// A rename that fails (the message removed or renamed by another program
// meanwhile) is logged, and the cache forgets its listing of cur/, so the
// next scan lists it and gives the message its flags as they are. A crash
// between the answer and the renames leaves the modseq store with state
// hashes the files do not have: the next scan gives those messages a new
// modseq, so a CONDSTORE client sees their flags as they are.
//
// Changes of keywords, and changes clearing \Deleted (which put messages
// back into the quota and may fail for it), rename before the answer as
// Courier does.

// behind is held shared by every goroutine renaming after its answer;
// Settle takes it to wait for them all.
var behind sync.RWMutex

// Settle waits for the renames of every Store that answered before them;
// Stores after it rename before they answer. The server calls it when a
// signal ends it.
func Settle() { behind.Lock() }

// renames are the renames of one Store made after its answer.
type renames struct {
	s     *Store
	c     *folderCache
	d     *maildir.Dir
	files []string        // the message files, as the cache named them
	flags []maildir.Flags // their new flags
	names []string        // their new names, which the cache already has
	uids  []uint32        // their UIDs
	byUID []int           // indexes of the above, by ascending UID
	done  chan struct{}   // closed when the renames are done and the lock let go

	progress atomic.Int64 // files[:progress] have been renamed (or failed)
}

// was returns the name the message uid had before these renames, if they
// rename it, and whether its rename has been made (or failed) by now.
func (r *renames) was(uid uint32) (name string, made, ok bool) {
	k, ok := slices.BinarySearchFunc(r.byUID, uid, func(i int, uid uint32) int { return cmp.Compare(r.uids[i], uid) })
	if !ok {
		return "", false, false
	}
	i := r.byUID[k]
	return r.files[i], int64(i) < r.progress.Load(), true
}

// running reports whether the renames are still under way.
func (r *renames) running() bool {
	select {
	case <-r.done:
		return false
	default:
		return true
	}
}

// has reports whether the message uid is being renamed.
func (r *renames) has(uid uint32) bool {
	_, _, ok := r.was(uid)
	return ok
}

// storeBehind records changes (system flags only) in the cache and the
// modseq store and leaves the new state to m's next Refresh; it returns
// the renames still to make and the UIDs changed. It returns nil, having
// changed nothing, when the renames must be made now: while Settle waits,
// or when the cache has no listing to record them in or the modseq store
// cannot be written. The caller holds the folder lock.
func (m *Mailbox) storeBehind(st *state, changes []storeChange) (*renames, []uint32) {
	c := st.c
	if c.files == nil || c.st == nil || !behind.TryRLock() {
		return nil, nil
	}
	r := &renames{
		s:     m.s,
		c:     c,
		d:     m.dir(),
		files: make([]string, len(changes)),
		flags: make([]maildir.Flags, len(changes)),
		names: make([]string, len(changes)),
		uids:  make([]uint32, len(changes)),
		done:  make(chan struct{}),
	}
	states := make(map[uint32]uint64, len(changes))
	for i, ch := range changes {
		// The name SetFlagsBatch gives, whatever name the file has.
		name := maildir.Name{Unique: ch.e.unique}.WithFlags(ch.flags)
		r.files[i], r.flags[i], r.names[i], r.uids[i] = ch.e.file, ch.flags, name, ch.e.uid
		states[ch.e.uid] = stateHash(maildir.NameFlags(name), ch.e.keywords)
	}
	if err := st.bump(states, nil); err != nil {
		behind.RUnlock()
		return nil, nil
	}
	// The state after the renames: the changed entries copied, the others
	// shared.
	next := *c.st
	next.fresh, next.waiting, next.shared = nil, nil, &sharedMsgs{}
	next.entries = slices.Clone(c.st.entries)
	for i, uid := range r.uids {
		j, ok := next.at(uid)
		if !ok {
			continue
		}
		e := *next.entries[j]
		e.file, e.flags, e.modseq = r.names[i], maildir.NameFlags(r.names[i]), c.ms.Msgs[uid].ModSeq
		next.entries[j] = &e
		c.files[e.unique] = e.file
	}
	next.highest, next.floor, next.expunged = c.ms.Highest, c.ms.Floor, c.ms.Expunged
	c.st = &next
	r.byUID = make([]int, len(r.uids))
	for i := range r.byUID {
		r.byUID[i] = i
	}
	slices.SortFunc(r.byUID, func(a, b int) int { return cmp.Compare(r.uids[a], r.uids[b]) })
	m.mu.Lock()
	m.next, m.behind = &next, r
	m.mu.Unlock()
	changed := make([]uint32, len(changes))
	for i, ch := range changes {
		changed[i] = ch.e.uid
	}
	return r, changed
}

// run makes the renames, then lets go of the folder lock (unlock).
func (r *renames) run(unlock func()) {
	defer behind.RUnlock()
	defer close(r.done)
	defer unlock()
	names, err := r.d.SetFlagsBatch(r.files, r.flags, &r.progress)
	failed := 0
	for i, name := range names {
		if name != r.names[i] {
			failed++
		}
	}
	if failed > 0 || err != nil {
		// The cache has the names the renames would have given: cur/ is
		// listed again by the next scan.
		r.c.files = nil
		r.s.log().Error(fmt.Sprintf("STORE in %s: the flags of %d of %d messages were not changed after the command was answered; the next scan reports them as they are: %v",
			r.d.Path, failed, len(r.files), err))
	}
	r.c.changedCur()
}

// settle waits for the renames of the session's last Store.
func (m *Mailbox) settle() {
	m.mu.Lock()
	r := m.behind
	m.mu.Unlock()
	if r == nil {
		return
	}
	<-r.done
	m.mu.Lock()
	if m.behind == r {
		m.behind = nil
	}
	m.mu.Unlock()
}
