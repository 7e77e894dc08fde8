package esmtp

import (
	"sync"
	"time"

	"github.com/gocourier/courier/pkg/smtpclient"
)

// pool keeps sessions open between deliveries to the same host for
// esmtptimeoutkeepalive, as the original does, so that a queue of mail
// for one host goes over a few connections instead of one each.
type pool struct {
	mu   sync.Mutex
	keep time.Duration
	idle map[string][]idleClient
	reap bool
}

type idleClient struct {
	c     *smtpclient.Client
	since time.Time
}

// get returns an idle session for key, reset with RSET, or nil.
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
		if r, err := ic.c.Cmd("RSET"); err == nil && r.Code == 250 {
			return ic.c
		}
		ic.c.Close()
	}
}

// put keeps c for the next delivery to key.
func (p *pool) put(key string, c *smtpclient.Client) {
	if p.keep <= 0 {
		c.Quit()
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.idle == nil {
		p.idle = map[string][]idleClient{}
	}
	p.idle[key] = append(p.idle[key], idleClient{c: c, since: time.Now()})
	if !p.reap {
		p.reap = true
		go p.reaper()
	}
}

// reaper says QUIT to sessions idle for longer than keep.
func (p *pool) reaper() {
	for {
		time.Sleep(p.keep / 2)
		var old []*smtpclient.Client
		p.mu.Lock()
		for k, list := range p.idle {
			kept := list[:0]
			for _, ic := range list {
				if time.Since(ic.since) > p.keep {
					old = append(old, ic.c)
				} else {
					kept = append(kept, ic)
				}
			}
			p.idle[k] = kept
		}
		p.mu.Unlock()
		for _, c := range old {
			c.Quit()
		}
	}
}
