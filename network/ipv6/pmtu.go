package ipv6

import (
	"net/netip"
	"sync"

	"github.com/ustack-go/ustack/header"
	"github.com/ustack-go/ustack/tcpip"
)

// pmtuEntry is what Packet Too Big taught about the path to one
// destination.
type pmtuEntry struct {
	mtu     uint32
	expires tcpip.MonotonicTime
}

// pmtuCache holds the path MTUs learnt from Packet Too Big messages, per
// destination (RFC 8201 §5.2: "the simplest approach is to associate the
// PMTU with the destination address"). Destinations without an entry use
// the link MTU.
type pmtuCache struct {
	clock tcpip.Clock

	mu      sync.Mutex
	entries map[netip.Addr]pmtuEntry // guarded by mu
}

func (c *pmtuCache) init(clock tcpip.Clock) {
	c.clock = clock
	c.entries = make(map[netip.Addr]pmtuEntry)
}

// get returns the path MTU to dst, or 0 if nothing is known.
func (c *pmtuCache) get(dst netip.Addr) uint32 {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[dst]
	if !ok {
		return 0
	}
	if !c.clock.NowMonotonic().Before(e.expires) {
		// RFC 8201 §4: after the aging time the estimate is raised
		// back to the first hop's MTU, to find out whether the path
		// grew.
		delete(c.entries, dst)
		return 0
	}
	return e.mtu
}

// update records a Packet Too Big for dst announcing mtu, and returns the
// path MTU in use afterwards. RFC 8201 §4: the PMTU is never set below
// 1280 (a smaller value is taken as 1280, and RFC 8021 §4 has the node
// no longer add atomic fragments for it), and a Packet Too Big never
// raises it.
func (c *pmtuCache) update(dst netip.Addr, mtu uint32) uint32 {
	mtu = max(mtu, header.IPv6MinimumMTU)
	now := c.clock.NowMonotonic()
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.entries[dst]; ok && now.Before(e.expires) && e.mtu <= mtu {
		return e.mtu
	}
	if len(c.entries) >= pmtuMaxEntries {
		// Make room by dropping expired entries, or any one of them.
		for a, e := range c.entries {
			if !now.Before(e.expires) || len(c.entries) >= pmtuMaxEntries {
				delete(c.entries, a)
			}
			if len(c.entries) < pmtuMaxEntries/2 {
				break
			}
		}
	}
	c.entries[dst] = pmtuEntry{mtu: mtu, expires: now.Add(pmtuAging)}
	return mtu
}
