package tcp_test

import (
	"testing"
)

// dropCounters are the TCP counters that name why a segment was dropped
// (DESIGN.md principle 8).
var dropCounters = []string{
	"TCP.NoEndpoint", "TCP.OutOfWindow", "TCP.PAWSRejected", "TCP.ListenDrops",
	"TCP.SynSentDrops", "TCP.UnacceptableACK", "TCP.NoACKDrops", "TCP.DataDiscarded",
	"TCP.SYNCookiesInvalid", "TCP.ListenOverflowSYNDrop", "TCP.ChallengeACKsSent",
	"TCP.Malformed", "TCP.ChecksumErrors",
}

// TestDropsCounted sends one segment of each kind a state discards and
// checks that exactly its counter, of all the drop counters, went up by
// one.
func TestDropsCounted(t *testing.T) {
	tests := []struct {
		name string
		to   func(t *testing.T) (*env, *peer)
		send func(p *peer)
		want string
	}{
		{
			name: "established/no ACK",
			to:   establishedPeer,
			send: func(p *peer) { p.send(segOpts{flags: PSH, data: []byte("x")}) },
			want: "TCP.NoACKDrops",
		},
		{
			name: "established/out of window",
			to:   establishedPeer,
			send: func(p *peer) { p.send(segOpts{flags: ACK, seq: sv(p.nxt + 1<<30), data: []byte("x")}) },
			want: "TCP.OutOfWindow",
		},
		{
			name: "established/ACK above SND.NXT",
			to:   establishedPeer,
			send: func(p *peer) { p.send(segOpts{flags: ACK, ack: sv(p.ack + 1000)}) },
			want: "TCP.UnacceptableACK",
		},
		{
			name: "established/SYN",
			to:   establishedPeer,
			send: func(p *peer) { p.send(segOpts{flags: SYN, seq: sv(p.nxt)}) },
			want: "TCP.ChallengeACKsSent",
		},
		{
			name: "close-wait/data after FIN",
			to: func(t *testing.T) (*env, *peer) {
				e, p, _ := toCloseWait(t)
				return e, p
			},
			send: func(p *peer) { p.send(segOpts{flags: ACK, data: []byte("late")}) },
			want: "TCP.DataDiscarded",
		},
		{
			name: "syn-sent/no SYN",
			to:   synSentPeer,
			send: func(p *peer) { p.send(segOpts{flags: ACK}) },
			want: "TCP.SynSentDrops",
		},
		{
			name: "syn-sent/RST without ACK",
			to:   synSentPeer,
			send: func(p *peer) { p.send(segOpts{flags: RST}) },
			want: "TCP.SynSentDrops",
		},
		{
			name: "syn-sent/bad ACK",
			to:   synSentPeer,
			send: func(p *peer) { p.send(segOpts{flags: SYN | ACK, ack: sv(p.ack + 100)}) },
			want: "TCP.UnacceptableACK",
		},
		{
			name: "listen/neither SYN nor ACK",
			to:   listenPeer,
			send: func(p *peer) { p.send(segOpts{flags: FIN, data: []byte("x")}) },
			want: "TCP.ListenDrops",
		},
		{
			name: "listen/stray RST",
			to:   listenPeer,
			send: func(p *peer) { p.send(segOpts{flags: RST}) },
			want: "TCP.ListenDrops",
		},
		{
			name: "listen/SYN with FIN",
			to:   listenPeer,
			send: func(p *peer) { p.send(segOpts{flags: SYN | FIN}) },
			want: "TCP.ListenDrops",
		},
		{
			name: "listen/second SYN of a half-open 4-tuple",
			to: func(t *testing.T) (*env, *peer) {
				e, p := listenPeer(t)
				p.send(segOpts{flags: SYN})
				e.pump()
				return e, p
			},
			send: func(p *peer) { p.send(segOpts{flags: SYN, seq: sv(p.nxt + 5000)}) },
			want: "TCP.ListenDrops",
		},
		{
			name: "listen/SYN-ACK",
			to:   listenPeer,
			send: func(p *peer) { p.send(segOpts{flags: SYN | ACK, ack: sv(1)}) },
			want: "TCP.UnacceptableACK",
		},
		{
			name: "listen/ACK, no cookie",
			to:   listenPeer,
			send: func(p *peer) { p.send(segOpts{flags: ACK, ack: sv(1)}) },
			want: "TCP.SYNCookiesInvalid",
		},
		{
			name: "closed port",
			to: func(t *testing.T) (*env, *peer) {
				e := newEnv(t, false)
				return e, &peer{e: e, port: 40000, lport: 9, iss: 1, nxt: 1}
			},
			send: func(p *peer) { p.send(segOpts{flags: SYN}) },
			want: "TCP.NoEndpoint",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, p := tt.to(t)
			e.pump()
			e.sn.take()
			before := make(map[string]uint64)
			for _, n := range dropCounters {
				before[n] = counter(e.a, n)
			}
			tt.send(p)
			e.pump()
			for _, n := range dropCounters {
				d := counter(e.a, n) - before[n]
				switch {
				case n == tt.want && d != 1:
					t.Errorf("%s rose by %d, want 1", n, d)
				case n != tt.want && d != 0:
					t.Errorf("%s rose by %d, want 0", n, d)
				}
			}
		})
	}
}

func establishedPeer(t *testing.T) (*env, *peer) {
	e, p, _ := toEstablishedPassive(t)
	return e, p
}

func synSentPeer(t *testing.T) (*env, *peer) {
	e, p, _, syn := toSynSent(t)
	p.ack = syn.f.SeqNum + 1
	return e, p
}

func listenPeer(t *testing.T) (*env, *peer) {
	e, p, _ := toListen(t)
	return e, p
}
