package tcp

import (
	"sort"
	"sync"
	"time"
)

// CongestionControl is a congestion control algorithm of one connection.
// The connection calls it under its lock; it keeps the congestion window
// and slow-start threshold in bytes. Fast recovery's bookkeeping
// (duplicate ACK counting, the recovery point of RFC 6582) is the
// connection's; the algorithm decides the window.
type CongestionControl interface {
	// Name is the name CongestionControlOption selects it by.
	Name() string
	// Cwnd and Ssthresh return the congestion window and slow-start
	// threshold in bytes.
	Cwnd() int
	Ssthresh() int
	// SetMSS tells the algorithm the sender's MSS (at the start and
	// after a path MTU change).
	SetMSS(mss int)
	// OnAck: acked bytes of new data were acknowledged outside
	// recovery; rtt is the latest smoothed RTT (0 if unknown).
	OnAck(acked, inflight int, rtt time.Duration)
	// OnLoss: three duplicate ACKs; fast retransmit and recovery start
	// with inflight bytes outstanding.
	OnLoss(inflight int)
	// OnDupAck: a further duplicate ACK during recovery (window
	// inflation, RFC 5681 §3.2 step 4).
	OnDupAck()
	// OnPartialAck: an ACK during recovery that acknowledged acked bytes
	// but not the recovery point (RFC 6582 §3.2 step 5).
	OnPartialAck(acked int)
	// OnRecoveryExit: the recovery point was acknowledged, with
	// inflight bytes still outstanding.
	OnRecoveryExit(inflight int)
	// OnRTO: the retransmission timer expired.
	OnRTO(inflight int)
}

// NewCongestionControl makes a congestion control algorithm for a
// connection whose MSS is mss.
type NewCongestionControl func(mss int) CongestionControl

var (
	ccMu       sync.RWMutex
	ccRegistry = map[string]NewCongestionControl{"newreno": NewNewReno}
)

// RegisterCongestionControl makes an algorithm selectable by name with
// CongestionControlOption (as Linux's tcp_register_congestion_control).
// Registering an existing name replaces it.
func RegisterCongestionControl(name string, f NewCongestionControl) {
	ccMu.Lock()
	defer ccMu.Unlock()
	ccRegistry[name] = f
}

// CongestionControls returns the names of the registered algorithms.
func CongestionControls() []string {
	ccMu.RLock()
	defer ccMu.RUnlock()
	names := make([]string, 0, len(ccRegistry))
	for n := range ccRegistry {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func lookupCC(name string) (NewCongestionControl, bool) {
	ccMu.RLock()
	defer ccMu.RUnlock()
	f, ok := ccRegistry[name]
	return f, ok
}
