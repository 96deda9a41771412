package tcp_test

import (
	"errors"
	"syscall"
	"testing"
	"time"

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

// RFC 8201 §5.4, RFC 1191 §6.5 and RFC 4821 §4: a path MTU reduction is
// not congestion. Ten segments of 1000 bytes are in flight when a
// fragmentation needed for an MTU of 800 arrives: the MSS drops to 760
// and the window, rescaled to ten segments of the new size, sends the
// first 7600 bytes again at once. When the first of those are ACKed a
// round trip later, the old segments beyond them, sent before the
// retransmissions RACK just saw delivered, must not be taken for
// losses that start fast recovery (RFC 8985 §6.2 step 5): they go again
// as the window opens, and neither cwnd nor ssthresh shrinks.
func TestICMPFragmentationNeededNoCongestion(t *testing.T) {
	e, p, ep := toEstablishedSACK(t)
	b := sendSegments(t, p, ep, 10)
	before := info(t, ep)
	e.advance(10 * time.Millisecond)
	dataSent(e, b) // a tail loss probe, perhaps (RFC 8985 §7)
	icmpUnreach(e, header.ICMPv4FragmentationNeeded, 800, p.lport, p.port, b)
	const mss = 800 - header.IPv4MinimumSize - header.TCPMinimumSize
	var sent [10 * sackMSS]bool // the bytes sent again
	resent := 0
	take := func(step string) {
		t.Helper()
		e.pump()
		for _, s := range e.sn.take() {
			if s.src != addrA || len(s.data) == 0 {
				continue
			}
			if len(s.data) > mss {
				t.Fatalf("%s: %d bytes at %d, more than the MSS %d", step, len(s.data), b.Size(s.f.SeqNum), mss)
			}
			off := int(b.Size(s.f.SeqNum))
			for i := off; i < off+len(s.data) && i < len(sent); i++ {
				sent[i] = true
			}
			resent += len(s.data)
		}
	}
	take("after the ICMP")
	if !sent[0] {
		t.Fatal("nothing resent from SND.UNA after the ICMP")
	}
	if resent >= len(sent) {
		t.Fatalf("the whole flight went again at once (%d bytes): the test needs old segments left", resent)
	}
	mid := info(t, ep)
	if mid.SndMSS != mss {
		t.Fatalf("SndMSS %d, want %d", mid.SndMSS, mss)
	}
	// The first two retransmissions arrive; the rest of the flight
	// follows an ACK at a time.
	for ack := 2 * mss; ; ack += 2 * mss {
		e.advance(20 * time.Millisecond)
		ack = min(ack, 10*sackMSS)
		p.send(segOpts{flags: ACK, ack: sv(b.Add(seqnum.Size(ack)))})
		take("ACK")
		if ack == 10*sackMSS {
			break
		}
	}
	for i := range sent {
		if !sent[i] {
			t.Errorf("the data at %d was not sent again", i)
			break
		}
	}
	for _, c := range []string{"TCP.FastRecovery", "TCP.SACKRecovery", "TCP.RACKRecovery", "TCP.RACKLost", "TCP.Timeouts"} {
		if got := counter(e.a, c); got != 0 {
			t.Errorf("%s = %d after a path MTU reduction", c, got)
		}
	}
	after := info(t, ep)
	// The windows keep their size in segments across the MSS change
	// (SetMSS), and grow from there.
	if after.Cwnd < mid.Cwnd || after.Ssthresh < mid.Ssthresh ||
		after.Cwnd/mss < before.Cwnd/sackMSS || after.Ssthresh/mss < before.Ssthresh/sackMSS {
		t.Errorf("cwnd %d → %d → %d, ssthresh %d → %d → %d: reduced", before.Cwnd, mid.Cwnd, after.Cwnd, before.Ssthresh, mid.Ssthresh, after.Ssthresh)
	}
	if after.Unacked != 0 {
		t.Errorf("%d bytes still unacknowledged", after.Unacked)
	}
}
