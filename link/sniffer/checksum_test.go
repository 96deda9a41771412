package sniffer_test

import (
	"bytes"
	"testing"

	"github.com/ustack-go/ustack/buffer"
	"github.com/ustack-go/ustack/header"
	"github.com/ustack-go/ustack/internal/leakcheck"
	"github.com/ustack-go/ustack/link/internal/linktest"
	"github.com/ustack-go/ustack/link/pipe"
	"github.com/ustack-go/ustack/link/sniffer"
	"github.com/ustack-go/ustack/tcpip"
)

// checksumField returns the offset of the TCP or UDP checksum in an
// Ethernet frame of IPv4 or IPv6 without extension headers.
func checksumField(t *testing.T, f []byte) int {
	t.Helper()
	eth, err := header.ParseEthernet(f)
	if err != nil {
		t.Fatal(err)
	}
	off := header.EthernetMinimumSize
	var proto tcpip.TransportProtocolNumber
	switch eth.Type() {
	case tcpip.IPv4ProtocolNumber:
		h := header.IPv4(f[off:])
		proto, off = h.Protocol(), off+h.HeaderLength()
	case tcpip.IPv6ProtocolNumber:
		proto, off = header.IPv6(f[off:]).NextHeader(), off+header.IPv6MinimumSize
	}
	switch proto {
	case tcpip.TCPProtocolNumber:
		return off + 16
	case tcpip.UDPProtocolNumber:
		return off + 6
	}
	t.Fatalf("frame of protocol %d", proto)
	return 0
}

// Frames whose transport checksums a TX-offload link left unfilled are
// captured with them filled in when Options.FillChecksums asks for it and
// the link has offload, and as they are otherwise.
func TestFillChecksums(t *testing.T) {
	leakcheck.Check(t)
	linktest.CheckBuffers(t)
	frames := []string{"ipv4_udp", "ipv4_tcp_syn", "ipv4_tcp_synack", "ipv6_udp", "ipv6_tcp_syn", "ipv6_tcp_synack"}
	for _, tc := range []struct {
		name          string
		fill, offload bool
		wantFilled    bool
	}{
		{"fill", true, true, true},
		{"nofill", false, true, false},
		{"nooffload", true, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var w bytes.Buffer
			a, b := pipe.New(pipe.Config{AddressA: macA, AddressB: macB, NoChecksumOffload: !tc.offload})
			s := sniffer.New(a, &w, sniffer.Options{Clock: tcpip.NewManualClock(), FillChecksums: tc.fill})
			rb := linktest.NewRecorder()
			b.Attach(rb)
			var unfilled [][]byte
			for _, name := range frames {
				f := append([]byte(nil), linktest.Golden(t, name)...)
				i := checksumField(t, f)
				f[i], f[i+1] = 0, 0
				unfilled = append(unfilled, f)
				if _, err := s.WritePackets([]*buffer.Packet{buffer.NewPacketFromBytes(0, f)}); err != nil {
					t.Fatal(err)
				}
				// The frame on the link is not changed.
				got := rb.WaitN(t, 1)
				if !bytes.Equal(got[0].Pkt.AppendTo(nil), f) {
					t.Errorf("%s: the link carried a changed frame", name)
				}
				linktest.ReleaseAll(got)
			}
			s.Close()
			b.Close()
			_, _, _, recs := parsePcap(t, w.Bytes())
			if len(recs) != len(frames) {
				t.Fatalf("%d records, want %d", len(recs), len(frames))
			}
			for i, r := range recs {
				want := unfilled[i]
				if tc.wantFilled {
					want = linktest.Golden(t, frames[i])
				}
				if !bytes.Equal(r.data, want) {
					t.Errorf("%s: captured % x, want % x", frames[i], r.data, want)
				}
			}
		})
	}
}
