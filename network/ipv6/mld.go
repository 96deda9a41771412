package ipv6

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

// MLD constants (RFC 3810 §9, RFC 2710 §7).
const (
	// mldRobustness is the Robustness Variable: unsolicited reports are
	// sent this many times (RFC 3810 §9.1).
	mldRobustness = 2
	// mldUnsolicitedReportInterval bounds the random delay between them
	// (RFC 3810 §9.11: 1 second).
	mldUnsolicitedReportInterval = time.Second
	// mldOlderVersionQuerierTimeout is how long an MLDv1 query keeps
	// the host in MLDv1 compatibility mode (RFC 3810 §9.12: Robustness
	// × Query Interval (125 s) + Query Response Interval (10 s)).
	mldOlderVersionQuerierTimeout = mldRobustness*125*time.Second + 10*time.Second
	// mldHopByHopSize is the Hop-by-Hop header of MLD messages: a
	// Router Alert option (RFC 2711) and a PadN (RFC 8200 §4.2).
	mldHopByHopSize = 8
)

// MLDOption turns MLD on (reports for the NIC's groups, answers to
// queries) and may restrict it to MLDv1 (RFC 2710). It is off by default,
// as in gVisor; a stack that lives on a switched network with MLD snooping
// wants it on.
type MLDOption struct {
	Enabled bool
	V1Only  bool
}

// mldState is the MLD listener state of one NIC (RFC 3810 §6, RFC 2710
// §4).
type mldState struct {
	mu sync.Mutex
	// pending holds each group with a report scheduled.
	pending map[netip.Addr]*mldPending // guarded by mu
	// v1Until is when MLDv1 compatibility mode ends (RFC 3810 §8.2.1).
	v1Until tcpip.MonotonicTime // guarded by mu
	// general is the timer of the answer to an MLDv2 general query
	// (RFC 3810 §6.2 case 1).
	general tcpip.Timer // guarded by mu
}

// mldPending is a report to send for a group: the repeats of an
// unsolicited one, or the answer to a query.
type mldPending struct {
	timer tcpip.Timer
	left  int // unsolicited repeats left
	// change: the report is a state change (CHANGE_TO_EXCLUDE), not a
	// current state one; leave: a state change to INCLUDE {} (the
	// group was left).
	change bool
	leave  bool
}

// mldReportable reports whether MLD speaks of group: RFC 3810 §6 and
// RFC 2710 §5: never of ff02::1, nor of interface-local or reserved scope
// groups.
func mldReportable(group netip.Addr) bool {
	s := multicastScope(group)
	return group != header.IPv6AllNodesMulticastAddr && s != scopeReserved && s != scopeInterfaceLocal
}

// mldOn reports whether MLD runs on this NIC.
func (e *endpoint) mldOn() bool {
	return e.p.mld.Load().Enabled && e.enabled.Load() && e.neighborDiscoveryLink()
}

// mldV1 reports whether reports are MLDv1 ones now.
func (e *endpoint) mldV1Locked() bool {
	return e.p.mld.Load().V1Only || e.p.s.Clock().NowMonotonic().Before(e.mld.v1Until)
}

// groupsSnapshot returns the groups the NIC is a member of, in address
// order: callers draw a random delay per group from the stack's source
// (RFC 3810 §6.1, §6.2), and a seeded source must give each group the
// same draw in every run, which the map's order would not.
func (e *endpoint) groupsSnapshot() []netip.Addr {
	e.groups.mu.Lock()
	out := make([]netip.Addr, 0, len(e.groups.members))
	for g := range e.groups.members {
		out = append(out, netip.AddrFrom16(g))
	}
	e.groups.mu.Unlock()
	slices.SortFunc(out, netip.Addr.Compare)
	return out
}

func (e *endpoint) isMember(g netip.Addr) bool {
	e.groups.mu.Lock()
	defer e.groups.mu.Unlock()
	return e.groups.members[g.As16()] > 0
}

// mldEnable reports the groups already joined when the NIC comes up (RFC
// 3810 §6.1).
func (e *endpoint) mldEnable() {
	for _, g := range e.groupsSnapshot() {
		e.mldJoined(g)
	}
}

// mldLinkLocalReady is told that a link-local address became usable:
// reports sent from :: while it was tentative are sent again from it.
func (e *endpoint) mldLinkLocalReady() { e.mldEnable() }

// mldJoined sends the unsolicited report of a new membership and
// schedules its repeats (RFC 3810 §6.1: Robustness Variable times,
// random intervals up to the Unsolicited Report Interval; RFC 2710 §4
// likewise).
func (e *endpoint) mldJoined(group netip.Addr) {
	if !e.mldOn() || !mldReportable(group) {
		return
	}
	e.mld.mu.Lock()
	p := e.mld.pending[group]
	if p != nil && p.timer != nil {
		p.timer.Stop()
	}
	p = &mldPending{left: mldRobustness - 1, change: true}
	e.mld.pending[group] = p
	if p.left > 0 {
		p.timer = e.p.s.Clock().AfterFunc(e.randDuration(mldUnsolicitedReportInterval), func() { e.mldGroupTimer(group, p) })
	} else {
		delete(e.mld.pending, group)
	}
	v1 := e.mldV1Locked()
	e.mld.mu.Unlock()
	e.mldSendReport(group, v1, header.MLDv2ChangeToExclude)
}

// mldGroupTimer sends a scheduled report for group.
func (e *endpoint) mldGroupTimer(group netip.Addr, p *mldPending) {
	e.mld.mu.Lock()
	if e.mld.pending[group] != p || e.isMember(group) == p.leave || !e.mldOn() {
		if e.mld.pending[group] == p {
			delete(e.mld.pending, group)
		}
		e.mld.mu.Unlock()
		return
	}
	typ := header.MLDv2ModeIsExclude
	switch {
	case p.leave:
		typ = header.MLDv2ChangeToInclude
	case p.change:
		typ = header.MLDv2ChangeToExclude
	}
	if p.left--; p.left > 0 {
		p.timer.Reset(e.randDuration(mldUnsolicitedReportInterval))
	} else {
		delete(e.mld.pending, group)
	}
	v1 := e.mldV1Locked()
	e.mld.mu.Unlock()
	if p.leave && v1 {
		e.mldSendV1(header.ICMPv6MLDv1Done, header.IPv6AllRoutersMulticastAddr, group)
		return
	}
	e.mldSendReport(group, v1, typ)
}

// mldLeft reports the end of a membership: an MLDv1 Done to all-routers
// (RFC 2710 §4), or an MLDv2 report with a CHANGE_TO_INCLUDE record and
// no sources, repeated like the reports of a join (RFC 3810 §6.1).
func (e *endpoint) mldLeft(group netip.Addr) {
	if !e.mldOn() || !mldReportable(group) {
		return
	}
	e.mld.mu.Lock()
	if p := e.mld.pending[group]; p != nil {
		if p.timer != nil {
			p.timer.Stop()
		}
		delete(e.mld.pending, group)
	}
	v1 := e.mldV1Locked()
	if !v1 && mldRobustness > 1 {
		p := &mldPending{left: mldRobustness - 1, leave: true}
		p.timer = e.p.s.Clock().AfterFunc(e.randDuration(mldUnsolicitedReportInterval), func() { e.mldGroupTimer(group, p) })
		e.mld.pending[group] = p
	}
	e.mld.mu.Unlock()
	if v1 {
		e.mldSendV1(header.ICMPv6MLDv1Done, header.IPv6AllRoutersMulticastAddr, group)
		return
	}
	e.mldSendV2([]netip.Addr{group}, header.MLDv2ChangeToInclude)
}

// mldSendReport sends one report for group.
func (e *endpoint) mldSendReport(group netip.Addr, v1 bool, typ header.MLDv2RecordType) {
	if v1 {
		// RFC 2710 §3: a report goes to the group it reports.
		e.mldSendV1(header.ICMPv6MLDv1Report, group, group)
		return
	}
	e.mldSendV2([]netip.Addr{group}, typ)
}

// mldSendV1 sends an MLDv1 Report or Done about group to dst.
func (e *endpoint) mldSendV1(typ header.ICMPv6Type, dst, group netip.Addr) {
	msg := make([]byte, header.ICMPv6HeaderSize+header.MLDMinimumSize)
	(&header.ICMPv6Fields{Type: typ}).Encode(msg)
	(&header.MLDFields{MulticastAddress: group}).Encode(msg[header.ICMPv6HeaderSize:])
	if e.mldSend(dst, msg) {
		if typ == header.ICMPv6MLDv1Done {
			e.p.stats.MLD.Sent.V1Done.Inc()
		} else {
			e.p.stats.MLD.Sent.V1Report.Inc()
		}
	}
}

// mldSendV2 sends an MLDv2 report to ff02::16 (RFC 3810 §5.2.14) with one
// record of type typ and no sources for each group.
func (e *endpoint) mldSendV2(groups []netip.Addr, typ header.MLDv2RecordType) {
	if len(groups) == 0 {
		return
	}
	// Keep each report within the minimum MTU.
	const perReport = (header.IPv6MinimumMTU - header.IPv6MinimumSize - mldHopByHopSize - header.ICMPv6HeaderSize - header.MLDv2ReportMinimumSize) / header.MLDv2RecordMinimumSize
	for len(groups) > 0 {
		n := min(len(groups), perReport)
		msg := make([]byte, header.ICMPv6HeaderSize+header.MLDv2ReportMinimumSize+n*header.MLDv2RecordMinimumSize)
		(&header.ICMPv6Fields{Type: header.ICMPv6MLDv2Report}).Encode(msg)
		(&header.MLDv2ReportFields{NumberOfRecords: uint16(n)}).Encode(msg[header.ICMPv6HeaderSize:])
		off := header.ICMPv6HeaderSize + header.MLDv2ReportMinimumSize
		for _, g := range groups[:n] {
			r := header.MLDv2RecordFields{Type: typ, MulticastAddress: g}
			r.Encode(msg[off:])
			off += r.Size()
		}
		if e.mldSend(header.IPv6AllMLDv2RoutersMulticastAddr, msg) {
			e.p.stats.MLD.Sent.V2Report.Inc()
		}
		groups = groups[n:]
	}
}

// mldSend sends an MLD message (checksum field zero) to dst: Hop Limit 1,
// a Router Alert with value 0 in a Hop-by-Hop header (RFC 3810 §5, RFC
// 2710 §3), from a usable link-local address, or from :: while there is
// none (RFC 3810 §5.2.13: during DAD of the link-local address).
func (e *endpoint) mldSend(dst netip.Addr, msg []byte) bool {
	src := e.usableLinkLocal()
	if !src.IsValid() {
		src = netip.IPv6Unspecified()
	}
	icmp := header.ICMPv6(msg)
	icmp.SetChecksum(icmp.CalculateChecksum(src, dst))
	pkt := buffer.NewPacket(e.MaxHeaderLength()+mldHopByHopSize, nil)
	copy(pkt.PrependHeader(buffer.TransportLayer, len(msg)), msg)
	hbh := pkt.PrependHeader(buffer.NetworkLayer, mldHopByHopSize)
	hbh[0] = byte(tcpip.ICMPv6ProtocolNumber)
	hbh[1] = 0
	// RFC 2711 §2.1: option type 5, length 2, value 0 (MLD).
	hbh[2], hbh[3], hbh[4], hbh[5] = 5, 2, 0, 0
	// RFC 8200 §4.2: PadN of two bytes fills the header to 8.
	hbh[6], hbh[7] = 1, 0
	hp := ipv6HeaderParams{src: src, dst: dst, proto: 0 /* Hop-by-Hop */, hopLimit: 1}
	if err := e.addHeader(pkt, &hp); err != nil {
		return false
	}
	return e.writeOne(dst, header.EthernetAddrFromMulticastIPv6(dst), pkt) == nil
}

// handleMLD processes MLD messages (RFC 2710, RFC 3810): a listener
// answers queries; reports and dones of others need nothing from a
// listener (MLDv2 has no report suppression, and MLDv1's is optional:
// RFC 2710 §4). Every message also goes to raw endpoints.
func (e *endpoint) handleMLD(pkt *buffer.Packet, typ header.ICMPv6Type, info stack.NetworkPacketInfo, pos chainPos) {
	st := &e.p.stats.MLD
	switch typ {
	case header.ICMPv6MLDQuery:
		st.Received.Query.Inc()
	case header.ICMPv6MLDv1Report:
		st.Received.V1Report.Inc()
	case header.ICMPv6MLDv1Done:
		st.Received.V1Done.Inc()
	case header.ICMPv6MLDv2Report:
		st.Received.V2Report.Inc()
	}
	if typ == header.ICMPv6MLDQuery {
		switch {
		case !info.Source.IsLinkLocalUnicast():
			// RFC 3810 §5.1.14, RFC 2710 §3: queries come from a
			// link-local address.
			st.InvalidSource.Inc()
		case pos.routerAlert < 0:
			// RFC 3810 §5: MLD messages carry a Router Alert.
			st.RouterAlertMissing.Inc()
		case info.TTL != 1:
			st.Malformed.Inc()
		default:
			e.handleMLDQuery(header.ICMPv6(pkt.Payload.Flatten()).MessageBody())
		}
	}
	e.deliverToTransport(pkt, info)
}

// handleMLDQuery schedules the answers to a query (RFC 3810 §6.2, RFC
// 2710 §4).
func (e *endpoint) handleMLDQuery(body []byte) {
	if !e.mldOn() {
		return
	}
	var (
		maxDelay time.Duration
		group    netip.Addr
	)
	switch header.MLDQueryVersion(body) {
	case 1:
		q, err := header.ParseMLD(body)
		if err != nil {
			e.p.stats.MLD.Malformed.Inc()
			return
		}
		maxDelay, group = q.MaxResponseDelay(), q.MulticastAddress()
		// RFC 3810 §8.2.1: an MLDv1 querier puts the host in MLDv1
		// compatibility mode for the Older Version Querier Present
		// Timeout.
		e.mld.mu.Lock()
		e.mld.v1Until = e.p.s.Clock().NowMonotonic().Add(mldOlderVersionQuerierTimeout)
		e.mld.mu.Unlock()
	case 2:
		q, err := header.ParseMLDv2Query(body)
		if err != nil {
			e.p.stats.MLD.Malformed.Inc()
			return
		}
		maxDelay, group = q.MaxResponseDelay(), q.MulticastAddress()
	default:
		// RFC 3810 §8.1: other lengths are ignored.
		e.p.stats.MLD.Malformed.Inc()
		return
	}
	if group.IsUnspecified() {
		e.mldGeneralQuery(maxDelay)
		return
	}
	if !group.IsMulticast() {
		e.p.stats.MLD.Malformed.Inc()
		return
	}
	if e.isMember(group) && mldReportable(group) {
		e.mldScheduleAnswer(group, maxDelay)
	}
}

// mldScheduleAnswer schedules a current-state report for group at a
// random time within maxDelay, unless one is due sooner (RFC 3810 §6.2
// cases 2-3, RFC 2710 §4).
func (e *endpoint) mldScheduleAnswer(group netip.Addr, maxDelay time.Duration) {
	d := e.randDuration(maxDelay)
	e.mld.mu.Lock()
	defer e.mld.mu.Unlock()
	if p := e.mld.pending[group]; p != nil && p.timer != nil {
		// A pending report is kept if it comes sooner; repeats of an
		// unsolicited report go on.
		if p.left > 0 || p.change {
			return
		}
		p.timer.Stop()
	}
	p := &mldPending{left: 1}
	p.timer = e.p.s.Clock().AfterFunc(d, func() { e.mldGroupTimer(group, p) })
	e.mld.pending[group] = p
}

// mldGeneralQuery answers a general query: in MLDv1 mode one report per
// group at random times; in MLDv2 one report of every group at a random
// time within maxDelay (RFC 3810 §6.2 case 1).
func (e *endpoint) mldGeneralQuery(maxDelay time.Duration) {
	e.mld.mu.Lock()
	v1 := e.mldV1Locked()
	e.mld.mu.Unlock()
	if v1 {
		for _, g := range e.groupsSnapshot() {
			if mldReportable(g) {
				e.mldScheduleAnswer(g, maxDelay)
			}
		}
		return
	}
	d := e.randDuration(maxDelay)
	e.mld.mu.Lock()
	defer e.mld.mu.Unlock()
	if e.mld.general != nil {
		e.mld.general.Stop()
	}
	var t tcpip.Timer
	t = e.p.s.Clock().AfterFunc(d, func() {
		e.mld.mu.Lock()
		if e.mld.general != t {
			e.mld.mu.Unlock()
			return
		}
		e.mld.general = nil
		e.mld.mu.Unlock()
		if !e.mldOn() {
			return
		}
		var groups []netip.Addr
		for _, g := range e.groupsSnapshot() {
			if mldReportable(g) {
				groups = append(groups, g)
			}
		}
		e.mldSendV2(groups, header.MLDv2ModeIsExclude)
	})
	e.mld.general = t
}

// stopMLDTimers stops every MLD timer (the NIC goes down).
func (e *endpoint) stopMLDTimers() {
	e.mld.mu.Lock()
	defer e.mld.mu.Unlock()
	for g, p := range e.mld.pending {
		if p.timer != nil {
			p.timer.Stop()
		}
		delete(e.mld.pending, g)
	}
	if e.mld.general != nil {
		e.mld.general.Stop()
		e.mld.general = nil
	}
}
