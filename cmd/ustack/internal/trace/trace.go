// Package trace implements `ustack trace`: one TCP transfer between two
// hosts of the deterministic simulator (package sim), with the sender's
// state recorded by a TCP probe (stack.AddTCPProbe) at every segment it
// receives, drawn as an SVG of three stacked time series (windows, RTT,
// goodput with retransmissions) and optionally written as CSV.
package trace

import (
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/ustack-go/ustack/seqnum"
	"github.com/ustack-go/ustack/sim"
	"github.com/ustack-go/ustack/stack"
	"github.com/ustack-go/ustack/tcpip"
	"github.com/ustack-go/ustack/transport/tcp"
)

// Config describes the transfer and the path.
type Config struct {
	// Size is the number of bytes to send.
	Size int64
	// RTT is the round-trip propagation delay (half each way).
	RTT time.Duration
	// Bandwidth is the bottleneck rate in bits per second, both ways;
	// zero means infinite.
	Bandwidth uint64
	// QueueBytes is the drop-tail queue of the bottleneck (sim.Props);
	// zero means sim's default.
	QueueBytes int
	// Loss is the probability that a data segment (sender → receiver)
	// is lost; ACKs are not lost.
	Loss float64
	// Reorder is the probability that a data segment is held RTT/4
	// longer than those behind it.
	Reorder float64
	// CC names the congestion control ("newreno", "cubic").
	CC string
	// SACK turns SACK (RFC 2018) on or off on both hosts.
	SACK bool
	// ECN turns ECN (RFC 3168) on on both hosts; MarkCEQueueBytes, if
	// positive, has the bottleneck mark CE on ECN-capable data segments
	// that find that many bytes queued (sim.Props.MarkCEQueueBytes).
	ECN              bool
	MarkCEQueueBytes int
	// SndBuf and RcvBuf, if positive, fix the sender's send buffer
	// and the receiver's receive buffer (bytes); zero leaves the
	// stack's defaults.
	SndBuf, RcvBuf int
	// Seed seeds the simulation and the data.
	Seed uint64
	// TimeLimit bounds the virtual time; zero means an hour.
	TimeLimit time.Duration
}

// Sample is the sender's state after one received segment.
type Sample struct {
	// Time is the virtual time since the transfer started.
	Time time.Duration
	// Cwnd, Ssthresh and InFlight are in bytes; Ssthresh is -1 while
	// it is still "infinite" (no congestion event yet).
	Cwnd     int
	Ssthresh int
	InFlight int
	// SRTT is the smoothed RTT; RTTSample the segment's sample (0:
	// none).
	SRTT      time.Duration
	RTTSample time.Duration
	// Retransmits counts the segments retransmitted so far.
	Retransmits int
	// Acked is the data acknowledged so far, in bytes.
	Acked int64
	// InRecovery reports fast recovery.
	InRecovery bool
	// ECNReduced reports that the sender has reduced its window for an
	// ECN-Echo at least once (RFC 3168 §6.1.2).
	ECNReduced bool
	// Limit is what limited the sender for most of the time since the
	// sample before (tcp.Info's accounting; the previous sample's
	// Limit if no time passed).
	Limit tcp.Limit
}

// Result is the outcome of Run.
type Result struct {
	Config  Config
	Stream  sim.StreamResult
	Samples []Sample
	// Midway is the sender's tcp.Info when half of the data had been
	// acknowledged: what limited the transfer then (Info.Why).
	Midway tcp.Info
}

// Run runs the transfer and returns the samples of the sender's probe.
func Run(cfg Config) (Result, error) {
	if cfg.Size <= 0 {
		return Result{}, errors.New("size must be positive")
	}
	if cfg.RTT < 0 || cfg.Loss < 0 || cfg.Loss >= 1 || cfg.Reorder < 0 || cfg.Reorder > 1 {
		return Result{}, errors.New("RTT must not be negative, loss must lie in [0, 1) and reorder in [0, 1]")
	}
	if cfg.CC == "" {
		cfg.CC = "newreno"
	}
	if cfg.TimeLimit <= 0 {
		cfg.TimeLimit = time.Hour
	}
	n := sim.New(cfg.Seed)
	closed := false
	defer func() {
		if !closed {
			_ = n.Close()
		}
	}()
	opts := sim.HostOptions{Transports: []stack.TransportProtocolFactory{tcp.NewProtocol}}
	snd := n.AddHost("sender", opts)
	rcv := n.AddHost("receiver", opts)
	for _, h := range []*sim.Host{snd, rcv} {
		s := h.Stack()
		if err := s.SetTransportProtocolOption(tcpip.TCPProtocolNumber, tcp.SACKEnabledOption(cfg.SACK)); err != nil {
			return Result{}, fmt.Errorf("SACK option: %w", err)
		}
		if cfg.ECN {
			if err := s.SetTransportProtocolOption(tcpip.TCPProtocolNumber, tcp.ECNOn); err != nil {
				return Result{}, fmt.Errorf("ECN option: %w", err)
			}
		}
		if err := s.SetTransportProtocolOption(tcpip.TCPProtocolNumber, tcpip.CongestionControlOption(cfg.CC)); err != nil {
			return Result{}, fmt.Errorf("congestion control %q: %w (available: %v)", cfg.CC, err, tcp.CongestionControls())
		}
	}
	fwd := sim.Props{Delay: cfg.RTT / 2, Bandwidth: cfg.Bandwidth, QueueBytes: cfg.QueueBytes,
		Loss: cfg.Loss, Reorder: cfg.Reorder, ReorderDelay: cfg.RTT / 4, MarkCEQueueBytes: cfg.MarkCEQueueBytes}
	rev := sim.Props{Delay: cfg.RTT - cfg.RTT/2, Bandwidth: cfg.Bandwidth, QueueBytes: cfg.QueueBytes}
	if _, err := n.Connect(snd, rcv, sim.LinkConfig{
		AddrA: netip.MustParsePrefix("10.0.0.1/24"), AddrB: netip.MustParsePrefix("10.0.0.2/24"), AB: fwd, BA: rev,
	}); err != nil {
		return Result{}, err
	}

	res := Result{Config: cfg}
	start := n.Clock().NowMonotonic()
	var base seqnum.Value
	var haveBase bool
	var prevChrono stack.TCPChronoState
	limit := tcp.LimitNone
	snd.Stack().AddTCPProbe(func(st stack.TCPEndpointState) {
		if tcp.State(st.State) == tcp.StateSynSent {
			return
		}
		s := &st.Sender
		if !haveBase {
			// The first segment after the handshake: SND.UNA is
			// ISS+1, the first byte of data.
			base, haveBase = s.SndUna, true
		}
		ss := s.Ssthresh
		if ss >= 1<<30 {
			ss = -1
		}
		acked := min(int64(base.Size(s.SndUna)), cfg.Size)
		if acked >= cfg.Size/2 && res.Midway.State == 0 && res.Midway.SndMSS == 0 {
			// The probe runs outside the endpoint's lock: it may
			// read the connection's Info.
			for _, c := range tcp.Connections(snd.Stack()) {
				if c.UniqueID == st.UniqueID {
					res.Midway = c.Info
				}
			}
		}
		// The limit that took the most time since the last sample.
		c, p := st.Chrono, prevChrono
		best := time.Duration(0)
		for _, d := range []struct {
			l tcp.Limit
			d time.Duration
		}{
			{tcp.LimitCongestionWindow, c.CongestionWindow - p.CongestionWindow},
			{tcp.LimitReceiverWindow, c.ReceiverWindow - p.ReceiverWindow},
			{tcp.LimitSendBuffer, c.SendBuffer - p.SendBuffer},
			{tcp.LimitApplication, c.Application - p.Application},
		} {
			if d.d > best {
				best, limit = d.d, d.l
			}
		}
		prevChrono = c
		res.Samples = append(res.Samples, Sample{
			Limit:       limit,
			Time:        st.SegTime.Sub(start),
			Cwnd:        s.Cwnd,
			Ssthresh:    ss,
			InFlight:    s.FastRecovery.Pipe,
			SRTT:        s.SRTT,
			RTTSample:   s.RTTSample,
			Retransmits: s.Retransmits,
			Acked:       acked,
			InRecovery:  s.FastRecovery.Active,
			ECNReduced:  s.ECN.RecoverySet,
		})
	})
	newEP := func(h *sim.Host) (tcpip.Endpoint, error) {
		ep, err := h.Stack().NewEndpoint(tcp.ProtocolNumber, tcpip.IPv4ProtocolNumber)
		if err != nil {
			return nil, err
		}
		if h == snd && cfg.SndBuf > 0 {
			err = ep.SetSockOpt(tcpip.SendBufferSizeOption(cfg.SndBuf))
		}
		if h == rcv && cfg.RcvBuf > 0 {
			// Set on the listener; the connection inherits it.
			err = ep.SetSockOpt(tcpip.ReceiveBufferSizeOption(cfg.RcvBuf))
		}
		if err != nil {
			ep.Close()
		}
		return ep, err
	}
	stream, err := sim.StartStream(snd, rcv, sim.StreamConfig{Port: 80, Size: cfg.Size, Seed: cfg.Seed, NewEndpoint: newEP})
	if err != nil {
		return Result{}, err
	}
	n.RunUntil(stream.Done, cfg.TimeLimit)
	res.Stream = stream.Result()
	// The receiver has everything; the trace goes on until the sender
	// learns it (the last ACKs are on their way).
	n.RunUntil(func() bool {
		return len(res.Samples) > 0 && res.Samples[len(res.Samples)-1].Acked >= cfg.Size
	}, max(4*cfg.RTT, time.Second))
	stream.Close()
	snd.Stack().RemoveTCPProbe()
	closed = true
	if err := n.Close(); err != nil {
		return res, err
	}
	if !res.Stream.OK() {
		return res, fmt.Errorf("transfer: %v", res.Stream)
	}
	return res, nil
}
