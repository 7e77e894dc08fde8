package search

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// ThreadNode is a node of a thread tree (RFC 5256 §3, §4): a message and
// the messages that reply to it. Msg is nil for a dummy node, the missing
// common parent of its children, which REFERENCES keeps only at the top
// level.
type ThreadNode struct {
	Msg      Message
	Children []*ThreadNode
}

// threadMsg holds what threading needs of a message.
type threadMsg struct {
	m       Message
	id      string   // Message-ID, without the angle brackets
	refs    []string // References, or the first In-Reply-To
	subject string   // base subject
	reply   bool     // subject was a reply or forward
	hasSubj bool     // the Subject: field is not empty (its base may be)
	date    time.Time
}

func loadThreadMsg(m Message) (*threadMsg, error) {
	fields, err := headerOf(m)
	if err != nil {
		return nil, err
	}
	t := &threadMsg{m: m, date: noDate}
	if d, ok := sentDate(fields); ok {
		t.date = d
	}
	subj, _ := get(fields, "Subject")
	t.subject, t.reply = baseSubject(subj)
	t.hasSubj = strings.TrimSpace(subj) != ""
	if v, ok := get(fields, "Message-ID"); ok {
		if ids := msgIDs(v); len(ids) > 0 {
			t.id = ids[0]
		}
	}
	// RFC 5256 §3 REFERENCES step 1: the References field; when it has
	// no valid Message ID, the first valid one of In-Reply-To.
	if v, ok := get(fields, "References"); ok {
		t.refs = msgIDs(v)
	}
	if len(t.refs) == 0 {
		if v, ok := get(fields, "In-Reply-To"); ok {
			if ids := msgIDs(v); len(ids) > 0 {
				t.refs = ids[:1]
			}
		}
	}
	return t, nil
}

// msgIDs returns the message identifiers <...> in a field, without the
// brackets and with folding white space removed.
func msgIDs(v string) []string {
	var ids []string
	for {
		i := strings.IndexByte(v, '<')
		if i < 0 {
			return ids
		}
		v = v[i+1:]
		j := strings.IndexAny(v, "<>")
		if j < 0 {
			return ids
		}
		if v[j] == '>' {
			id := strings.Join(strings.Fields(v[:j]), "")
			if id != "" {
				ids = append(ids, id)
			}
			v = v[j+1:]
		}
	}
}

// noDate is the sent date of a message without a valid Date: field:
// earlier than any, as in Courier's imapd.
var noDate = time.Unix(0, 0)

// Thread threads msgs with the algorithm alg, ORDEREDSUBJECT or
// REFERENCES (RFC 5256 §3), and returns the threads in order.
func Thread(alg string, msgs []Message) ([]*ThreadNode, error) {
	var orderedSubject bool
	switch {
	case strings.EqualFold(alg, "ORDEREDSUBJECT"):
		orderedSubject = true
	case strings.EqualFold(alg, "REFERENCES"):
	default:
		return nil, fmt.Errorf("unknown threading algorithm %q", alg)
	}
	tms := make([]*threadMsg, len(msgs))
	for i, m := range msgs {
		t, err := loadThreadMsg(m)
		if err != nil {
			return nil, err
		}
		tms[i] = t
	}
	slices.SortStableFunc(tms, func(a, b *threadMsg) int { return cmp.Compare(a.m.SeqNum(), b.m.SeqNum()) })
	if orderedSubject {
		return threadOrderedSubject(tms), nil
	}
	return threadReferences(tms), nil
}

// threadOrderedSubject implements ORDEREDSUBJECT (RFC 5256 §3): messages
// sorted by base subject and sent date; the first of each subject is the
// parent of the others, which are its children in date order; threads
// are ordered by the date of their first message.
func threadOrderedSubject(tms []*threadMsg) []*ThreadNode {
	slices.SortStableFunc(tms, func(a, b *threadMsg) int {
		if n := strings.Compare(a.subject, b.subject); n != 0 {
			return n
		}
		if n := a.date.Compare(b.date); n != 0 {
			return n
		}
		return cmp.Compare(b.m.SeqNum(), a.m.SeqNum())
	})
	var threads []*ThreadNode
	var roots []*threadMsg
	var last *ThreadNode
	for i, t := range tms {
		node := &ThreadNode{Msg: t.m}
		if i > 0 && t.subject == tms[i-1].subject {
			// Courier writes the messages of a subject as one chain,
			// "(a b c)", where the RFC's text makes b and c children
			// of a, "(a (b)(c))"; clients read either.
			last.Children = []*ThreadNode{node}
			last = node
			continue
		}
		threads = append(threads, node)
		roots = append(roots, t)
		last = node
	}
	idx := make([]int, len(threads))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int { return roots[a].date.Compare(roots[b].date) })
	out := make([]*ThreadNode, len(idx))
	for i, j := range idx {
		out[i] = threads[j]
	}
	return out
}

// container is a node of the REFERENCES algorithm; msg is nil for a
// dummy (RFC 5256 §3, REFERENCES step 1).
type container struct {
	msg      *threadMsg
	parent   *container
	children []*container
	removed  bool
}

// wouldLoop reports whether making child a child of parent would create
// a loop: parent is child or one of its descendants.
func wouldLoop(parent, child *container) bool {
	for p := parent; p != nil; p = p.parent {
		if p == child {
			return true
		}
	}
	return false
}

func link(parent, child *container) {
	child.parent = parent
	parent.children = append(parent.children, child)
}

func unlink(child *container) {
	p := child.parent
	p.children = slices.DeleteFunc(p.children, func(c *container) bool { return c == child })
	child.parent = nil
}

// threadReferences implements REFERENCES (RFC 5256 §3), the algorithm
// derived from Jamie Zawinski's, step by step.
func threadReferences(tms []*threadMsg) []*ThreadNode {
	// (1) Containers by Message-ID; messages without one, and later
	// messages repeating one, get a unique identifier. tms is in
	// sequence number order, so the first keeps a repeated ID.
	table := map[string]*container{}
	var all []*container
	lookup := func(id string) *container {
		c, ok := table[id]
		if !ok {
			c = &container{}
			table[id] = c
			all = append(all, c)
		}
		return c
	}
	for i, t := range tms {
		var c *container
		if t.id != "" {
			if c = lookup(t.id); c.msg != nil {
				c = nil
			}
		}
		if c == nil {
			// The NUL cannot occur in a parsed identifier.
			c = lookup("\x00" + strconv.Itoa(i))
		}
		c.msg = t
		// (1.A) Link the references in order, never changing an
		// existing parent and never making a loop.
		var prev *container
		for _, ref := range t.refs {
			rc := lookup(ref)
			if prev != nil && rc.parent == nil && !wouldLoop(prev, rc) {
				link(prev, rc)
			}
			prev = rc
		}
		// (1.B) The last reference is the message's parent, replacing
		// any parent it had; none if that would make a loop.
		if c.parent != nil {
			unlink(c)
		}
		if prev != nil && !wouldLoop(prev, c) {
			link(prev, c)
		}
	}
	// (2) The root set: containers without a parent. (3) The table is
	// no longer needed.
	var roots []*container
	for _, c := range all {
		if c.parent == nil {
			roots = append(roots, c)
		}
	}
	// (4) Prune dummies.
	roots = prune(roots, true)
	// Courier sorts the roots by date before it gathers them by subject,
	// which decides which of them the subject table keeps.
	sortRoots(roots)
	// (5) Gather roots with the same base subject.
	roots = gatherSubjects(roots)
	// (6) Sort siblings by sent date, deepest first.
	sortContainers(roots)
	// (7) The result.
	out := make([]*ThreadNode, len(roots))
	for i, c := range roots {
		out[i] = toNode(c)
	}
	return out
}

// prune implements REFERENCES step 4: a dummy without children goes
// away; a dummy with children is replaced by them, except at the top
// level when there are several.
func prune(cs []*container, top bool) []*container {
	var out []*container
	for _, c := range cs {
		c.children = prune(c.children, false)
		if c.msg == nil {
			if len(c.children) == 0 {
				continue
			}
			if !top || len(c.children) == 1 {
				for _, ch := range c.children {
					ch.parent = c.parent
				}
				out = append(out, c.children...)
				continue
			}
		}
		out = append(out, c)
	}
	return out
}

// threadSubject returns the base subject of a root container, or of its
// first child for a dummy, whether it is a reply (REFERENCES step 5.B),
// and whether it takes part in the gathering. As in Courier, a message
// whose Subject: is not empty does even when its base subject is ("Re:"
// alone); the RFC skips those.
func threadSubject(c *container) (subj string, reply, gather bool) {
	if c.msg == nil {
		k := sortKey(c.children[0])
		return k.subject, false, k.hasSubj
	}
	return c.msg.subject, c.msg.reply, c.msg.hasSubj
}

// gatherSubjects implements REFERENCES step 5.
func gatherSubjects(roots []*container) []*container {
	// (5.A-C) One root per subject: a dummy is preferred, then a
	// message that is not a reply.
	table := map[string]*container{}
	for _, c := range roots {
		subj, reply, gather := threadSubject(c)
		if !gather {
			continue
		}
		old, ok := table[subj]
		if !ok || (c.msg == nil && old.msg != nil) {
			table[subj] = c
			continue
		}
		_, oldReply, _ := threadSubject(old)
		if old.msg != nil && c.msg != nil && oldReply && !reply {
			table[subj] = c
		}
	}
	// (5.C) Merge every other root with the same subject into the one in
	// the table.
	n := len(roots)
	for i := 0; i < n; i++ {
		c := roots[i]
		if c.removed || c.parent != nil {
			continue
		}
		subj, reply, gather := threadSubject(c)
		old := table[subj]
		if !gather || old == nil || old == c {
			continue
		}
		_, oldReply, _ := threadSubject(old)
		switch {
		case old.msg == nil && c.msg == nil:
			// (i) Both dummies: one gets the other's children.
			for _, ch := range c.children {
				link(old, ch)
			}
			c.children = nil
			c.removed = true
		case old.msg == nil:
			// (ii) The message joins the dummy's children.
			link(old, c)
		case c.msg == nil:
			link(c, old)
			table[subj] = c
		case !oldReply && reply:
			// (iii) A reply under the original.
			link(old, c)
		case oldReply && !reply:
			// (iv) The original above the reply.
			link(c, old)
			table[subj] = c
		default:
			// (v) Both replies or neither: siblings under a new dummy,
			// which takes the place of the one in the table.
			d := &container{}
			j := slices.Index(roots, old)
			link(d, old)
			link(d, c)
			roots[j] = d
			table[subj] = d
		}
	}
	return slices.DeleteFunc(roots, func(c *container) bool { return c.removed || c.parent != nil })
}

// sortKey is the message a container sorts by: itself, or the first of
// its (sorted) children for a dummy.
func sortKey(c *container) *threadMsg {
	for c.msg == nil {
		c = c.children[0]
	}
	return c.msg
}

// sortContainers implements REFERENCES step 6: children before parents,
// each set of siblings by sent date.
func sortContainers(cs []*container) {
	for _, c := range cs {
		sortContainers(c.children)
	}
	msort(cs, make([]*container, len(cs)), courierCmp)
}

// sortRoots sorts the root set as Courier does before gathering subjects:
// a dummy's children first (its first child is its key), then the roots.
func sortRoots(cs []*container) {
	for _, c := range cs {
		if c.msg == nil {
			sortRoots(c.children)
		}
	}
	msort(cs, make([]*container, len(cs)), courierCmp)
}

// courierCmp is the order of Courier's REFERENCES siblings (rfc822
// imaprefs.c): by sent date when both messages have one and they
// differ, else by sequence number. A message without a date thus compares
// by number with every other, which is not a consistent order; the
// result depends on the sorting algorithm, which msort reproduces.
func courierCmp(a, b *container) int {
	ka, kb := sortKey(a), sortKey(b)
	if !ka.date.Equal(noDate) && !kb.date.Equal(noDate) && !ka.date.Equal(kb.date) {
		return ka.date.Compare(kb.date)
	}
	return cmp.Compare(ka.m.SeqNum(), kb.m.SeqNum())
}

// msort is the merge sort of the C library's qsort (glibc msort.c): split
// in halves (the first n/2 long), sort each, merge taking from the first
// half while it compares less or equal. With courierCmp it gives the
// same order as Courier's imapd, which sorts with qsort.
func msort(b, tmp []*container, cmp func(a, b *container) int) {
	n := len(b)
	if n <= 1 {
		return
	}
	n1 := n / 2
	b1, b2 := b[:n1], b[n1:]
	msort(b1, tmp, cmp)
	msort(b2, tmp, cmp)
	i, j, k := 0, 0, 0
	for i < len(b1) && j < len(b2) {
		if cmp(b1[i], b2[j]) <= 0 {
			tmp[k] = b1[i]
			i++
		} else {
			tmp[k] = b2[j]
			j++
		}
		k++
	}
	k += copy(tmp[k:], b1[i:])
	copy(b, tmp[:k])
}

func toNode(c *container) *ThreadNode {
	n := &ThreadNode{}
	if c.msg != nil {
		n.Msg = c.msg.m
	}
	for _, ch := range c.children {
		n.Children = append(n.Children, toNode(ch))
	}
	return n
}

// FormatThreads writes threads as the data of a THREAD response (RFC 5256
// §4): each thread a parenthesised list, a chain of single replies as
// numbers separated by spaces, and a branching as one parenthesised list
// per branch, e.g. "(2)(3 6 (4 23)(44 7 96))"; a dummy parent adds no
// number: "((3)(5))". uid selects UIDs instead of sequence numbers.
func FormatThreads(threads []*ThreadNode, uid bool) string {
	var b strings.Builder
	for _, t := range threads {
		b.WriteByte('(')
		writeThread(&b, t, uid)
		b.WriteByte(')')
	}
	return b.String()
}

func writeThread(b *strings.Builder, n *ThreadNode, uid bool) {
	sep := false
	for {
		if n.Msg != nil {
			if sep {
				b.WriteByte(' ')
			}
			num := n.Msg.SeqNum()
			if uid {
				num = n.Msg.UID()
			}
			b.WriteString(strconv.FormatUint(uint64(num), 10))
			sep = true
		}
		switch len(n.Children) {
		case 0:
			return
		case 1:
			n = n.Children[0]
			continue
		}
		if sep {
			b.WriteByte(' ')
		}
		for _, c := range n.Children {
			b.WriteByte('(')
			writeThread(b, c, uid)
			b.WriteByte(')')
		}
		return
	}
}
