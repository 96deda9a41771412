package tcpip

import (
	"fmt"
	"reflect"
	"strings"
	"sync/atomic"
)

// Counter is a statistic updated atomically. Most counters only grow; a few
// (named Current…) are gauges that also go down. The zero value is ready to
// use. A Counter must not be copied after first use.
type Counter struct {
	v atomic.Uint64
}

// Inc adds one.
func (c *Counter) Inc() { c.v.Add(1) }

// Add adds n.
func (c *Counter) Add(n uint64) { c.v.Add(n) }

// Dec subtracts one from a gauge.
func (c *Counter) Dec() { c.v.Add(^uint64(0)) }

// Load returns the current value.
func (c *Counter) Load() uint64 { return c.v.Load() }

// Stats is the tree of a stack's counters. Every packet a layer drops
// increments exactly one counter naming the reason. A stack owns one Stats
// and shares it with its protocols; each NIC has a NICStats of its own.
type Stats struct {
	IPv4   IPStats
	IPv6   IPStats
	ARP    ARPStats
	ICMPv4 ICMPv4Stats
	ICMPv6 ICMPv6Stats
	IGMP   IGMPStats
	MLD    MLDStats
	UDP    UDPStats
	TCP    TCPStats
	// NICs sums the link-level counters of every NIC.
	NICs NICStats
}

// NICStats counts what crosses one NIC and what the NIC drops.
type NICStats struct {
	RxPackets Counter
	RxBytes   Counter
	TxPackets Counter
	TxBytes   Counter

	// Inbound drops.
	RxDisabled        Counter // arrived while the NIC was disabled
	RxMalformedFrame  Counter // shorter than the link header
	RxUnknownProtocol Counter // no network protocol for the EtherType
	RxNotForUs        Counter // destination link address not ours, not promiscuous
	RxInvalidSource   Counter // multicast or broadcast source link address

	// Outbound drops.
	TxErrors          Counter // the link refused the frame
	TxDisabled        Counter // sent while the NIC was disabled
	TxQueueFull       Counter // the link's queue was full
	TxNoLinkAddress   Counter // neighbour resolution failed
	TxResolutionQueue Counter // queue of packets awaiting resolution full
}

// IPStats counts packets of one IP version.
type IPStats struct {
	PacketsReceived  Counter // every packet handed up by a NIC
	PacketsDelivered Counter // handed to a transport or raw endpoint
	PacketsSent      Counter // handed to a NIC, fragments counted once each
	PacketsForwarded Counter

	// Validation drops, one counter per reason (RFC 791/RFC 8200 and
	// RFC 1122 §3.2.1).
	HeaderTooShort         Counter
	BadVersion             Counter
	BadHeaderLength        Counter
	BadTotalLength         Counter
	ChecksumErrors         Counter
	InvalidSourceAddress   Counter // multicast, broadcast, or a martian source
	InvalidDestination     Counter // not ours and not forwarded
	MalformedOptions       Counter // IPv4 options or IPv6 extension headers
	UnknownOptionDiscarded Counter // an IPv6 option whose type said "discard"
	RoutingHeaderRefused   Counter // IPv6 routing type 0 (RFC 5095)
	UnknownProtocol        Counter // no transport protocol for the number
	FilteredIn             Counter
	FilteredOut            Counter
	LinkLocalNotForwarded  Counter

	// Forwarding and sending.
	NoRoute          Counter
	HopLimitExceeded Counter
	PacketTooBig     Counter // DF set (IPv4) or IPv6, larger than the MTU
	OutgoingErrors   Counter

	// Fragmentation (RFC 791 §3.2, RFC 815, RFC 8200 §4.5).
	FragmentsReceived        Counter
	PacketsReassembled       Counter
	ReassemblyTimeouts       Counter
	ReassemblyOverlaps       Counter // RFC 5722: the whole datagram is dropped
	ReassemblyMemoryLimit    Counter
	ReassemblyTooManyFrags   Counter
	ReassemblyMalformed      Counter // bad offsets, lengths, or a short non-last fragment
	ReassemblyDuplicates     Counter // a fragment identical in place to one held: dropped alone
	IncompleteHeaderChain    Counter // IPv6 first fragment without the whole header chain (RFC 7112)
	AtomicFragmentsDiscarded Counter
	FragmentsCreated         Counter
	FragmentationErrors      Counter
}

// ARPStats counts ARP (RFC 826) and IPv4 neighbour resolution.
type ARPStats struct {
	PacketsReceived  Counter
	RequestsReceived Counter
	RepliesReceived  Counter
	RequestsSent     Counter
	RepliesSent      Counter
	GratuitousSent   Counter

	Malformed            Counter // short, or hardware/protocol sizes wrong
	UnsupportedHardware  Counter // hardware type other than Ethernet
	UnsupportedProtocol  Counter // protocol type other than IPv4
	RequestsNotForUs     Counter // target address not owned
	InvalidSourceAddress Counter // sender link address multicast or ours
	OutgoingErrors       Counter
	ResolutionFailures   Counter // no reply after every attempt
}

// ICMPv4Messages counts ICMPv4 messages by type (RFC 792).
type ICMPv4Messages struct {
	EchoRequest    Counter
	EchoReply      Counter
	DstUnreachable Counter
	SourceQuench   Counter
	Redirect       Counter
	TimeExceeded   Counter
	ParamProblem   Counter
	Timestamp      Counter
	TimestampReply Counter
	InfoRequest    Counter
	InfoReply      Counter
	Other          Counter
}

// ICMPv4Stats counts ICMPv4.
type ICMPv4Stats struct {
	Received ICMPv4Messages
	Sent     ICMPv4Messages

	Malformed      Counter
	ChecksumErrors Counter
	RateLimited    Counter // errors not sent because the token bucket was empty
	SendErrors     Counter
	NotSentToErr   Counter // RFC 1122 §3.2.2: no error about an error, broadcast, fragment
	// EchoBroadcastIgnored counts echo requests to a broadcast or
	// multicast address left unanswered (Linux icmp_echo_ignore_broadcasts).
	EchoBroadcastIgnored Counter
}

// ICMPv6Messages counts ICMPv6 messages by type (RFC 4443, RFC 4861).
type ICMPv6Messages struct {
	DstUnreachable  Counter
	PacketTooBig    Counter
	TimeExceeded    Counter
	ParamProblem    Counter
	EchoRequest     Counter
	EchoReply       Counter
	RouterSolicit   Counter
	RouterAdvert    Counter
	NeighborSolicit Counter
	NeighborAdvert  Counter
	Redirect        Counter
	Other           Counter
}

// ICMPv6Stats counts ICMPv6 and neighbour discovery.
type ICMPv6Stats struct {
	Received ICMPv6Messages
	Sent     ICMPv6Messages

	Malformed         Counter
	ChecksumErrors    Counter
	RateLimited       Counter
	SendErrors        Counter
	NotSentToErr      Counter // RFC 4443 §2.4(e)
	NDPInvalidHopLim  Counter // RFC 4861 §6.1, §7.1: hop limit not 255
	NDPInvalidOptions Counter
	RouterOnlyAtHost  Counter // RS or redirect-from-host received by a host
	ResolutionFailure Counter
	// NDPTargetNotOurs counts neighbour solicitations for an address
	// the NIC does not have (RFC 4861 §7.2.3: silently discarded).
	NDPTargetNotOurs Counter
	// NDPDuplicateAddress counts solicitations from :: and
	// advertisements for one of the NIC's own addresses: another node
	// claims it (RFC 4862 §5.4.3, §5.4.4).
	NDPDuplicateAddress Counter
}

// IGMPMessages counts IGMP messages by type.
type IGMPMessages struct {
	MembershipQuery Counter
	V1Report        Counter
	V2Report        Counter
	V3Report        Counter
	LeaveGroup      Counter
}

// IGMPStats counts IGMPv2/v3 (RFC 2236, RFC 3376).
type IGMPStats struct {
	Received IGMPMessages
	Sent     IGMPMessages

	Malformed          Counter
	ChecksumErrors     Counter
	Unrecognized       Counter
	RouterAlertMissing Counter
}

// MLDMessages counts MLD messages by type.
type MLDMessages struct {
	Query    Counter
	V1Report Counter
	V1Done   Counter
	V2Report Counter
}

// MLDStats counts MLDv1/v2 (RFC 2710, RFC 3810).
type MLDStats struct {
	Received MLDMessages
	Sent     MLDMessages

	Malformed          Counter
	InvalidSource      Counter // not link-local (RFC 3810 §5)
	RouterAlertMissing Counter
}

// UDPStats counts UDP (RFC 768).
type UDPStats struct {
	PacketsReceived Counter
	PacketsSent     Counter

	Malformed           Counter // short, or length field wrong
	ChecksumErrors      Counter
	UnknownPort         Counter // no endpoint; ICMP port unreachable may follow
	ReceiveBufferErrors Counter // the endpoint's receive buffer was full
	InvalidSource       Counter
	SendErrors          Counter
}

// TCPStats counts TCP (RFC 9293 and its companions).
type TCPStats struct {
	ActiveOpenings     Counter
	PassiveOpenings    Counter
	CurrentEstablished Counter // gauge
	CurrentConnected   Counter // gauge: established, or closing but not closed
	EstablishedResets  Counter
	EstablishedClosed  Counter
	EstablishedTimeout Counter
	FailedConnections  Counter

	SegmentsReceived  Counter
	SegmentsSent      Counter
	SegmentSendErrors Counter
	ResetsSent        Counter
	ResetsReceived    Counter

	Malformed             Counter
	ChecksumErrors        Counter
	InvalidOptions        Counter
	NoEndpoint            Counter // no connection or listener: answered by RST
	OutOfWindow           Counter
	PAWSRejected          Counter
	ChallengeACKsSent     Counter
	ChallengeACKsLimited  Counter
	ReceiveBufferDrops    Counter
	ListenOverflowSYNDrop Counter
	ListenOverflowACKDrop Counter
	SYNCookiesSent        Counter
	SYNCookiesValid       Counter
	SYNCookiesInvalid     Counter
	HalfOpenTimedOut      Counter
	PortExhausted         Counter

	// Drops by state (RFC 9293 §3.10.7), one counter per reason.
	ListenDrops     Counter // LISTEN: a stray RST, neither SYN nor ACK, SYN with FIN or from a multicast source, a completing ACK at a wrong sequence number, no route for the new connection
	SynSentDrops    Counter // SYN-SENT: an RST without ACK, or neither SYN nor RST (RFC 9293 §3.10.7.3)
	UnacceptableACK Counter // an ACK of something never sent: in SYN-SENT, SYN-RECEIVED, LISTEN, or above SND.NXT (RFC 5961 §5.2)
	NoACKDrops      Counter // a segment without ACK in SYN-RECEIVED or a synchronized state (RFC 9293 §3.10.7.4, fifth step)
	DataDiscarded   Counter // data after the peer's FIN, or arriving after Close (RFC 9293 §3.10.7.4, seventh step)

	Retransmits         Counter
	Timeouts            Counter
	FastRetransmits     Counter
	FastRecovery        Counter
	SACKRecovery        Counter
	TLPProbes           Counter // tail loss probes sent (RFC 8985 §7.3)
	TLPRecovered        Counter // losses a tail loss probe repaired (RFC 8985 §7.4)
	RACKLost            Counter // segments RACK marked lost (RFC 8985 §6.2)
	RACKRecovery        Counter // fast recoveries RACK started before DupThresh
	SpuriousRecovery    Counter
	SpuriousRTORecovery Counter
	DSACKReceived       Counter
	ECNNegotiated       Counter // connections that agreed on ECN (RFC 3168 §6.1.1)
	ECNCEReceived       Counter // segments received with the CE codepoint on an ECN connection (RFC 3168 §6.1.3)
	ECNECEReceived      Counter // ACKs received with ECE on an ECN connection (RFC 3168 §6.1.2)
	ECNCwndReductions   Counter // congestion window reductions in response to ECE (RFC 3168 §6.1.2)
	ZeroWindowProbes    Counter
	KeepAlivesSent      Counter
	KeepAliveTimeouts   Counter
	UserTimeouts        Counter
	AbortOnLinger       Counter // reset when SO_LINGER's timeout expired before the close completed
}

// CounterValue is one counter in a snapshot, named by its path in the tree
// (for example "IPv4.ChecksumErrors").
type CounterValue struct {
	Name  string
	Value uint64
}

// Snapshot is a copy of a tree of counters at one moment, in field order.
type Snapshot []CounterValue

// Get returns the value of the named counter and whether it exists.
func (s Snapshot) Get(name string) (uint64, bool) {
	for _, c := range s {
		if c.Name == name {
			return c.Value, true
		}
	}
	return 0, false
}

// NonZero returns the counters whose value is not zero.
func (s Snapshot) NonZero() Snapshot {
	var out Snapshot
	for _, c := range s {
		if c.Value != 0 {
			out = append(out, c)
		}
	}
	return out
}

// String formats the snapshot one counter a line, "Name value".
func (s Snapshot) String() string {
	width := 0
	for _, c := range s {
		width = max(width, len(c.Name))
	}
	var b strings.Builder
	for _, c := range s {
		fmt.Fprintf(&b, "%-*s %d\n", width, c.Name, c.Value)
	}
	return b.String()
}

// Snapshot copies every counter of s.
func (s *Stats) Snapshot() Snapshot { return SnapshotOf("", s) }

// Snapshot copies every counter of s.
func (s *NICStats) Snapshot() Snapshot { return SnapshotOf("", s) }

var counterType = reflect.TypeFor[Counter]()

// SnapshotOf copies every Counter reachable through the struct fields of
// tree, a pointer to a struct, naming each by prefix and its field path.
func SnapshotOf(prefix string, tree any) Snapshot {
	var out Snapshot
	v := reflect.ValueOf(tree)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		return nil
	}
	walkCounters(prefix, v.Elem(), func(name string, c *Counter) {
		out = append(out, CounterValue{name, c.Load()})
	})
	return out
}

func walkCounters(prefix string, v reflect.Value, fn func(string, *Counter)) {
	t := v.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name := f.Name
		if prefix != "" {
			name = prefix + "." + name
		}
		fv := v.Field(i)
		switch {
		case f.Type == counterType:
			fn(name, fv.Addr().Interface().(*Counter))
		case f.Type.Kind() == reflect.Struct:
			walkCounters(name, fv, fn)
		}
	}
}
