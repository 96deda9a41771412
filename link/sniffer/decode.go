package sniffer

import (
	"encoding/binary"
	"strconv"

	"github.com/ustack-go/ustack/header"
	"github.com/ustack-go/ustack/tcpip"
)

// Summary returns a one-line decode of a frame of link type lt: link
// addresses and EtherType, ARP operation, IP addresses, fragments and
// protocol, ICMP type, UDP and TCP ports (and TCP flags, sequence numbers
// and window). It decodes with the views of package header as far as they
// accept the bytes and says where it stopped; it never panics, whatever
// the bytes.
func Summary(lt LinkType, frame []byte) string {
	var b []byte
	switch lt {
	case LinkTypeEthernet:
		b = summarizeEthernet(b, frame)
	case LinkTypeRaw:
		b = summarizeIP(b, frame)
	default:
		b = append(b, "linktype "...)
		b = strconv.AppendUint(b, uint64(lt), 10)
		b = appendLen(b, len(frame))
	}
	return string(b)
}

// vlanTPID is the EtherType of an IEEE 802.1Q tag (802.1Q-2018 §9.5);
// the tag is 4 bytes, the TCI then the EtherType of what follows.
const (
	vlanTPID    = 0x8100
	vlanTagSize = 4
)

func summarizeEthernet(b, frame []byte) []byte {
	eth, err := header.ParseEthernet(frame)
	if err != nil {
		return appendBad(b, "ethernet", len(frame), err)
	}
	b = eth.Source().AppendTo(b)
	b = append(b, " > "...)
	b = eth.Destination().AppendTo(b)
	typ := eth.Type()
	rest := eth.Payload()
	for typ == vlanTPID {
		if len(rest) < vlanTagSize {
			return appendBad(append(b, ", "...), "802.1Q tag", len(rest), header.ErrTruncated)
		}
		b = append(b, ", vlan "...)
		b = strconv.AppendUint(b, uint64(binary.BigEndian.Uint16(rest)&0x0fff), 10)
		typ = tcpip.NetworkProtocolNumber(binary.BigEndian.Uint16(rest[2:]))
		rest = rest[vlanTagSize:]
	}
	b = append(b, ", "...)
	switch typ {
	case tcpip.IPv4ProtocolNumber, tcpip.IPv6ProtocolNumber:
		return summarizeIP(b, rest)
	case tcpip.ARPProtocolNumber:
		return summarizeARP(b, rest)
	}
	b = append(b, "ethertype 0x"...)
	b = appendHex16(b, uint16(typ))
	return appendLen(b, len(rest))
}

// summarizeARP decodes an RFC 826 packet for Ethernet and IPv4.
func summarizeARP(b, p []byte) []byte {
	arp, err := header.ParseARP(p)
	if err != nil {
		return appendBad(b, "ARP", len(p), err)
	}
	switch arp.Op() {
	case header.ARPRequest:
		b = append(b, "ARP who-has "...)
		b = arp.TargetProtocolAddress().AppendTo(b)
		b = append(b, " tell "...)
		return arp.SenderProtocolAddress().AppendTo(b)
	case header.ARPReply:
		b = append(b, "ARP reply "...)
		b = arp.SenderProtocolAddress().AppendTo(b)
		b = append(b, " is-at "...)
		return arp.SenderHardwareAddress().AppendTo(b)
	}
	b = append(b, "ARP "...)
	return append(b, arp.Op().String()...)
}

// summarizeIP tells IPv4 from IPv6 by the version nibble (RFC 791 §3.1,
// RFC 8200 §3).
func summarizeIP(b, p []byte) []byte {
	if len(p) == 0 {
		return appendBad(b, "IP", 0, header.ErrTruncated)
	}
	switch p[0] >> 4 {
	case header.IPv4Version:
		return summarizeIPv4(b, p)
	case header.IPv6Version:
		return summarizeIPv6(b, p)
	}
	b = append(b, "IP version "...)
	return strconv.AppendUint(b, uint64(p[0]>>4), 10)
}

func summarizeIPv4(b, p []byte) []byte {
	ip, err := header.ParseIPv4(p)
	if err != nil {
		return appendBad(b, "IPv4", len(p), err)
	}
	b = append(b, "IPv4 "...)
	b = ip.Source().AppendTo(b)
	b = append(b, " > "...)
	b = ip.Destination().AppendTo(b)
	if ip.IsFragment() {
		b = appendFrag(b, ip.FragmentOffset(), ip.More())
		if !ip.IsFirstFragment() {
			// RFC 791 §3.2: only the first fragment carries the
			// transport header.
			b = append(b, ' ')
			b = append(b, ip.Protocol().String()...)
			return appendLen(b, len(ip.Payload()))
		}
	}
	b = append(b, ' ')
	return summarizeTransport(b, ip.Protocol(), ip.Payload(), false)
}

func summarizeIPv6(b, p []byte) []byte {
	ip, err := header.ParseIPv6(p)
	if err != nil {
		return appendBad(b, "IPv6", len(p), err)
	}
	b = append(b, "IPv6 "...)
	b = ip.Source().AppendTo(b)
	b = append(b, " > "...)
	b = ip.Destination().AppendTo(b)
	// Walk the extension headers (RFC 8200 §4) to the upper layer.
	it := ip.ExtHdrs()
	laterFragment := false
	for {
		h, ok := it.Next()
		if !ok {
			return appendBad(append(b, ' '), "extension headers", len(ip.Payload()), it.Err())
		}
		if h.UpperLayer {
			b = append(b, ' ')
			if laterFragment {
				// RFC 8200 §4.5: the data of a fragment at a
				// non-zero offset holds no upper-layer header.
				b = append(b, h.Type.String()...)
				return appendLen(b, len(h.Bytes))
			}
			return summarizeTransport(b, h.Type, h.Bytes, true)
		}
		if h.Type == tcpip.IPv6FragmentProtocolNumber {
			frag := header.IPv6FragmentHeader(h.Bytes) // the walk checked its size
			b = appendFrag(b, frag.FragmentOffset(), frag.More())
			laterFragment = frag.FragmentOffset() != 0
		}
	}
}

func appendFrag(b []byte, off uint16, more bool) []byte {
	b = append(b, " frag off="...)
	b = strconv.AppendUint(b, uint64(off), 10)
	if more {
		b = append(b, " MF"...)
	}
	return b
}

func summarizeTransport(b []byte, proto tcpip.TransportProtocolNumber, p []byte, v6 bool) []byte {
	switch proto {
	case tcpip.TCPProtocolNumber:
		tcp, err := header.ParseTCP(p)
		if err != nil {
			return appendBad(b, "TCP", len(p), err)
		}
		b = append(b, "TCP "...)
		b = strconv.AppendUint(b, uint64(tcp.SourcePort()), 10)
		b = append(b, " > "...)
		b = strconv.AppendUint(b, uint64(tcp.DestinationPort()), 10)
		b = append(b, " ["...)
		b = append(b, tcp.Flags().String()...)
		b = append(b, "] seq="...)
		b = strconv.AppendUint(b, uint64(tcp.SequenceNumber()), 10)
		b = append(b, " ack="...)
		b = strconv.AppendUint(b, uint64(tcp.AckNumber()), 10)
		b = append(b, " win="...)
		b = strconv.AppendUint(b, uint64(tcp.WindowSize()), 10)
		return appendLen(b, len(tcp.Payload()))
	case tcpip.UDPProtocolNumber:
		udp, err := header.ParseUDP(p)
		if err != nil {
			return appendBad(b, "UDP", len(p), err)
		}
		b = append(b, "UDP "...)
		b = strconv.AppendUint(b, uint64(udp.SourcePort()), 10)
		b = append(b, " > "...)
		b = strconv.AppendUint(b, uint64(udp.DestinationPort()), 10)
		return appendLen(b, len(udp.Payload()))
	case tcpip.ICMPv4ProtocolNumber:
		if v6 {
			break
		}
		icmp, err := header.ParseICMPv4(p)
		if err != nil {
			return appendBad(b, "ICMP", len(p), err)
		}
		b = append(b, "ICMP "...)
		b = append(b, icmp.Type().String()...)
		if icmp.Code() != 0 {
			b = append(b, " ("...)
			b = append(b, icmp.Type().CodeString(icmp.Code())...)
			b = append(b, ')')
		}
		return appendLen(b, len(p))
	case tcpip.ICMPv6ProtocolNumber:
		if !v6 {
			break
		}
		icmp, err := header.ParseICMPv6(p)
		if err != nil {
			return appendBad(b, "ICMPv6", len(p), err)
		}
		b = append(b, "ICMPv6 "...)
		b = append(b, icmp.Type().String()...)
		if icmp.Code() != 0 {
			b = append(b, " ("...)
			b = append(b, icmp.Type().CodeString(icmp.Code())...)
			b = append(b, ')')
		}
		return appendLen(b, len(p))
	}
	b = append(b, proto.String()...)
	return appendLen(b, len(p))
}

func appendLen(b []byte, n int) []byte {
	b = append(b, " len="...)
	return strconv.AppendInt(b, int64(n), 10)
}

// appendBad says that what could not be decoded from n bytes, and why.
func appendBad(b []byte, what string, n int, err error) []byte {
	b = append(b, what...)
	b = append(b, " undecodable ("...)
	b = strconv.AppendInt(b, int64(n), 10)
	b = append(b, " bytes: "...)
	b = append(b, err.Error()...)
	return append(b, ')')
}

func appendHex16(b []byte, v uint16) []byte {
	const hex = "0123456789abcdef"
	return append(b, hex[v>>12], hex[v>>8&0xf], hex[v>>4&0xf], hex[v&0xf])
}
