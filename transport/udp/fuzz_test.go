package udp_test

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"github.com/ustack-go/ustack/header"
	"github.com/ustack-go/ustack/tcpip"
	"github.com/ustack-go/ustack/transport/internal/testnet"
	"github.com/ustack-go/ustack/transport/udp"
)

// maxFuzzDatagram bounds the UDP datagrams FuzzUDPInbound sends.
const maxFuzzDatagram = 2048

// FuzzUDPInbound delivers arbitrary UDP headers and payloads, in valid
// IPv4 packets to unicast, broadcast, multicast and foreign destinations,
// to a stack with UDP endpoints of every kind (wildcard, specific
// address, SO_REUSEPORT group members, connected, dual-stack, raw), and
// reads whatever they queue. Nothing may panic, and every packet must be
// released (checked when the target ends).
//
// flags: bits 0-1 pick the destination; bit 2 fixes the Length field; bit
// 3 fixes the checksum; bit 4 sends from the connected endpoint's peer.
func FuzzUDPInbound(f *testing.F) {
	e := newEnv(f, envOptions{})
	eps := []tcpip.Endpoint{
		bound(f, e.b, netip.Addr{}, 53),
		bound(f, e.b, addrB, 54),
		bound(f, e.b, netip.Addr{}, 55, tcpip.ReusePortOption(true), tcpip.ReceivePacketInfoOption(true)),
		bound(f, e.b, netip.Addr{}, 55, tcpip.ReusePortOption(true), tcpip.TimestampOption(true)),
		bound(f, e.b, subnetB, 56),
	}
	if err := eps[2].SetSockOpt(tcpip.AddMembershipOption{MulticastAddr: group, NIC: 1}); err != nil {
		f.Fatal(err)
	}
	conn := bound(f, e.b, netip.Addr{}, 57, tcpip.ReceiveBufferSizeOption(8192))
	if err := conn.Connect(tcpip.FullAddress{Addr: addrA, Port: 1000}); err != nil {
		f.Fatal(err)
	}
	eps = append(eps, conn)
	dual, err := e.b.TransportProtocolInstance(udp.ProtocolNumber).NewEndpoint(tcpip.IPv6ProtocolNumber)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(dual.Close)
	if err := dual.Bind(tcpip.FullAddress{Port: 58}); err != nil {
		f.Fatal(err)
	}
	eps = append(eps, dual, newRawUDP(f, e))

	for _, s := range []struct {
		flags byte
		udp   []byte
	}{
		{0x0c, testnet.UDP(addrA, addrB, 1, 53, []byte("hello"))},
		{0x1c, testnet.UDP(addrA, addrB, 1000, 57, []byte("peer"))},
		{0x0d, testnet.UDP(addrA, subnetB, 1, 55, nil)},
		{0x0e, testnet.UDP(addrA, group, 1, 55, []byte("group"))},
		{0x00, []byte{0, 1, 0, 53, 0, 4, 0, 0}},
		{0x04, []byte{0, 1, 0, 58, 0xff, 0xff, 0, 0, 1, 2, 3}},
		{0x08, []byte{0, 1, 0, 99, 0, 9, 0, 0, 'x'}},
		{0x0f, []byte{0xff}},
	} {
		f.Add(s.flags, s.udp)
	}
	dsts := [4]netip.Addr{addrB, subnetB, group, netip.MustParseAddr("10.0.0.77")}
	buf := make([]byte, 1<<16)
	small := make([]byte, 3)
	f.Fuzz(func(t *testing.T, flags byte, b []byte) {
		// Large datagrams take the same paths as small ones (the unit
		// tests send them); small inputs keep each run, and the
		// minimisation of every new input, fast.
		if len(b) > maxFuzzDatagram {
			b = b[:maxFuzzDatagram]
		}
		b = bytes.Clone(b) // the engine's bytes must not change
		// Refill the ICMP rate limit's bucket, so that each input is
		// answered the same way whatever ran before it.
		e.hub.Clock.Advance(time.Second)
		src, dst := addrA, dsts[flags&3]
		if flags&0x10 == 0 {
			src = netip.MustParseAddr("10.0.0.9")
		}
		if flags&0x04 != 0 && len(b) >= header.UDPMinimumSize {
			binary.BigEndian.PutUint16(b[4:], uint16(len(b)))
		}
		if flags&0x08 != 0 && len(b) >= header.UDPMinimumSize {
			u := header.UDP(b)
			u.SetChecksum(0)
			if int(u.Length()) >= header.UDPMinimumSize && int(u.Length()) <= len(b) {
				u.SetChecksum(header.UDP(b[:u.Length()]).CalculateChecksum(src, dst))
			}
		}
		e.hub.Send(testnet.IPv4UDP(src, dst, 64, b))
		e.hub.Pump()
		for i, ep := range eps {
			for {
				p := buf
				if i%2 == 1 {
					p = small
				}
				if _, err := ep.Read(p, tcpip.ReadOptions{Peek: i == 0, NeedRemoteAddr: true}); err != nil {
					break
				}
				if i == 0 {
					ep.Read(p, tcpip.ReadOptions{})
				}
			}
		}
	})
}
