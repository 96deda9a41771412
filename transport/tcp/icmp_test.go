package tcp_test

import (
	"errors"
	"syscall"
	"testing"

	"github.com/ustack-go/ustack/header"
	"github.com/ustack-go/ustack/seqnum"
	"github.com/ustack-go/ustack/tcpip"
	"github.com/ustack-go/ustack/transport/internal/testnet"
)

// icmpUnreach injects an ICMP destination unreachable from the peer
// quoting a segment A sent from lport with sequence number seq.
func icmpUnreach(e *env, code header.ICMPv4Code, mtu uint16, lport, rport uint16, seq seqnum.Value) {
	tf := header.TCPFields{SrcPort: lport, DstPort: rport, SeqNum: seq, Flags: header.TCPFlagACK}
	tb := make([]byte, tf.Size()+1460) // a full-size segment was quoted
	tf.Encode(tb)
	quoted := testnet.IPv4Packet(addrA, addrPeer, tcpip.TCPProtocolNumber, 64, tb)
	quoted = quoted[:header.IPv4MinimumSize+8]
	f := header.ICMPv4Fields{Type: header.ICMPv4DstUnreachable, Code: code, MTU: mtu}
	b := make([]byte, header.ICMPv4MinimumSize+len(quoted))
	f.Encode(b)
	copy(b[header.ICMPv4MinimumSize:], quoted)
	ic := header.ICMPv4(b)
	ic.SetChecksum(ic.CalculateChecksum())
	e.hub.Send(testnet.IPv4Packet(addrPeer, addrA, tcpip.ICMPv4ProtocolNumber, 64, b))
}

func TestICMPPortUnreachableInSynSent(t *testing.T) {
	e, p, ep, syn := toSynSent(t)
	// A quote outside SND.UNA..SND.NXT is ignored (RFC 5927 §4.1).
	icmpUnreach(e, header.ICMPv4PortUnreachable, 0, p.lport, p.port, syn.f.SeqNum+1000)
	p.expect(0)
	wantState(t, ep, 1) // SYN-SENT
	icmpUnreach(e, header.ICMPv4PortUnreachable, 0, p.lport, p.port, syn.f.SeqNum)
	p.expect(0)
	if err := ep.Connect(tcpip.FullAddress{Addr: addrPeer, Port: p.port}); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("Connect = %v", err)
	}
}

func TestICMPFragmentationNeeded(t *testing.T) {
	e, p, ep := toEstablishedActive(t)
	if err := ep.SetSockOpt(tcpip.DelayOption(false)); err != nil {
		t.Fatal(err)
	}
	data := make([]byte, 3000)
	write(t, ep, data)
	segs := p.expect(3)
	if len(segs[0].data) != 1460 {
		t.Fatalf("first segment %d bytes", len(segs[0].data))
	}
	icmpUnreach(e, header.ICMPv4FragmentationNeeded, 1000, p.lport, p.port, segs[0].f.SeqNum)
	// RFC 1191: the MSS drops to 1000−40 and the data is sent again.
	re := p.expect(4)
	if len(re[0].data) != 960 || re[0].f.SeqNum != segs[0].f.SeqNum {
		t.Fatalf("resent %d bytes at %d", len(re[0].data), re[0].f.SeqNum)
	}
	if in := info(t, ep); in.SndMSS != 960 {
		t.Fatalf("SndMSS %d", in.SndMSS)
	}
	// A host-unreachable is a soft error: the connection stays.
	icmpUnreach(e, header.ICMPv4HostUnreachable, 0, p.lport, p.port, segs[0].f.SeqNum)
	p.expect(0)
	wantState(t, ep, 3) // ESTABLISHED
}
