package ipv6

import (
	"net/netip"

	"github.com/ustack-go/ustack/buffer"
	"github.com/ustack-go/ustack/header"
	"github.com/ustack-go/ustack/stack"
	"github.com/ustack-go/ustack/tcpip"
)

// ndpHopLimit is the Hop Limit of every NDP message: RFC 4861 §6.1.1,
// §7.1: receivers discard messages with another value, which proves the
// sender is on the link.
const ndpHopLimit = 255

// handleNDP validates a Neighbor Discovery message (RFC 4861 §6.1, §7.1,
// §8.1) and processes it. It owns pkt.
func (e *endpoint) handleNDP(pkt *buffer.Packet, typ header.ICMPv6Type, info stack.NetworkPacketInfo) {
	st := &e.p.stats.ICMPv6
	// The checks common to every NDP message: Hop Limit 255, ICMP Code
	// 0, options well formed with no zero length (RFC 4861 §4.6).
	if info.TTL != ndpHopLimit {
		st.NDPInvalidHopLim.Inc()
		pkt.Release()
		return
	}
	msg := pkt.Payload.Flatten()
	icmp := header.ICMPv6(msg)
	if icmp.Code() != 0 {
		st.Malformed.Inc()
		pkt.Release()
		return
	}
	body := icmp.MessageBody()
	switch typ {
	case header.ICMPv6NeighborSolicit:
		ns, err := header.ParseNDPNeighborSolicit(body)
		if err != nil {
			e.countNDPParseError(err)
			pkt.Release()
			return
		}
		if !e.handleNeighborSolicit(ns, info) {
			pkt.Release()
			return
		}
	case header.ICMPv6NeighborAdvert:
		na, err := header.ParseNDPNeighborAdvert(body)
		if err != nil {
			e.countNDPParseError(err)
			pkt.Release()
			return
		}
		if !e.handleNeighborAdvert(na, info) {
			pkt.Release()
			return
		}
	case header.ICMPv6RouterSolicit:
		rs, err := header.ParseNDPRouterSolicit(body)
		if err != nil {
			e.countNDPParseError(err)
			pkt.Release()
			return
		}
		if !e.handleRouterSolicit(rs, info) {
			pkt.Release()
			return
		}
	case header.ICMPv6RouterAdvert:
		ra, err := header.ParseNDPRouterAdvert(body)
		if err != nil {
			e.countNDPParseError(err)
			pkt.Release()
			return
		}
		// RFC 4861 §6.1.2: the source is link-local.
		if !info.Source.IsLinkLocalUnicast() {
			st.Malformed.Inc()
			pkt.Release()
			return
		}
		e.handleRouterAdvert(ra, info)
	case header.ICMPv6Redirect:
		rd, err := header.ParseNDPRedirect(body)
		if err != nil {
			e.countNDPParseError(err)
			pkt.Release()
			return
		}
		// RFC 4861 §8.1: the source is link-local and the destination
		// not multicast.
		if !info.Source.IsLinkLocalUnicast() || rd.DestinationAddress().IsMulticast() {
			st.Malformed.Inc()
			pkt.Release()
			return
		}
		e.handleRedirect(rd, info)
	}
	e.deliverToTransport(pkt, info)
}

// countNDPParseError counts a message the header package refused: too
// short for its fixed part, or with a malformed option.
func (e *endpoint) countNDPParseError(err error) {
	if err == header.ErrBadOption {
		e.p.stats.ICMPv6.NDPInvalidOptions.Inc()
		return
	}
	e.p.stats.ICMPv6.Malformed.Inc()
}

// linkAddrOption returns the link-layer address of the first option of
// type t in opts.
func linkAddrOption(opts header.NDPOptions, t header.NDPOptionType) (tcpip.LinkAddress, bool) {
	it := opts.Iterator()
	for {
		o, ok := it.Next()
		if !ok {
			return tcpip.LinkAddress{}, false
		}
		if o.Type() == t {
			return o.LinkLayerAddress()
		}
	}
}

// handleNeighborSolicit processes a Neighbor Solicitation (RFC 4861
// §7.2.3) and answers it (§7.2.4). It reports whether the message is
// valid, to be passed on to raw endpoints.
func (e *endpoint) handleNeighborSolicit(ns header.NDPNeighborSolicit, info stack.NetworkPacketInfo) bool {
	st := &e.p.stats.ICMPv6
	target := ns.TargetAddress()
	sll, hasSLL := linkAddrOption(ns.Options(), header.NDPOptionSourceLinkLayerAddress)
	dad := info.Source.IsUnspecified()
	// RFC 4861 §7.1.1: the target is not multicast; a solicitation from
	// :: (duplicate address detection) goes to a solicited-node address
	// and carries no source link-layer address.
	if target.IsMulticast() || !target.Is6() ||
		(dad && (hasSLL || !isSolicitedNode(info.Destination))) {
		st.Malformed.Inc()
		return false
	}
	if hasSLL && (!sll.IsUnicast() || sll == e.nic.LinkAddress()) {
		st.NDPInvalidOptions.Inc()
		return false
	}

	if e.isTentative(target) {
		// RFC 4862 §5.4.3: a solicitation from :: for our tentative
		// address means another node is doing DAD for it too; one
		// from a unicast source is someone resolving it, which we
		// do not answer while tentative.
		// RFC 7527 §4.2: our own solicitation looped back carries
		// our nonce and is no conflict.
		if dad && !e.ownDADNonce(target, ns.Options()) {
			st.NDPDuplicateAddress.Inc()
			e.dadConflict(target)
		}
		return true
	}
	if !e.nic.HasAddress(tcpip.IPv6ProtocolNumber, target) {
		// RFC 4861 §7.2.3: not for one of our addresses (proxying
		// is not implemented).
		st.NDPTargetNotOurs.Inc()
		return true
	}

	// RFC 4861 §7.2.3: a solicitation with a source link-layer address
	// creates or updates the sender's entry (STALE when new or changed).
	if !dad && hasSLL {
		if c := e.nic.Neighbors(tcpip.IPv6ProtocolNumber); c != nil {
			c.HandleProbe(info.Source, sll)
		}
	}
	if dad {
		// RFC 4862 §5.4.3: another node probes an address we hold;
		// the advertisement below defends it.
		st.NDPDuplicateAddress.Inc()
	}

	// RFC 4861 §7.2.4: the advertisement comes from the target address
	// and carries our link-layer address (required when the
	// solicitation was multicast, always sent here as Linux does). It
	// goes to the solicitation's source with Solicited set, or to
	// all-nodes with Solicited clear for DAD. Override is set: the
	// target is not an anycast or proxied address. Router tells
	// whether this node forwards.
	dst, solicited := info.Source, true
	if dad {
		dst, solicited = header.IPv6AllNodesMulticastAddr, false
	}
	na := header.NDPNeighborAdvertFields{
		Router:        e.p.s.Forwarding(tcpip.IPv6ProtocolNumber),
		Solicited:     solicited,
		Override:      true,
		TargetAddress: target,
	}
	var linkDst tcpip.LinkAddress
	if hasSLL && !dad {
		// The sender told its link address: answer it directly, as
		// the new STALE entry would.
		linkDst = sll
	}
	e.sendNeighborAdvert(target, dst, linkDst, &na)
	return true
}

// isSolicitedNode reports whether a is a solicited-node multicast address,
// ff02::1:ff00:0/104 (RFC 4291 §2.7.1).
func isSolicitedNode(a netip.Addr) bool {
	b := a.As16()
	return a.Is6() && b[0] == 0xff && b[1] == 0x02 && b[2]|b[3]|b[4]|b[5]|b[6]|b[7]|b[8]|b[9]|b[10] == 0 &&
		b[11] == 0x01 && b[12] == 0xff
}

// handleNeighborAdvert processes a Neighbor Advertisement (RFC 4861
// §7.2.5). It reports whether the message is valid.
func (e *endpoint) handleNeighborAdvert(na header.NDPNeighborAdvert, info stack.NetworkPacketInfo) bool {
	st := &e.p.stats.ICMPv6
	target := na.TargetAddress()
	// RFC 4861 §7.1.2: the target is not multicast, and an
	// advertisement sent to a multicast address is not solicited.
	if target.IsMulticast() || !target.Is6() || (info.Destination.IsMulticast() && na.Solicited()) {
		st.Malformed.Inc()
		return false
	}
	tll, hasTLL := linkAddrOption(na.Options(), header.NDPOptionTargetLinkLayerAddress)
	if hasTLL && !tll.IsUnicast() {
		st.NDPInvalidOptions.Inc()
		return false
	}
	if e.isTentative(target) || e.nic.HasAddress(tcpip.IPv6ProtocolNumber, target) {
		// RFC 4862 §5.4.4: someone else has our (tentative) address.
		// An advertisement of our own looped back is not a conflict.
		if !hasTLL || tll != e.nic.LinkAddress() {
			st.NDPDuplicateAddress.Inc()
			e.dadConflict(target)
		}
		return true
	}
	c := e.nic.Neighbors(tcpip.IPv6ProtocolNumber)
	if c == nil {
		return true
	}
	before, had := c.Entry(target)
	// RFC 4861 §7.2.5: the cache applies the rules of the flags; an
	// advertisement for an address without an entry is ignored there.
	var la tcpip.LinkAddress
	if hasTLL {
		la = tll
	}
	c.HandleConfirmation(target, la, stack.ReachabilityConfirmationFlags{
		Solicited: na.Solicited(),
		Override:  na.Override(),
		IsRouter:  na.Router(),
	})
	if had && before.IsRouter && !na.Router() {
		if after, ok := c.Entry(target); ok && !after.IsRouter {
			// RFC 4861 §7.2.5: "the node MUST remove that router
			// from the Default Router List".
			e.routerFlagCleared(target)
		}
	}
	return true
}

// handleRouterSolicit answers a Router Solicitation at an advertising
// router (RFC 4861 §6.2.6). A host silently discards them (§6.2.6). It
// reports whether the message is valid.
func (e *endpoint) handleRouterSolicit(rs header.NDPRouterSolicit, info stack.NetworkPacketInfo) bool {
	st := &e.p.stats.ICMPv6
	// RFC 4861 §6.1.1: from :: no source link-layer address option.
	if _, hasSLL := linkAddrOption(rs.Options(), header.NDPOptionSourceLinkLayerAddress); hasSLL && info.Source.IsUnspecified() {
		st.Malformed.Inc()
		return false
	}
	if !e.p.s.Forwarding(tcpip.IPv6ProtocolNumber) {
		st.RouterOnlyAtHost.Inc()
		return true
	}
	// RFC 4861 §6.2.6: a solicitation with a source link-layer address
	// updates the solicitor's entry (STALE).
	if sll, ok := linkAddrOption(rs.Options(), header.NDPOptionSourceLinkLayerAddress); ok && sll.IsUnicast() {
		if c := e.nic.Neighbors(tcpip.IPv6ProtocolNumber); c != nil {
			c.HandleProbe(info.Source, sll)
		}
	}
	e.answerRouterSolicit()
	return true
}

// ResolvedProtocol implements stack.LinkAddressResolver.
func (e *endpoint) ResolvedProtocol() tcpip.NetworkProtocolNumber { return tcpip.IPv6ProtocolNumber }

// LinkAddressRequest implements stack.LinkAddressResolver: one Neighbor
// Solicitation for target (RFC 4861 §7.2.2), to its solicited-node
// address, or unicast to remoteLinkAddr when the cache probes an entry
// it has (§7.3.3). Its source is local if it is the NIC's (the source of
// the packet that needs resolving, as §7.2.2 prefers), else the NIC's
// preferred address for target.
func (e *endpoint) LinkAddressRequest(target, local netip.Addr, remoteLinkAddr tcpip.LinkAddress) error {
	if !target.Is6() || target.IsMulticast() {
		return tcpip.ErrInvalidArgument
	}
	if !local.Is6() || !e.nic.HasAddress(tcpip.IPv6ProtocolNumber, local) {
		p, ok := e.nic.PrimaryAddress(tcpip.IPv6ProtocolNumber, target)
		if !ok {
			e.p.stats.ICMPv6.SendErrors.Inc()
			return tcpip.ErrBadLocalAddress
		}
		local = p.Addr()
	}
	dst := target
	linkDst := remoteLinkAddr
	if linkDst.IsZero() {
		dst = header.SolicitedNodeAddr(target)
		linkDst = header.EthernetAddrFromMulticastIPv6(dst)
	}
	size := header.ICMPv6HeaderSize + header.NDPNeighborSolicitMinimumSize + header.NDPLinkLayerAddressOptionSize
	msg := make([]byte, size)
	(&header.ICMPv6Fields{Type: header.ICMPv6NeighborSolicit}).Encode(msg)
	(&header.NDPNeighborSolicitFields{TargetAddress: target}).Encode(msg[header.ICMPv6HeaderSize:])
	// RFC 4861 §4.3: the source link-layer address is included (it
	// MUST be in multicast solicitations).
	(&header.NDPLinkLayerAddressFields{Type: header.NDPOptionSourceLinkLayerAddress, Address: e.nic.LinkAddress()}).
		Encode(msg[header.ICMPv6HeaderSize+header.NDPNeighborSolicitMinimumSize:])
	if err := e.sendNDP(local, dst, linkDst, msg); err != nil {
		return err
	}
	e.p.stats.ICMPv6.Sent.NeighborSolicit.Inc()
	return nil
}

// ResolveStaticAddress implements stack.LinkAddressResolver: multicast
// addresses map to 33:33 and their low 32 bits (RFC 2464 §7).
func (e *endpoint) ResolveStaticAddress(addr netip.Addr) (tcpip.LinkAddress, bool) {
	if addr.Is6() && addr.IsMulticast() {
		return header.EthernetAddrFromMulticastIPv6(addr), true
	}
	return tcpip.LinkAddress{}, false
}

// sendNeighborAdvert sends an advertisement from src to dst, to the link
// address linkDst if it is known. It includes the target link-layer
// address option (RFC 4861 §4.4).
func (e *endpoint) sendNeighborAdvert(src, dst netip.Addr, linkDst tcpip.LinkAddress, na *header.NDPNeighborAdvertFields) {
	size := header.ICMPv6HeaderSize + header.NDPNeighborAdvertMinimumSize + header.NDPLinkLayerAddressOptionSize
	msg := make([]byte, size)
	(&header.ICMPv6Fields{Type: header.ICMPv6NeighborAdvert}).Encode(msg)
	na.Encode(msg[header.ICMPv6HeaderSize:])
	(&header.NDPLinkLayerAddressFields{Type: header.NDPOptionTargetLinkLayerAddress, Address: e.nic.LinkAddress()}).
		Encode(msg[header.ICMPv6HeaderSize+header.NDPNeighborAdvertMinimumSize:])
	if e.sendNDP(src, dst, linkDst, msg) == nil {
		e.p.stats.ICMPv6.Sent.NeighborAdvert.Inc()
	}
}

// sendNDP sends the NDP message msg (checksum field zero) from src to dst
// with Hop Limit 255, to the link address linkDst, or through the
// neighbour cache if it is zero.
func (e *endpoint) sendNDP(src, dst netip.Addr, linkDst tcpip.LinkAddress, msg []byte) error {
	if linkDst.IsZero() && dst.IsMulticast() {
		linkDst = header.EthernetAddrFromMulticastIPv6(dst)
	}
	icmp := header.ICMPv6(msg)
	icmp.SetChecksum(icmp.CalculateChecksum(src, dst))
	pkt := buffer.NewPacket(e.MaxHeaderLength(), nil)
	copy(pkt.PrependHeader(buffer.TransportLayer, len(msg)), msg)
	hp := ipv6HeaderParams{src: src, dst: dst, proto: tcpip.ICMPv6ProtocolNumber, hopLimit: ndpHopLimit}
	if err := e.addHeader(pkt, &hp); err != nil {
		e.p.stats.ICMPv6.SendErrors.Inc()
		return err
	}
	if err := e.writeOne(dst, linkDst, pkt); err != nil {
		e.p.stats.ICMPv6.SendErrors.Inc()
		return err
	}
	return nil
}
