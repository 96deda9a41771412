package stack

import (
	"sync"

	"github.com/ustack-go/ustack/tcpip"
)

// Defaults of the ICMP rate limit, as Linux's net.ipv4.icmp_msgs_per_sec
// and icmp_msgs_burst.
const (
	DefaultICMPLimit = 1000.0
	DefaultICMPBurst = 50
)

// ICMPRateLimiter is one token bucket for every ICMP error message a stack
// generates (RFC 1812 §4.3.2.8, RFC 4443 §2.4(f)). Echo replies are not
// limited.
type ICMPRateLimiter struct {
	clock tcpip.Clock

	mu     sync.Mutex
	limit  float64             // tokens per second; guarded by mu
	burst  int                 // bucket size; guarded by mu
	tokens float64             // guarded by mu
	last   tcpip.MonotonicTime // guarded by mu
}

func newICMPRateLimiter(clock tcpip.Clock) *ICMPRateLimiter {
	return &ICMPRateLimiter{clock: clock, limit: DefaultICMPLimit, burst: DefaultICMPBurst, tokens: DefaultICMPBurst, last: clock.NowMonotonic()}
}

// Allow takes a token if there is one.
func (l *ICMPRateLimiter) Allow() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.clock.NowMonotonic()
	l.tokens += now.Sub(l.last).Seconds() * l.limit
	l.last = now
	if l.tokens > float64(l.burst) {
		l.tokens = float64(l.burst)
	}
	if l.tokens < 1 {
		return false
	}
	l.tokens--
	return true
}

// AllowICMPMessage reports whether the stack may send an ICMP error now,
// taking a token if so.
func (s *Stack) AllowICMPMessage() bool { return s.icmpLimiter.Allow() }

// ICMPLimit returns the rate of ICMP errors allowed, per second.
func (s *Stack) ICMPLimit() float64 {
	s.icmpLimiter.mu.Lock()
	defer s.icmpLimiter.mu.Unlock()
	return s.icmpLimiter.limit
}

// SetICMPLimit sets the rate of ICMP errors allowed, per second (negative
// values count as 0: none after the burst).
func (s *Stack) SetICMPLimit(limit float64) {
	s.icmpLimiter.mu.Lock()
	defer s.icmpLimiter.mu.Unlock()
	s.icmpLimiter.limit = max(limit, 0)
}

// ICMPBurst returns the size of the ICMP token bucket.
func (s *Stack) ICMPBurst() int {
	s.icmpLimiter.mu.Lock()
	defer s.icmpLimiter.mu.Unlock()
	return s.icmpLimiter.burst
}

// SetICMPBurst sets the size of the ICMP token bucket.
func (s *Stack) SetICMPBurst(burst int) {
	s.icmpLimiter.mu.Lock()
	defer s.icmpLimiter.mu.Unlock()
	s.icmpLimiter.burst = max(burst, 0)
	s.icmpLimiter.tokens = min(s.icmpLimiter.tokens, float64(s.icmpLimiter.burst))
}
