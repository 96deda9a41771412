package ipv4

import (
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/ustack-go/ustack/buffer"
	"github.com/ustack-go/ustack/header"
	"github.com/ustack-go/ustack/stack"
	"github.com/ustack-go/ustack/tcpip"
)

// IGMP host constants.
const (
	// igmpRobustness is the default Robustness Variable (RFC 3376 §8.1,
	// RFC 2236 §8.1): unsolicited reports are sent this many times.
	igmpRobustness = 2
	// igmpV3UnsolicitedInterval bounds the random delays between the
	// retransmissions of a state-change report (RFC 3376 §8.11).
	igmpV3UnsolicitedInterval = time.Second
	// igmpV2UnsolicitedInterval is the same for IGMPv1/v2 reports
	// (RFC 2236 §8.10).
	igmpV2UnsolicitedInterval = 10 * time.Second
	// igmpV1MaxRespTime is the response time of an IGMPv1 query, whose
	// Max Resp Code is zero (RFC 2236 §4: "as if 100", 10 seconds).
	igmpV1MaxRespTime = 10 * time.Second
	// igmpOlderQuerierTimeout is how long an IGMPv3 host stays in a
	// compatibility mode after hearing an older query: the Older
	// Version Querier Present Timeout of RFC 3376 §8.12, Robustness ×
	// Query Interval + Query Response Interval with the defaults.
	igmpOlderQuerierTimeout = igmpRobustness*125*time.Second + 10*time.Second
	// igmpV1RouterTimeout is the same for an IGMPv2 host hearing an
	// IGMPv1 query: the Version 1 Router Present Timeout of RFC 2236
	// §8.11.
	igmpV1RouterTimeout = 400 * time.Second
)

// igmpTimer is a timer of the IGMP state. Every arm or cancel bumps gen,
// so that a callback that fires after it was superseded does nothing (the
// Clock may run a callback concurrently with a Stop that fails).
type igmpTimer struct {
	t        tcpip.Timer
	gen      uint64
	armed    bool
	deadline tcpip.MonotonicTime
}

// igmpGroup is the membership of one group on the NIC.
type igmpGroup struct {
	addr netip.Addr
	// joins counts JoinGroup calls not undone; a group with no joins is
	// kept only while its IGMPv3 leave report is retransmitted.
	joins int
	// report is the delayed answer to a query (RFC 2236 §3, the Group
	// timer of RFC 3376 §5.2).
	report igmpTimer
	// change retransmits the unsolicited report of a join, or the
	// IGMPv3 state-change report of a leave (RFC 3376 §5.1).
	change      igmpTimer
	changesLeft int
	// lastReporter: this host sent the last report heard for the group
	// (RFC 2236 §3's flag, deciding whether to send a Leave).
	lastReporter bool
}

// igmpOut is a message to send, gathered under the lock and sent after it.
type igmpOut struct {
	typ header.IGMPType
	// group is the group of a v1/v2 report or leave.
	group netip.Addr
	// records are the records of an IGMPv3 report.
	records []igmpRecord
}

type igmpRecord struct {
	typ   header.IGMPv3RecordType
	group netip.Addr
}

// igmpState is the IGMP host (RFC 1112, RFC 2236, RFC 3376) of one NIC. It
// runs IGMPv3 with the source filter EXCLUDE({}) for every group (this
// stack has no source-filtering API), falling back to IGMPv2 or IGMPv1
// when an older querier is heard (RFC 3376 §7.2.1).
//
// mu is a leaf: messages are sent after it is released.
type igmpState struct {
	e *endpoint

	mu         sync.Mutex
	enabled    bool                      // guarded by mu: the NIC is up
	closed     bool                      // guarded by mu
	groups     map[netip.Addr]*igmpGroup // guarded by mu
	v1Until    tcpip.MonotonicTime       // guarded by mu: IGMPv1 querier present until
	v2Until    tcpip.MonotonicTime       // guarded by mu: IGMPv2 querier present until
	robustness int                       // guarded by mu: the querier's QRV, or the default
	mode       int                       // guarded by mu: the version last used
	general    igmpTimer                 // guarded by mu: RFC 3376 §5.2's Interface Timer
}

func (s *igmpState) init(e *endpoint) {
	s.e = e
	s.groups = make(map[netip.Addr]*igmpGroup)
	s.robustness = igmpRobustness
}

func (s *igmpState) isMember(group netip.Addr) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.groups[group]
	return g != nil && g.joins > 0
}

// versionLocked returns the IGMP version to speak now, and cancels every
// pending timer when it differs from the one spoken before (RFC 3376
// §7.2.1: "whenever a host changes its compatibility mode, it cancels all
// its pending response and retransmission timers").
func (s *igmpState) versionLocked() int {
	now := s.e.p.s.Clock().NowMonotonic()
	v := int(s.e.p.igmpVersion.Load())
	if v > 2 && now.Before(s.v2Until) {
		v = 2
	}
	if v > 1 && now.Before(s.v1Until) {
		v = 1
	}
	if s.mode != 0 && s.mode != v {
		s.stopAllLocked()
		for addr, g := range s.groups {
			if g.joins == 0 {
				delete(s.groups, addr)
			}
		}
	}
	s.mode = v
	return v
}

// sortedGroupsLocked returns the groups in address order. A walk that
// draws a random delay per group (RFC 3376 §5.1, §5.2; RFC 2236 §3) or
// lists them in a report takes this order, not the map's, so that a
// seeded random source gives every run the same delays and reports.
func (s *igmpState) sortedGroupsLocked() []*igmpGroup {
	out := make([]*igmpGroup, 0, len(s.groups))
	for _, g := range s.groups {
		out = append(out, g)
	}
	slices.SortFunc(out, func(a, b *igmpGroup) int { return a.addr.Compare(b.addr) })
	return out
}

// armLocked arms t to call fire (with mu held, collecting messages) after
// d.
func (s *igmpState) armLocked(t *igmpTimer, d time.Duration, fire func() []igmpOut) {
	s.cancelLocked(t)
	t.armed = true
	gen := t.gen
	clock := s.e.p.s.Clock()
	t.deadline = clock.NowMonotonic().Add(d)
	t.t = clock.AfterFunc(d, func() {
		s.mu.Lock()
		if !t.armed || t.gen != gen || s.closed {
			s.mu.Unlock()
			return
		}
		t.armed = false
		t.t = nil
		out := fire()
		s.mu.Unlock()
		s.e.igmpSend(out)
	})
}

func (s *igmpState) cancelLocked(t *igmpTimer) {
	t.gen++
	t.armed = false
	if t.t != nil {
		t.t.Stop()
		t.t = nil
	}
}

func (s *igmpState) stopAllLocked() {
	s.cancelLocked(&s.general)
	for _, g := range s.groups {
		s.cancelLocked(&g.report)
		s.cancelLocked(&g.change)
		g.changesLeft = 0
	}
}

// randomDelay returns a delay chosen at random in [0, max] (RFC 2236 §3,
// RFC 3376 §5.1 and §5.2).
func (s *igmpState) randomDelay(max time.Duration) time.Duration {
	return time.Duration(s.e.p.s.RandFloat64() * float64(max))
}

// join implements JoinGroup.
func (s *igmpState) join(group netip.Addr) error {
	if !group.Is4() || !group.IsMulticast() {
		return tcpip.ErrInvalidArgument
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return tcpip.ErrNetworkDown
	}
	g := s.groups[group]
	if g == nil {
		g = &igmpGroup{addr: group}
		s.groups[group] = g
	}
	g.joins++
	var out []igmpOut
	if g.joins == 1 {
		out = s.stateChangeLocked(g)
	}
	s.mu.Unlock()
	s.e.igmpSend(out)
	return nil
}

// leave implements LeaveGroup.
func (s *igmpState) leave(group netip.Addr) error {
	s.mu.Lock()
	g := s.groups[group]
	if g == nil || g.joins == 0 {
		s.mu.Unlock()
		return tcpip.ErrAddressNotFound
	}
	g.joins--
	var out []igmpOut
	if g.joins == 0 {
		s.cancelLocked(&g.report)
		out = s.stateChangeLocked(g)
	}
	s.mu.Unlock()
	s.e.igmpSend(out)
	return nil
}

// stateChangeLocked reports that the NIC joined g (joins > 0) or left it
// (joins == 0): the unsolicited reports of RFC 3376 §5.1 and RFC 2236 §3,
// the first now and the others from the change timer. A group left is
// removed once nothing more is to be sent for it.
func (s *igmpState) stateChangeLocked(g *igmpGroup) []igmpOut {
	s.cancelLocked(&g.change)
	g.changesLeft = 0
	joined := g.joins > 0
	// RFC 2236 §6 and RFC 3376 §5: the all-systems group is never
	// reported. Nothing is sent while the NIC is down (Enable reports).
	if g.addr == ipv4AllSystems || !s.enabled {
		if !joined {
			s.removeLocked(g)
		}
		return nil
	}
	v := s.versionLocked()
	var out []igmpOut
	interval := igmpV2UnsolicitedInterval
	switch {
	case v == 3:
		// RFC 3376 §5.1: a filter-mode change record, TO_EX({}) for a
		// join and TO_IN({}) for a leave.
		out = append(out, igmpOut{typ: header.IGMPv3MembershipReport, records: []igmpRecord{{igmpChangeRecord(joined), g.addr}}})
		interval = igmpV3UnsolicitedInterval
	case joined:
		typ := header.IGMPv2MembershipReport
		if v == 1 {
			typ = header.IGMPv1MembershipReport
		}
		out = append(out, igmpOut{typ: typ, group: g.addr})
		g.lastReporter = true
	default:
		// RFC 2236 §3: a Leave to all-routers, only from the last host
		// to report; IGMPv1 has no Leave.
		if v == 2 && g.lastReporter {
			out = append(out, igmpOut{typ: header.IGMPLeaveGroup, group: g.addr})
		}
		s.removeLocked(g)
		return out
	}
	// RFC 3376 §5.1 and RFC 2236 §3: retransmitted [Robustness
	// Variable] - 1 more times, at random intervals within the
	// Unsolicited Report Interval.
	g.changesLeft = s.robustness - 1
	s.armChangeLocked(g, interval)
	if !joined && g.changesLeft <= 0 {
		s.removeLocked(g)
	}
	return out
}

// removeLocked forgets g, unless another membership of its group replaced
// it already.
func (s *igmpState) removeLocked(g *igmpGroup) {
	if s.groups[g.addr] == g {
		delete(s.groups, g.addr)
	}
}

func igmpChangeRecord(joined bool) header.IGMPv3RecordType {
	if joined {
		return header.IGMPv3ChangeToExclude
	}
	return header.IGMPv3ChangeToInclude
}

func (s *igmpState) armChangeLocked(g *igmpGroup, interval time.Duration) {
	if g.changesLeft <= 0 {
		return
	}
	s.armLocked(&g.change, s.randomDelay(interval), func() []igmpOut {
		g.changesLeft--
		var out []igmpOut
		v := s.versionLocked()
		switch {
		case v == 3:
			out = append(out, igmpOut{typ: header.IGMPv3MembershipReport, records: []igmpRecord{{igmpChangeRecord(g.joins > 0), g.addr}}})
		case g.joins > 0:
			typ := header.IGMPv2MembershipReport
			if v == 1 {
				typ = header.IGMPv1MembershipReport
			}
			out = append(out, igmpOut{typ: typ, group: g.addr})
			g.lastReporter = true
		}
		if g.changesLeft > 0 && s.groups[g.addr] == g {
			interval := igmpV2UnsolicitedInterval
			if v == 3 {
				interval = igmpV3UnsolicitedInterval
			}
			s.armChangeLocked(g, interval)
		} else if g.joins == 0 {
			s.removeLocked(g)
		}
		return out
	})
}

// enable starts IGMP on the NIC: every group joined is reported as if
// joined now.
func (s *igmpState) enable() {
	s.mu.Lock()
	if s.closed || s.enabled {
		s.mu.Unlock()
		return
	}
	s.enabled = true
	var out []igmpOut
	for _, g := range s.sortedGroupsLocked() {
		if g.joins > 0 {
			out = append(out, s.stateChangeLocked(g)...)
		}
	}
	s.mu.Unlock()
	s.e.igmpSend(out)
}

// disable stops every timer; memberships stay.
func (s *igmpState) disable() {
	s.mu.Lock()
	s.enabled = false
	s.stopAllLocked()
	for addr, g := range s.groups {
		if g.joins == 0 {
			delete(s.groups, addr)
		}
	}
	s.mu.Unlock()
}

// close stops every timer and forgets every membership.
func (s *igmpState) close() {
	s.mu.Lock()
	s.closed = true
	s.enabled = false
	s.stopAllLocked()
	clear(s.groups)
	s.mu.Unlock()
}

// handleIGMP processes an IGMP message for this host and then hands it to
// the transport dispatcher for raw endpoints. It owns pkt.
func (e *endpoint) handleIGMP(pkt *buffer.Packet, h header.IPv4, info stack.NetworkPacketInfo, opts ipv4Options) {
	st := &e.p.stats.IGMP
	defer e.deliverToTransport(pkt, tcpip.IGMPProtocolNumber, info)
	n := pkt.Payload.Len()
	if n < header.IGMPMinimumSize {
		st.Malformed.Inc()
		return
	}
	// RFC 2236 §2.3, RFC 3376 §4.1.2: the checksum covers the whole
	// message.
	var c header.Checksummer
	for b := range pkt.Payload.All() {
		c.Add(b)
	}
	if c.Sum() != 0xffff {
		st.ChecksumErrors.Inc()
		return
	}
	b, _ := pkt.Peek(min(n, header.IGMPv3QueryMinimumSize))
	m := header.IGMP(b)
	switch m.Type() {
	case header.IGMPMembershipQuery:
		st.Received.MembershipQuery.Inc()
		// RFC 3376 §7.1: the version of a query is told by its length
		// and Max Resp Code; 9 to 11 octets are ignored.
		var version int
		var maxResp time.Duration
		qrv := 0
		switch {
		case n == header.IGMPMinimumSize && m.MaxRespCode() == 0:
			version, maxResp = 1, igmpV1MaxRespTime
		case n == header.IGMPMinimumSize:
			version, maxResp = 2, m.MaxRespTime()
		case n >= header.IGMPv3QueryMinimumSize:
			q := header.IGMPv3Query(b)
			version, maxResp, qrv = 3, q.MaxRespTime(), int(q.QRV())
		default:
			st.Malformed.Inc()
			return
		}
		// RFC 3376 §9.1: hosts ignore IGMPv2 and IGMPv3 queries that
		// lack the Router Alert option (a forged query from off the
		// link would not carry it through a router).
		if version >= 2 && !opts.routerAlert {
			st.RouterAlertMissing.Inc()
			return
		}
		group := m.GroupAddress()
		if !group.IsUnspecified() && !group.IsMulticast() {
			st.Malformed.Inc()
			return
		}
		e.igmp.handleQuery(version, group, maxResp, qrv)
	case header.IGMPv1MembershipReport:
		st.Received.V1Report.Inc()
		e.igmp.handleReport(m.GroupAddress())
	case header.IGMPv2MembershipReport:
		st.Received.V2Report.Inc()
		e.igmp.handleReport(m.GroupAddress())
	case header.IGMPv3MembershipReport:
		// Reports are for routers; IGMPv3 hosts do not suppress theirs
		// (RFC 3376 §5.2).
		st.Received.V3Report.Inc()
	case header.IGMPLeaveGroup:
		st.Received.LeaveGroup.Inc()
	default:
		st.Unrecognized.Inc()
	}
}

// handleQuery schedules the answer to a membership query of the given
// version for group (unspecified: a general query).
func (s *igmpState) handleQuery(version int, group netip.Addr, maxResp time.Duration, qrv int) {
	s.mu.Lock()
	if s.closed || !s.enabled {
		s.mu.Unlock()
		return
	}
	now := s.e.p.s.Clock().NowMonotonic()
	switch version {
	case 1:
		// RFC 3376 §7.2.1 and RFC 2236 §4: an IGMPv1 querier is
		// present.
		timeout := igmpOlderQuerierTimeout
		if s.e.p.igmpVersion.Load() == 2 {
			timeout = igmpV1RouterTimeout
		}
		s.v1Until = now.Add(timeout)
	case 2:
		s.v2Until = now.Add(igmpOlderQuerierTimeout)
	case 3:
		// RFC 3376 §8.1: hosts take the querier's robustness.
		if qrv > 0 {
			s.robustness = qrv
		}
	}
	v := s.versionLocked()
	delay := s.randomDelay(maxResp)
	if v < 3 {
		// RFC 2236 §3: a report for each group queried after a random
		// delay, unless one is due sooner than Max Response Time.
		for _, g := range s.sortedGroupsLocked() {
			if g.joins == 0 || g.addr == ipv4AllSystems || (!group.IsUnspecified() && g.addr != group) {
				continue
			}
			if g.report.armed && g.report.deadline.Sub(now) <= maxResp {
				continue
			}
			s.armReportLocked(g, s.randomDelay(maxResp))
		}
		s.mu.Unlock()
		return
	}
	// RFC 3376 §5.2: (1) a pending general response due sooner covers
	// the query; (2) a general query arms the interface timer; (3) a
	// group query arms the group's timer, or brings it forward.
	due := now.Add(delay)
	if s.general.armed && !s.general.deadline.After(due) {
		s.mu.Unlock()
		return
	}
	if group.IsUnspecified() {
		s.armLocked(&s.general, delay, s.generalResponseLocked)
		s.mu.Unlock()
		return
	}
	g := s.groups[group]
	if g != nil && g.joins > 0 && group != ipv4AllSystems {
		if !g.report.armed || g.report.deadline.After(due) {
			s.armReportLocked(g, delay)
		}
	}
	s.mu.Unlock()
}

// armReportLocked schedules g's answer to a query.
func (s *igmpState) armReportLocked(g *igmpGroup, d time.Duration) {
	s.armLocked(&g.report, d, func() []igmpOut {
		if g.joins == 0 {
			return nil
		}
		switch s.versionLocked() {
		case 1:
			g.lastReporter = true
			return []igmpOut{{typ: header.IGMPv1MembershipReport, group: g.addr}}
		case 2:
			g.lastReporter = true
			return []igmpOut{{typ: header.IGMPv2MembershipReport, group: g.addr}}
		}
		// RFC 3376 §5.2: a current-state record; EXCLUDE({}) is
		// MODE_IS_EXCLUDE with no sources.
		return []igmpOut{{typ: header.IGMPv3MembershipReport, records: []igmpRecord{{header.IGMPv3ModeIsExclude, g.addr}}}}
	})
}

// generalResponseLocked answers a general IGMPv3 query: one current-state
// record for every group with reception state (RFC 3376 §5.2).
func (s *igmpState) generalResponseLocked() []igmpOut {
	if s.versionLocked() != 3 {
		return nil
	}
	var recs []igmpRecord
	for _, g := range s.sortedGroupsLocked() {
		if g.joins > 0 && g.addr != ipv4AllSystems {
			recs = append(recs, igmpRecord{header.IGMPv3ModeIsExclude, g.addr})
		}
	}
	if len(recs) == 0 {
		return nil
	}
	return []igmpOut{{typ: header.IGMPv3MembershipReport, records: recs}}
}

// handleReport notes another host's IGMPv1/v2 report: RFC 2236 §3 has a
// host whose own report for the group is pending suppress it, and know
// that it is no longer the last reporter.
func (s *igmpState) handleReport(group netip.Addr) {
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.groups[group]
	if g == nil || g.joins == 0 || s.versionLocked() == 3 {
		return
	}
	if g.report.armed {
		s.cancelLocked(&g.report)
		g.lastReporter = false
	}
}

// igmpSend sends the messages gathered under the IGMP lock.
func (e *endpoint) igmpSend(out []igmpOut) {
	for _, m := range out {
		if m.typ != header.IGMPv3MembershipReport {
			e.igmpWrite(m.typ, m.group, nil)
			continue
		}
		// As many records as fit in the MTU per report.
		per := max(1, (int(e.nic.MTU())-header.IPv4MinimumSize-header.IPv4RouterAlertOptionSize-header.IGMPv3ReportMinimumSize)/header.IGMPv3GroupRecordMinimumSize)
		for recs := m.records; len(recs) > 0; {
			k := min(len(recs), per)
			e.igmpWrite(m.typ, netip.Addr{}, recs[:k])
			recs = recs[k:]
		}
	}
}

// igmpWrite builds and sends one IGMP message: TTL 1 and the Router Alert
// option (RFC 2236 §2, RFC 3376 §4), precedence internetwork control as
// Linux sends them, to the group reported (v1/v2 reports), all-routers
// (Leave, RFC 2236 §3) or 224.0.0.22 (IGMPv3 reports, RFC 3376 §4.2.14).
func (e *endpoint) igmpWrite(typ header.IGMPType, group netip.Addr, recs []igmpRecord) {
	st := &e.p.stats.IGMP
	size := header.IGMPMinimumSize
	dst := group
	if typ == header.IGMPv3MembershipReport {
		size = header.IGMPv3ReportMinimumSize + len(recs)*header.IGMPv3GroupRecordMinimumSize
		dst = ipv4AllIGMPv3Routers
	} else if typ == header.IGMPLeaveGroup {
		dst = ipv4AllRouters
	}
	pkt := buffer.NewPacket(e.MaxHeaderLength()+size, nil)
	b := pkt.PrependHeader(buffer.TransportLayer, size)
	if typ == header.IGMPv3MembershipReport {
		rep := (&header.IGMPv3ReportFields{NumberOfGroupRecords: uint16(len(recs))}).Encode(b)
		for i, r := range recs {
			f := header.IGMPv3GroupRecordFields{Type: r.typ, MulticastAddress: r.group}
			f.Encode(rep.Records()[i*header.IGMPv3GroupRecordMinimumSize:])
		}
		rep.SetChecksum(rep.CalculateChecksum())
	} else {
		m := (&header.IGMPFields{Type: typ, GroupAddress: group}).Encode(b)
		m.SetChecksum(m.CalculateChecksum())
	}
	// RFC 3376 §4.2.13: a host without an address reports from 0.0.0.0.
	src := netip.IPv4Unspecified()
	if p, ok := e.nic.PrimaryAddress(tcpip.IPv4ProtocolNumber, dst); ok {
		src = p.Addr()
	}
	var ra [header.IPv4RouterAlertOptionSize]byte
	(&header.IPv4RouterAlertOptionFields{Value: header.IPv4RouterAlertExamine}).Encode(ra[:])
	hp := ipv4HeaderParams{src: src, dst: dst, proto: tcpip.IGMPProtocolNumber, ttl: 1, tos: icmpErrorTOS, options: ra[:]}
	if err := e.addHeader(pkt, &hp); err != nil {
		return
	}
	if err := e.writeOne(dst, tcpip.LinkAddress{}, pkt); err != nil {
		return
	}
	switch typ {
	case header.IGMPv1MembershipReport:
		st.Sent.V1Report.Inc()
	case header.IGMPv2MembershipReport:
		st.Sent.V2Report.Inc()
	case header.IGMPv3MembershipReport:
		st.Sent.V3Report.Inc()
	case header.IGMPLeaveGroup:
		st.Sent.LeaveGroup.Inc()
	}
}
