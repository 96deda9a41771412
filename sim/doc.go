// Package sim is ustack's deterministic network simulator: hosts running
// real stacks (stack.Stack with IPv4, ARP, UDP, ICMP, IPv6 if asked for,
// and whatever else a test adds, TCP say) joined by point-to-point
// Ethernet links with delay, jitter, bandwidth, a drop-tail queue, loss,
// duplication, reordering, corruption and MTU limits, all under one
// virtual clock.
//
//	n := sim.New(seed)
//	a := n.AddHost("a", sim.HostOptions{})
//	b := n.AddHost("b", sim.HostOptions{})
//	l := n.MustConnect(a, b, sim.LinkConfig{
//		AddrA: netip.MustParsePrefix("10.0.0.1/24"),
//		AddrB: netip.MustParsePrefix("10.0.0.2/24"),
//		AB:    sim.Props{Delay: 10 * time.Millisecond, Bandwidth: 10e6, Loss: 0.01},
//		BA:    sim.Props{Delay: 10 * time.Millisecond},
//	})
//	... start traffic (StartUDPStream, StartStream, endpoints of a.Stack()) ...
//	n.Run(time.Minute)
//	l.Counters(sim.AToB)
//	err := n.Close()
//
// # Time and events
//
// Every host's stack uses the network's tcpip.ManualClock, and everything
// that happens is a callback on it: a frame arriving at the end of a link,
// a protocol timer (ARP retransmission, TCP RTO), a step of a transfer
// woken by an endpoint's readiness. Run and RunUntil take the earliest
// callback, move the clock to its deadline and run it, one at a time, on
// the caller's goroutine; callbacks with the same deadline run in the
// order they were armed. Virtual time therefore costs nothing: an hour of
// traffic runs in the CPU time its packets take. The package starts no
// goroutine and never reads the real clock.
//
// # Determinism
//
// Every random choice comes from a PCG stream derived from the network's
// seed: one per host (stack.Options.RandSource, keyed by the host's name:
// ephemeral ports, ISNs, neighbour-cache jitter) and one per direction of
// each link (keyed by the link's index). Links draw numbers only for the
// impairments they have. With the same seed and the same calls, a run is
// identical frame for frame and nanosecond for nanosecond: the counters,
// the Trace events and the results of transfers; a failing seed
// reproduces exactly.
//
// # Links
//
// A frame written into a direction of a link (see Props) is checked
// against the MTU, waits in the transmit queue for the frames before it to
// be serialised at Bandwidth (or is dropped if the queue is full), takes
// len*8/Bandwidth to serialise, may be lost, duplicated or corrupted,
// then takes Delay (plus Jitter, plus ReorderDelay for a reordered frame)
// to propagate, and is delivered by a clock callback, never synchronously
// from WritePackets.
// A 1500-byte frame on an idle 10 Mbit/s link with 10 ms of delay arrives
// 11.2 ms after it was written. Link.Set changes a direction's properties
// mid-run (Loss 1 takes a link down); Link.SetMTU changes the MTU the two
// NICs report. Each direction counts what it did (Counters), and
// Network.SetTrace shows every frame's fate.
//
// # IPv6
//
// HostOptions.IPv6 adds IPv6 (with ICMPv6, neighbour discovery and an
// EUI-64 link-local address on every NIC) and ICMPv6 echo endpoints to a
// host; its links may then carry IPv6 prefixes, and with LinkConfig.MoreA
// and MoreB both families at once (Host.AddrOf picks one). Neighbour
// discovery runs over the links' Ethernet framing as ARP does: the
// solicitations go to the solicited-node multicast MAC (RFC 2464 §7), and
// the routes, default routes (Host.SetDefaultRoute by the gateway's
// family) and forwarding (HostOptions.Forwarding, Packet Too Big
// included) work as for IPv4. The transfers use the family of their
// destination address. The stacks' NDP configuration is the zero one (no
// DAD, no router solicitations, no SLAAC), so that an address is usable
// as soon as it is configured.
//
// # Transfers
//
// StartUDPEcho, StartUDPStream and StartUDPRequests drive UDP traffic
// with numbered datagrams and check what arrives. StartStream and
// StreamTransfer drive any stream endpoint (TCP, or a transport of a
// test's own) through the non-blocking endpoint API: the sender writes
// seeded pseudo-random data and the receiver checks its SHA-256, and the
// result reports the time taken and the goodput. Transfers are driven by
// readiness notifications that schedule work on the clock, never by
// goroutines.
//
// # Closing
//
// Network.Close stops the transfers, closes every stack and link, and
// then requires the clock to have nothing pending: a timer left behind by
// a closed stack is a leak and Close reports it.
package sim
