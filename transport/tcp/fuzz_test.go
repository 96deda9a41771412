package tcp_test

import (
	"encoding/binary"
	"errors"
	"testing"
	"time"

	"github.com/ustack-go/ustack/header"
	"github.com/ustack-go/ustack/internal/leakcheck"
	"github.com/ustack-go/ustack/tcpip"
	"github.com/ustack-go/ustack/transport/internal/testnet"
	"github.com/ustack-go/ustack/transport/tcp"
)

// fuzzSeeds are segments in the fuzzer's input format: for each segment
// a control byte, a length byte and that many bytes of TCP segment.
func fuzzSeeds() [][]byte {
	mk := func(ctl byte, flags header.TCPFlags, opts []byte, data string) []byte {
		f := header.TCPFields{SrcPort: 40000, DstPort: 80, Flags: flags, WindowSize: 1000, Options: opts}
		b := make([]byte, f.Size()+len(data))
		f.Encode(b)
		copy(b[f.Size():], data)
		return append([]byte{ctl, byte(len(b))}, b...)
	}
	cat := func(parts ...[]byte) []byte {
		var out []byte
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	return [][]byte{
		mk(1, header.TCPFlagACK|header.TCPFlagPSH, nil, "hello"),
		cat(mk(1, header.TCPFlagACK, nil, "abc"), mk(5, header.TCPFlagFIN|header.TCPFlagACK, nil, "")),
		mk(1, header.TCPFlagRST, nil, ""),
		mk(0, header.TCPFlagSYN, synOpts(7), ""),
		mk(8, header.TCPFlagSYN, synOpts(7), ""),
		mk(9, header.TCPFlagACK, tsOpt(5, 6), "x"),
		cat(mk(1, header.TCPFlagACK, nil, "0123456789"), mk(3, header.TCPFlagACK, nil, "zz"), mk(4, 0, nil, "")),
		{0, 4, 1, 2, 3, 4},
	}
}

// FuzzTCPInbound feeds fuzzed segments (valid IPv4 framing, fuzzed TCP
// header, options and data; ports, checksums and sequence numbers
// optionally fixed so that they reach and match the connection) to a
// listener and an established connection. Nothing may panic, and
// everything must be released once the stack closes.
func FuzzTCPInbound(f *testing.F) {
	leakcheck.Check(f)
	for _, s := range fuzzSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		env := newEnvNoLeakCheck(t, false)
		// A SYN queue of one: SYNs from other ports get cookies, so
		// that cookie validation is fuzzed too.
		if err := env.a.SetTransportProtocolOption(tcp.ProtocolNumber, tcp.SYNQueueSizeOption(1)); err != nil {
			t.Fatal(err)
		}
		e, p, ep := toEstablishedPassiveEnv(t, env)
		for len(in) >= 2 {
			ctl, n := in[0], int(in[1])
			in = in[2:]
			n = min(n, len(in))
			b := make([]byte, max(n, header.TCPMinimumSize))
			copy(b, in[:n])
			in = in[n:]
			// Bit 3 set: another peer port (the listener); clear:
			// the connection.
			sport := uint16(40000)
			if ctl&8 != 0 {
				sport += uint16(ctl>>4) + 1
			}
			binary.BigEndian.PutUint16(b[0:], sport)
			binary.BigEndian.PutUint16(b[2:], 80)
			if ctl&1 != 0 {
				// In-window sequence and acknowledgment numbers.
				off := uint32(b[4]) // small offset
				binary.BigEndian.PutUint32(b[4:], uint32(p.nxt)+off)
				binary.BigEndian.PutUint32(b[8:], uint32(p.ack)+uint32(b[9]&7))
			}
			if ctl&2 == 0 {
				if tt, err := header.ParseTCP(b); err == nil {
					tt.SetChecksum(0)
					tt.SetChecksum(tt.CalculateChecksum(addrPeer, addrA))
				}
			}
			e.hub.Send(testnet.IPv4Packet(addrPeer, addrA, tcpip.TCPProtocolNumber, 64, b))
			e.pump()
			if ctl&4 != 0 {
				e.advance(300 * time.Millisecond)
			}
			if ctl&0x40 != 0 {
				if _, err := ep.Write([]byte("reply"), tcpip.WriteOptions{}); err != nil &&
					!errors.Is(err, tcpip.ErrWouldBlock) && !errors.Is(err, tcpip.ErrClosedForSend) &&
					!errors.Is(err, tcpip.ErrConnectionReset) && !errors.Is(err, tcpip.ErrNotConnected) &&
					!errors.Is(err, tcpip.ErrTimeout) && !errors.Is(err, tcpip.ErrConnectionRefused) {
					t.Fatalf("Write: %v", err)
				}
			}
			buf := make([]byte, 100)
			_, _ = ep.Read(buf, tcpip.ReadOptions{})
		}
		ep.Close()
		e.advance(5 * time.Minute)
		e.sn.take()
	})
}
