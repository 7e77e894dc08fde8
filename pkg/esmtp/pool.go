package esmtp

import (
	"sync"
	"time"

	"github.com/gocourier/courier/pkg/smtpclient"
)

// pool keeps sessions open between deliveries to the same host for
// esmtptimeoutkeepalive, as the original does, so that a queue of mail
// for one host goes over a few connections instead of one each. With
// esmtptimeoutkeepaliveping, idle sessions get a RSET that often, so that
// a server's idle timer does not close them.
type pool struct {
	mu     sync.Mutex
	keep   time.Duration
	ping   time.Duration
	idle   map[string][]*idleClient
	reap   bool
	closed bool
}

type idleClient struct {
	c      *smtpclient.Client
	since  time.Time
	pinged time.Time
}

// get returns an idle session for key, or nil. A session whose last
// transaction did not end with the reply after the dot gets a RSET
// first; the others go straight to MAIL (RFC 5321 4.1.1.4: the end of
// the data clears the transaction), and the caller retries on a new
// connection when a kept session turns out closed.
func (p *pool) get(key string) *smtpclient.Client {
	for {
		p.mu.Lock()
		list := p.idle[key]
		if len(list) == 0 {
			p.mu.Unlock()
			return nil
		}
		ic := list[len(list)-1]
		p.idle[key] = list[:len(list)-1]
		p.mu.Unlock()
		if time.Since(ic.since) > p.keep {
			ic.c.Quit()
			continue
		}
		if !ic.c.Dirty || ic.c.Reset() == nil {
			return ic.c
		}
		ic.c.Close()
	}
}

// put keeps c for the next delivery to key.
func (p *pool) put(key string, c *smtpclient.Client) {
	p.mu.Lock()
	if p.keep <= 0 || p.closed {
		p.mu.Unlock()
		c.Quit()
		return
	}
	defer p.mu.Unlock()
	if p.idle == nil {
		p.idle = map[string][]*idleClient{}
	}
	now := time.Now()
	p.idle[key] = append(p.idle[key], &idleClient{c: c, since: now, pinged: now})
	if !p.reap {
		p.reap = true
		go p.reaper()
	}
}

type keyed struct {
	key string
	ic  *idleClient
}

// reaper says QUIT to sessions idle for longer than keep, and RSET to
// those due a keepalive ping.
func (p *pool) reaper() {
	tick := p.keep / 2
	if p.ping > 0 && p.ping < tick {
		tick = p.ping
	}
	for {
		time.Sleep(tick)
		var old []*idleClient
		var ping []keyed
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			return
		}
		for k, list := range p.idle {
			kept := list[:0]
			for _, ic := range list {
				switch {
				case time.Since(ic.since) > p.keep:
					old = append(old, ic)
				case p.ping > 0 && time.Since(ic.pinged) >= p.ping:
					ping = append(ping, keyed{k, ic})
				default:
					kept = append(kept, ic)
				}
			}
			p.idle[k] = kept
		}
		p.mu.Unlock()
		for _, ic := range old {
			ic.c.Quit()
		}
		// A pinged session is taken out while it talks; it comes back
		// when the server still answers.
		for _, kc := range ping {
			if kc.ic.c.Reset() != nil {
				kc.ic.c.Close()
				continue
			}
			kc.ic.pinged = time.Now()
			p.mu.Lock()
			if p.closed {
				p.mu.Unlock()
				kc.ic.c.Quit()
				continue
			}
			p.idle[kc.key] = append(p.idle[kc.key], kc.ic)
			p.mu.Unlock()
		}
	}
}

// close says QUIT to every idle session, when the module exits.
func (p *pool) close() {
	p.mu.Lock()
	p.closed = true
	idle := p.idle
	p.idle = nil
	p.mu.Unlock()
	for _, list := range idle {
		for _, ic := range list {
			ic.c.Quit()
		}
	}
}
