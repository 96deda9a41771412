package udp_test

import (
	"bytes"
	"errors"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/ustack-go/ustack/header"
	"github.com/ustack-go/ustack/stack"
	"github.com/ustack-go/ustack/tcpip"
	"github.com/ustack-go/ustack/transport/internal/testnet"
	"github.com/ustack-go/ustack/transport/udp"
)

// RFC 768: a datagram written on one stack arrives whole on the other,
// with the sender's address and port, and the answer comes back.
func TestEcho(t *testing.T) {
	e := newEnv(t, envOptions{eth: true})
	srv := bound(t, e.b, netip.Addr{}, 7)
	cli := newUDP(t, e.a)

	w := tcpip.NewChannelWaiter()
	h := srv.WaitQueue().Register(w, tcpip.EventIn)
	defer srv.WaitQueue().Unregister(h)
	if got := srv.Readiness(tcpip.EventIn | tcpip.EventOut); got != tcpip.EventOut {
		t.Fatalf("Readiness before = %v, want EventOut only", got)
	}

	send(t, cli, []byte("hello"), to(addrB, 7))
	e.hub.Pump()
	select {
	case <-w:
	default:
		t.Fatal("no EventIn notification")
	}
	if got := srv.Readiness(tcpip.EventIn); got != tcpip.EventIn {
		t.Fatalf("Readiness = %v, want EventIn", got)
	}
	cport := localPort(t, cli)
	first, last := e.a.PortManager().PortRange()
	if cport < first || cport > last {
		t.Fatalf("ephemeral port %d outside %d-%d", cport, first, last)
	}
	res := expect(t, srv, []byte("hello"), netip.AddrPortFrom(addrA, cport))
	if res.RemoteAddr.NIC != 1 || res.Total != 5 {
		t.Fatalf("ReadResult = %+v", res)
	}
	send(t, srv, []byte("hello"), &res.RemoteAddr)
	e.hub.Pump()
	expect(t, cli, []byte("hello"), netip.AddrPortFrom(addrB, 7))
	recvNone(t, cli)

	if got := counter(e.b, "UDP.PacketsReceived"); got != 1 {
		t.Errorf("B UDP.PacketsReceived = %d", got)
	}
	if got := counter(e.a, "UDP.PacketsSent"); got != 1 {
		t.Errorf("A UDP.PacketsSent = %d", got)
	}
	if st := srv.Stats(); st.PacketsReceived.Load() != 1 || st.BytesReceived.Load() != 5 || st.PacketsSent.Load() != 1 {
		t.Errorf("server stats: %v", tcpip.SnapshotOf("", st))
	}
}

// Datagrams from several senders are told apart by their source address
// and port; the control messages describe each datagram.
func TestSendToReceiveFrom(t *testing.T) {
	e := newEnv(t, envOptions{})
	srv := bound(t, e.b, addrB, 5353,
		tcpip.ReceiveTTLOption(true), tcpip.ReceiveTOSOption(true),
		tcpip.ReceivePacketInfoOption(true), tcpip.TimestampOption(true))
	c1 := bound(t, e.a, addrA, 1111, tcpip.TTLOption(33), tcpip.TOSOption(0x10))
	c2 := bound(t, e.a, netip.Addr{}, 2222)

	send(t, c1, []byte("one"), to(addrB, 5353))
	send(t, c2, []byte("two"), to(addrB, 5353))
	e.hub.Clock.Advance(time.Second)
	e.hub.Pump()

	res := expect(t, srv, []byte("one"), netip.AddrPortFrom(addrA, 1111))
	c := res.Control
	if !c.HasTTL || c.TTL != 33 || !c.HasTOS || c.TOS != 0x10 {
		t.Errorf("TTL/TOS control = %+v", c)
	}
	if !c.HasPacketInfo || c.LocalAddr != addrB || c.NIC != 1 {
		t.Errorf("packet info = %+v", c)
	}
	if !c.HasTimestamp || !c.Timestamp.Equal(tcpip.ManualClockStart.Add(time.Second)) {
		t.Errorf("timestamp = %v, %v", c.HasTimestamp, c.Timestamp)
	}
	res = expect(t, srv, []byte("two"), netip.AddrPortFrom(addrA, 2222))
	if res.Control.TTL != 64 {
		t.Errorf("default TTL = %d, want 64", res.Control.TTL)
	}
	recvNone(t, srv)
}

// Read returns one datagram per call: a short buffer truncates it
// (ReadResult.Total tells its size), Peek leaves it queued.
func TestReadTruncatePeek(t *testing.T) {
	e := newEnv(t, envOptions{})
	srv := bound(t, e.b, netip.Addr{}, 9000)
	cli := newUDP(t, e.a)
	send(t, cli, []byte("0123456789"), to(addrB, 9000))
	send(t, cli, []byte("abc"), to(addrB, 9000))
	e.hub.Pump()

	var q tcpip.ReceiveQueueSizeOption
	if err := srv.GetSockOpt(&q); err != nil || q != 10 {
		t.Fatalf("ReceiveQueueSizeOption = %d, %v; want 10 (first datagram)", q, err)
	}
	buf := make([]byte, 4)
	res, err := srv.Read(buf, tcpip.ReadOptions{Peek: true})
	if err != nil || res.N != 4 || res.Total != 10 || string(buf) != "0123" {
		t.Fatalf("peek: %+v %v %q", res, err, buf)
	}
	res, err = srv.Read(buf, tcpip.ReadOptions{})
	if err != nil || res.N != 4 || res.Total != 10 || string(buf) != "0123" {
		t.Fatalf("read: %+v %v %q", res, err, buf)
	}
	// The rest of the truncated datagram is gone.
	expect(t, srv, []byte("abc"), netip.AddrPort{})
	recvNone(t, srv)
}

// RFC 1122 §4.1.3.3 with Linux's semantics: ICMP port unreachable for a
// datagram of a connected endpoint makes its next Read fail with
// ECONNREFUSED.
func TestConnectedPortUnreachable(t *testing.T) {
	e := newEnv(t, envOptions{eth: true})
	cli := newUDP(t, e.a)
	if err := cli.Connect(tcpip.FullAddress{Addr: addrB, Port: 9}); err != nil {
		t.Fatal(err)
	}
	ra, err := cli.RemoteAddress()
	if err != nil || ra.AddrPort() != netip.AddrPortFrom(addrB, 9) {
		t.Fatalf("RemoteAddress = %v, %v", ra, err)
	}
	w := tcpip.NewChannelWaiter()
	h := cli.WaitQueue().Register(w, tcpip.EventErr)
	defer cli.WaitQueue().Unregister(h)

	send(t, cli, []byte("anyone?"), nil)
	e.hub.Pump()
	if got := counter(e.b, "UDP.UnknownPort"); got != 1 {
		t.Fatalf("B UDP.UnknownPort = %d", got)
	}
	select {
	case <-w:
	default:
		t.Fatal("no EventErr")
	}
	if got := cli.Readiness(tcpip.EventErr); got != tcpip.EventErr {
		t.Fatalf("Readiness = %v", got)
	}
	_, err = cli.Read(make([]byte, 10), tcpip.ReadOptions{})
	if !errors.Is(err, syscall.ECONNREFUSED) || !errors.Is(err, tcpip.ErrConnectionRefused) {
		t.Fatalf("Read = %v, want ECONNREFUSED", err)
	}
	// Reported once.
	if err := cli.LastError(); err != nil {
		t.Fatalf("LastError after Read = %v", err)
	}
	recvNone(t, cli)

	// The next Write reports it too.
	send(t, cli, []byte("again"), nil)
	e.hub.Pump()
	if _, err := cli.Write([]byte("x"), tcpip.WriteOptions{}); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("Write = %v, want ECONNREFUSED", err)
	}
	// And LastError.
	send(t, cli, []byte("again"), nil)
	e.hub.Pump()
	if err := cli.LastError(); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("LastError = %v", err)
	}
	if cli.Stats().ICMPErrors.Load() != 3 {
		t.Errorf("ICMPErrors = %d", cli.Stats().ICMPErrors.Load())
	}
}

// Without IP_RECVERR Linux does not report ICMP errors to unconnected
// sockets: they cannot tell which destination failed.
func TestUnconnectedIgnoresICMP(t *testing.T) {
	e := newEnv(t, envOptions{})
	cli := newUDP(t, e.a)
	send(t, cli, []byte("anyone?"), to(addrB, 9))
	e.hub.Pump()
	if got := counter(e.a, "ICMPv4.Received.DstUnreachable"); got != 1 {
		t.Fatalf("A received %d unreachables", got)
	}
	recvNone(t, cli)
	if err := cli.LastError(); err != nil {
		t.Fatalf("LastError = %v", err)
	}
	send(t, cli, []byte("still fine"), to(addrB, 9))
}

// RFC 1122 §3.2.2 and §4.1.3.1: no port unreachable about broadcast
// datagrams; the drop is still counted.
func TestUnknownPortBroadcastNoICMP(t *testing.T) {
	e := newEnv(t, envOptions{})
	cli := bound(t, e.a, netip.Addr{}, 0, tcpip.BroadcastOption(true))
	send(t, cli, []byte("x"), to(subnetB, 9))
	e.hub.Pump()
	if got := counter(e.b, "UDP.UnknownPort"); got != 1 {
		t.Fatalf("B UDP.UnknownPort = %d", got)
	}
	if got := counter(e.b, "ICMPv4.Sent.DstUnreachable"); got != 0 {
		t.Fatalf("B sent %d unreachables about a broadcast", got)
	}
}

// Linux's udp_sendmsg: sending to a broadcast address needs SO_BROADCAST
// (EACCES without it); every endpoint bound to the port receives it.
func TestBroadcast(t *testing.T) {
	e := newEnv(t, envOptions{eth: true})
	srv := bound(t, e.b, netip.Addr{}, 6767, tcpip.ReuseAddressOption(true))
	cli := newUDP(t, e.a)
	dsts := []*tcpip.FullAddress{
		{NIC: 1, Addr: bcast, Port: 6767}, // limited broadcast needs a NIC
		to(subnetB, 6767),                 // directed broadcast
	}
	for _, dst := range dsts {
		_, err := cli.Write([]byte("all"), tcpip.WriteOptions{To: dst})
		if !errors.Is(err, tcpip.ErrBroadcastDisabled) || !errors.Is(err, syscall.EACCES) {
			t.Fatalf("Write to %v without SO_BROADCAST = %v", dst.Addr, err)
		}
	}
	if err := cli.Connect(tcpip.FullAddress{Addr: subnetB, Port: 6767}); !errors.Is(err, tcpip.ErrBroadcastDisabled) {
		t.Fatalf("Connect to broadcast = %v", err)
	}
	if err := cli.SetSockOpt(tcpip.BroadcastOption(true)); err != nil {
		t.Fatal(err)
	}
	srv2 := bound(t, e.b, bcast, 6767, tcpip.ReuseAddressOption(true), tcpip.ReceivePacketInfoOption(true))
	for _, dst := range dsts {
		send(t, cli, []byte("all"), dst)
		e.hub.Pump()
		expect(t, srv, []byte("all"), netip.AddrPortFrom(addrA, localPort(t, cli)))
		if dst.Addr == bcast {
			// Bound to 255.255.255.255: only limited broadcasts.
			res := expect(t, srv2, []byte("all"), netip.AddrPort{})
			if res.Control.LocalAddr != bcast {
				t.Errorf("pktinfo address %v", res.Control.LocalAddr)
			}
		}
		recvNone(t, srv2)
	}
}

// RFC 1112: two SO_REUSEPORT endpoints of one host bound to the group's
// port both receive a datagram sent to the group by another host.
func TestMulticastReusePort(t *testing.T) {
	e := newEnv(t, envOptions{eth: true})
	r1 := bound(t, e.b, netip.Addr{}, 5000, tcpip.ReusePortOption(true))
	r2 := bound(t, e.b, netip.Addr{}, 5000, tcpip.ReusePortOption(true))
	other := bound(t, e.b, netip.Addr{}, 5001)
	join := tcpip.AddMembershipOption{MulticastAddr: group, NIC: 1}
	if err := r1.SetSockOpt(join); err != nil {
		t.Fatal(err)
	}
	if err := r2.SetSockOpt(join); err != nil {
		t.Fatal(err)
	}
	if err := r2.SetSockOpt(join); !errors.Is(err, tcpip.ErrAddressInUse) {
		t.Fatalf("second join = %v, want EADDRINUSE", err)
	}
	if !e.b.IsInGroup(1, group) {
		t.Fatal("B is not in the group")
	}

	cli := newUDP(t, e.a)
	// No route to the group: name the interface.
	if _, err := cli.Write([]byte("m"), tcpip.WriteOptions{To: to(group, 5000)}); err == nil {
		t.Fatal("Write to a group without a route or interface succeeded")
	}
	if err := cli.SetSockOpt(tcpip.MulticastInterfaceOption{InterfaceAddr: addrA}); err != nil {
		t.Fatal(err)
	}
	send(t, cli, []byte("to the group"), to(group, 5000))
	e.hub.Pump()
	from := netip.AddrPortFrom(addrA, localPort(t, cli))
	res := expect(t, r1, []byte("to the group"), from)
	expect(t, r2, []byte("to the group"), from)
	recvNone(t, other)
	_ = res

	// RFC 1112 §6.1: multicast TTL 1 by default.
	if err := r1.SetSockOpt(tcpip.ReceiveTTLOption(true)); err != nil {
		t.Fatal(err)
	}
	send(t, cli, []byte("ttl"), to(group, 5000))
	e.hub.Pump()
	if res := expect(t, r1, []byte("ttl"), from); res.Control.TTL != 1 {
		t.Errorf("multicast TTL = %d, want 1", res.Control.TTL)
	}
	expect(t, r2, []byte("ttl"), from)

	// Leaving: the group stays while r2 is a member, goes with it.
	leave := tcpip.RemoveMembershipOption{MulticastAddr: group, NIC: 1}
	if err := r1.SetSockOpt(leave); err != nil {
		t.Fatal(err)
	}
	if err := r1.SetSockOpt(leave); !errors.Is(err, tcpip.ErrAddressNotFound) {
		t.Fatalf("second leave = %v", err)
	}
	if !e.b.IsInGroup(1, group) {
		t.Fatal("B left the group while r2 is a member")
	}
	r2.Close()
	if e.b.IsInGroup(1, group) {
		t.Fatal("B still in the group after its last member closed")
	}
}

// IP_MULTICAST_LOOP (on by default): a datagram to a group this host
// belongs to is also delivered locally.
func TestMulticastLoop(t *testing.T) {
	e := newEnv(t, envOptions{eth: true})
	local := bound(t, e.a, netip.Addr{}, 5000)
	if err := local.SetSockOpt(tcpip.AddMembershipOption{MulticastAddr: group, InterfaceAddr: addrA}); err != nil {
		t.Fatal(err)
	}
	remote := bound(t, e.b, netip.Addr{}, 5000)
	if err := remote.SetSockOpt(tcpip.AddMembershipOption{MulticastAddr: group, NIC: 1}); err != nil {
		t.Fatal(err)
	}
	cli := newUDP(t, e.a)
	if err := cli.SetSockOpt(tcpip.MulticastInterfaceOption{NIC: 1}); err != nil {
		t.Fatal(err)
	}
	var loop tcpip.MulticastLoopOption
	if err := cli.GetSockOpt(&loop); err != nil || !bool(loop) {
		t.Fatalf("MulticastLoopOption default = %v, %v", loop, err)
	}
	send(t, cli, []byte("loop"), to(group, 5000))
	e.hub.Pump()
	from := netip.AddrPortFrom(addrA, localPort(t, cli))
	expect(t, local, []byte("loop"), from)
	expect(t, remote, []byte("loop"), from)

	if err := cli.SetSockOpt(tcpip.MulticastLoopOption(false)); err != nil {
		t.Fatal(err)
	}
	send(t, cli, []byte("no loop"), to(group, 5000))
	e.hub.Pump()
	recvNone(t, local)
	expect(t, remote, []byte("no loop"), from)
}

// The receive buffer bounds what an endpoint queues; the rest is dropped
// and counted, in the stack's UDP stats and the endpoint's.
func TestReceiveBufferOverflow(t *testing.T) {
	e := newEnv(t, envOptions{})
	srv := bound(t, e.b, netip.Addr{}, 4000, tcpip.ReceiveBufferSizeOption(1))
	var size tcpip.ReceiveBufferSizeOption
	if err := srv.GetSockOpt(&size); err != nil || size != udp.MinBufferSize {
		t.Fatalf("ReceiveBufferSizeOption = %d, %v; want the minimum %d", size, err, udp.MinBufferSize)
	}
	cli := newUDP(t, e.a)
	const n = 20
	payload := make([]byte, 1000)
	for range n {
		send(t, cli, payload, to(addrB, 4000))
	}
	e.hub.Pump()
	got := 0
	for {
		_, err := srv.Read(make([]byte, 2000), tcpip.ReadOptions{})
		if err != nil {
			break
		}
		got++
	}
	dropped := counter(e.b, "UDP.ReceiveBufferErrors")
	if got == 0 || dropped == 0 || uint64(got)+dropped != n {
		t.Fatalf("received %d, dropped %d of %d", got, dropped, n)
	}
	if srv.Stats().ReceiveBufferErrors.Load() != dropped {
		t.Fatalf("endpoint ReceiveBufferErrors = %d, stack %d", srv.Stats().ReceiveBufferErrors.Load(), dropped)
	}
	// Once drained, the buffer takes datagrams again.
	send(t, cli, payload, to(addrB, 4000))
	e.hub.Pump()
	expect(t, srv, payload, netip.AddrPort{})
}

// RFC 1122 §4.1.3.4: a datagram with a wrong checksum is silently
// discarded and counted; RFC 768: a zero checksum means none, accepted
// over IPv4.
func TestChecksum(t *testing.T) {
	e := newEnv(t, envOptions{})
	srv := bound(t, e.b, netip.Addr{}, 53)
	good := testnetUDP(addrA, addrB, 999, 53, []byte("query"))

	bad := bytes.Clone(good)
	bad[6] ^= 0x55
	e.hub.Send(testnetIPv4(addrA, addrB, bad))
	e.hub.Pump()
	recvNone(t, srv)
	if got := counter(e.b, "UDP.ChecksumErrors"); got != 1 {
		t.Fatalf("UDP.ChecksumErrors = %d", got)
	}
	if srv.Stats().ChecksumErrors.Load() != 1 {
		t.Fatalf("endpoint ChecksumErrors = %d", srv.Stats().ChecksumErrors.Load())
	}

	zero := bytes.Clone(good)
	zero[6], zero[7] = 0, 0
	e.hub.Send(testnetIPv4(addrA, addrB, zero))
	e.hub.Pump()
	expect(t, srv, []byte("query"), netip.AddrPortFrom(addrA, 999))

	// A bad checksum for no endpoint: dropped before the port lookup,
	// as Linux, so no port unreachable either.
	bad[3] = 54
	e.hub.Send(testnetIPv4(addrA, addrB, bad))
	e.hub.Pump()
	if got := counter(e.b, "UDP.ChecksumErrors"); got != 2 {
		t.Fatalf("UDP.ChecksumErrors = %d", got)
	}
	if got := counter(e.b, "UDP.UnknownPort"); got != 0 {
		t.Fatalf("UDP.UnknownPort = %d", got)
	}
}

// A link that verifies checksums (CapabilityRXChecksumOffload) spares the
// check.
func TestChecksumOffload(t *testing.T) {
	e := newEnv(t, envOptions{caps: stackRXOffload})
	needNICCapabilities(t, e)
	srv := bound(t, e.b, netip.Addr{}, 53)
	bad := testnetUDP(addrA, addrB, 999, 53, []byte("query"))
	bad[6] ^= 0x55
	e.hub.Send(testnetIPv4(addrA, addrB, bad))
	e.hub.Pump()
	expect(t, srv, []byte("query"), netip.AddrPortFrom(addrA, 999))
}

// SO_NO_CHECK: IPv4 datagrams without a checksum (RFC 768).
func TestNoChecksumOption(t *testing.T) {
	e := newEnv(t, envOptions{})
	srv := bound(t, e.b, netip.Addr{}, 53)
	rawEP := newRawUDP(t, e)
	cli := newUDP(t, e.a)
	if err := cli.SetSockOpt(tcpip.NoChecksumOption(true)); err != nil {
		t.Fatal(err)
	}
	send(t, cli, []byte("fast"), to(addrB, 53))
	e.hub.Pump()
	expect(t, srv, []byte("fast"), netip.AddrPort{})
	pkt, _ := recv(t, rawEP)
	if xsum := pkt[20+6:][:2]; xsum[0] != 0 || xsum[1] != 0 {
		t.Fatalf("checksum %x, want none", xsum)
	}
}

// RFC 768: a Length field outside [8, what IP delivered] is malformed;
// bytes after Length are not part of the datagram.
func TestMalformedLength(t *testing.T) {
	e := newEnv(t, envOptions{})
	srv := bound(t, e.b, netip.Addr{}, 53)
	d := testnetUDP(addrA, addrB, 999, 53, []byte("payload"))
	for _, length := range []uint16{0, 7, uint16(len(d) + 1)} {
		b := bytes.Clone(d)
		b[4], b[5] = byte(length>>8), byte(length)
		e.hub.Send(testnetIPv4(addrA, addrB, b))
	}
	// Too short for a header at all.
	e.hub.Send(testnetIPv4(addrA, addrB, d[:5]))
	e.hub.Pump()
	recvNone(t, srv)
	if got := counter(e.b, "UDP.Malformed"); got != 4 {
		t.Fatalf("UDP.Malformed = %d, want 4", got)
	}
	// Trailing bytes beyond Length are ignored (and the checksum covers
	// Length bytes only).
	e.hub.Send(testnetIPv4(addrA, addrB, append(bytes.Clone(d), "trailer"...)))
	e.hub.Pump()
	expect(t, srv, []byte("payload"), netip.AddrPort{})
}

// EMSGSIZE beyond what one IPv4 datagram carries; a large datagram below
// it is fragmented and arrives whole.
func TestMessageSize(t *testing.T) {
	e := newEnv(t, envOptions{})
	srv := bound(t, e.b, netip.Addr{}, 53)
	cli := newUDP(t, e.a)
	big := make([]byte, udp.MaxPayloadIPv4+1)
	if _, err := cli.Write(big, tcpip.WriteOptions{To: to(addrB, 53)}); !errors.Is(err, syscall.EMSGSIZE) {
		t.Fatalf("Write of %d bytes = %v, want EMSGSIZE", len(big), err)
	}
	big = big[:udp.MaxPayloadIPv4]
	for i := range big {
		big[i] = byte(i * 7)
	}
	send(t, cli, big, to(addrB, 53))
	e.hub.Pump()
	expect(t, srv, big, netip.AddrPort{})
}

// Argument checks of Write.
func TestWriteErrors(t *testing.T) {
	e := newEnv(t, envOptions{})
	cli := newUDP(t, e.a)
	for _, c := range []struct {
		to   *tcpip.FullAddress
		want error
	}{
		{nil, tcpip.ErrDestinationRequired},
		{to(addrB, 0), tcpip.ErrInvalidArgument},
		{to(netip.MustParseAddr("2001:db8::1"), 53), tcpip.ErrAddressFamily},
		{to(netip.MustParseAddr("192.0.2.1"), 53), tcpip.ErrNetworkUnreachable},
	} {
		if _, err := cli.Write([]byte("x"), tcpip.WriteOptions{To: c.to}); !errors.Is(err, c.want) {
			t.Errorf("Write to %v = %v, want %v", c.to, err, c.want)
		}
	}
	if got := counter(e.a, "UDP.SendErrors"); got != 1 {
		t.Errorf("UDP.SendErrors = %d, want 1 (the unreachable network)", got)
	}
}

// Connect picks the route and local address; Connect to the zero address
// (AF_UNSPEC) undoes it, giving back a port Connect picked.
func TestConnectDisconnect(t *testing.T) {
	e := newEnv(t, envOptions{})
	srv := bound(t, e.b, netip.Addr{}, 53)
	other := bound(t, e.b, netip.Addr{}, 54)
	cli := newUDP(t, e.a)
	if err := cli.Connect(tcpip.FullAddress{Addr: addrB, Port: 53}); err != nil {
		t.Fatal(err)
	}
	la, _ := cli.LocalAddress()
	if la.Addr != addrA || la.Port == 0 {
		t.Fatalf("LocalAddress after Connect = %+v", la)
	}
	send(t, cli, []byte("c"), nil)
	// A connected endpoint only receives from its peer.
	send(t, other, []byte("intruder"), to(addrA, la.Port))
	e.hub.Pump()
	expect(t, srv, []byte("c"), netip.AddrPortFrom(addrA, la.Port))
	recvNone(t, cli)
	if got := counter(e.a, "UDP.UnknownPort"); got != 1 {
		t.Fatalf("A UDP.UnknownPort = %d", got)
	}
	send(t, srv, []byte("reply"), to(addrA, la.Port))
	e.hub.Pump()
	expect(t, cli, []byte("reply"), netip.AddrPortFrom(addrB, 53))

	if err := cli.Connect(tcpip.FullAddress{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.RemoteAddress(); !errors.Is(err, tcpip.ErrNotConnected) {
		t.Fatalf("RemoteAddress after disconnect = %v", err)
	}
	if la, _ := cli.LocalAddress(); la.Port != 0 {
		t.Fatalf("port kept after disconnect: %+v", la)
	}
	if _, err := cli.Write([]byte("x"), tcpip.WriteOptions{}); !errors.Is(err, tcpip.ErrDestinationRequired) {
		t.Fatalf("Write after disconnect = %v", err)
	}

	// An explicitly bound endpoint keeps its port and address.
	b := bound(t, e.a, netip.Addr{}, 7777)
	if err := b.Connect(tcpip.FullAddress{Addr: addrB, Port: 53}); err != nil {
		t.Fatal(err)
	}
	if err := b.Connect(tcpip.FullAddress{}); err != nil {
		t.Fatal(err)
	}
	if la, _ := b.LocalAddress(); la.Port != 7777 || la.Addr.IsValid() {
		t.Fatalf("LocalAddress after disconnect = %+v", la)
	}
	send(t, other, []byte("back to any"), to(addrA, 7777))
	e.hub.Pump()
	expect(t, b, []byte("back to any"), netip.AddrPortFrom(addrB, 54))
}

// Shutdown: reading ends with ErrClosedForReceive once the queue is
// drained; writing fails with EPIPE.
func TestShutdown(t *testing.T) {
	e := newEnv(t, envOptions{})
	srv := bound(t, e.b, netip.Addr{}, 53)
	cli := newUDP(t, e.a)
	send(t, cli, []byte("before"), to(addrB, 53))
	e.hub.Pump()
	// Not connected: ENOTCONN, but shut all the same (Linux).
	if err := srv.Shutdown(tcpip.ShutdownRead); !errors.Is(err, tcpip.ErrNotConnected) {
		t.Fatalf("Shutdown = %v", err)
	}
	if got := srv.Readiness(tcpip.EventIn | tcpip.EventRdHUp); got != tcpip.EventIn|tcpip.EventRdHUp {
		t.Fatalf("Readiness = %v", got)
	}
	send(t, cli, []byte("after"), to(addrB, 53))
	e.hub.Pump()
	expect(t, srv, []byte("before"), netip.AddrPort{})
	if _, err := srv.Read(make([]byte, 10), tcpip.ReadOptions{}); err != tcpip.ErrClosedForReceive {
		t.Fatalf("Read after shutdown = %v", err)
	}

	if err := cli.Connect(tcpip.FullAddress{Addr: addrB, Port: 53}); err != nil {
		t.Fatal(err)
	}
	if err := cli.Shutdown(tcpip.ShutdownWrite); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Write([]byte("x"), tcpip.WriteOptions{}); !errors.Is(err, syscall.EPIPE) {
		t.Fatalf("Write after shutdown = %v", err)
	}
}

// Close frees the port and the queue; the endpoint refuses further use.
func TestClose(t *testing.T) {
	e := newEnv(t, envOptions{})
	srv := bound(t, e.b, netip.Addr{}, 53)
	cli := newUDP(t, e.a)
	send(t, cli, []byte("queued"), to(addrB, 53))
	e.hub.Pump()
	w := tcpip.NewChannelWaiter()
	srv.WaitQueue().Register(w, tcpip.EventHUp)
	srv.Close()
	select {
	case <-w:
	default:
		t.Fatal("no EventHUp on Close")
	}
	if _, err := srv.Read(make([]byte, 10), tcpip.ReadOptions{}); err != tcpip.ErrClosedForReceive {
		t.Fatalf("Read after Close = %v", err)
	}
	if _, err := srv.Write([]byte("x"), tcpip.WriteOptions{To: to(addrA, 1)}); !errors.Is(err, tcpip.ErrClosedForSend) {
		t.Fatalf("Write after Close = %v", err)
	}
	if err := srv.Bind(tcpip.FullAddress{Port: 53}); !errors.Is(err, tcpip.ErrInvalidEndpointState) {
		t.Fatalf("Bind after Close = %v", err)
	}
	if len(e.b.RegisteredEndpoints()) != 0 {
		t.Fatalf("still registered: %v", e.b.RegisteredEndpoints())
	}
	again := bound(t, e.b, netip.Addr{}, 53)
	again.Close()
}

// Ephemeral ports run out: EAGAIN, as Linux's bind(2) and connect(2).
func TestPortExhaustion(t *testing.T) {
	e := newEnv(t, envOptions{})
	if err := e.a.PortManager().SetPortRange(40000, 40003); err != nil {
		t.Fatal(err)
	}
	var eps []tcpip.Endpoint
	for range 4 {
		eps = append(eps, bound(t, e.a, netip.Addr{}, 0))
	}
	ep := newUDP(t, e.a)
	if err := ep.Bind(tcpip.FullAddress{}); !errors.Is(err, tcpip.ErrNoPortAvailable) || !errors.Is(err, syscall.EAGAIN) {
		t.Fatalf("Bind with no port left = %v", err)
	}
	if _, err := ep.Write([]byte("x"), tcpip.WriteOptions{To: to(addrB, 53)}); !errors.Is(err, tcpip.ErrNoPortAvailable) {
		t.Fatalf("Write with no port left = %v", err)
	}
	if err := ep.Connect(tcpip.FullAddress{Addr: addrB, Port: 53}); !errors.Is(err, tcpip.ErrNoPortAvailable) {
		t.Fatalf("Connect with no port left = %v", err)
	}
	eps[2].Close()
	if err := ep.Bind(tcpip.FullAddress{}); err != nil {
		t.Fatalf("Bind after a port was freed = %v", err)
	}
}

// SO_REUSEADDR lets endpoints share an address and port when all of them
// set it; unicast goes to the one bound last, as in Linux.
func TestReuseAddress(t *testing.T) {
	e := newEnv(t, envOptions{})
	first := bound(t, e.b, netip.Addr{}, 53)
	ep := newUDP(t, e.b)
	if err := ep.Bind(tcpip.FullAddress{Port: 53}); !errors.Is(err, syscall.EADDRINUSE) {
		t.Fatalf("second Bind = %v, want EADDRINUSE", err)
	}
	first.Close()

	r1 := bound(t, e.b, netip.Addr{}, 53, tcpip.ReuseAddressOption(true))
	r2 := bound(t, e.b, netip.Addr{}, 53, tcpip.ReuseAddressOption(true))
	plain := newUDP(t, e.b)
	if err := plain.Bind(tcpip.FullAddress{Port: 53}); !errors.Is(err, tcpip.ErrAddressInUse) {
		t.Fatalf("Bind without SO_REUSEADDR = %v", err)
	}
	cli := newUDP(t, e.a)
	send(t, cli, []byte("u"), to(addrB, 53))
	e.hub.Pump()
	expect(t, r2, []byte("u"), netip.AddrPort{})
	recvNone(t, r1)
	r2.Close()
	send(t, cli, []byte("v"), to(addrB, 53))
	e.hub.Pump()
	expect(t, r1, []byte("v"), netip.AddrPort{})
}

// Bind refuses addresses the stack does not own (EADDRNOTAVAIL), and a
// second Bind.
func TestBindErrors(t *testing.T) {
	e := newEnv(t, envOptions{})
	ep := newUDP(t, e.a)
	if err := ep.Bind(tcpip.FullAddress{Addr: addrB, Port: 1}); !errors.Is(err, syscall.EADDRNOTAVAIL) {
		t.Fatalf("Bind to a foreign address = %v", err)
	}
	if err := ep.Bind(tcpip.FullAddress{Addr: netip.MustParseAddr("::1"), Port: 1}); !errors.Is(err, tcpip.ErrAddressFamily) {
		t.Fatalf("Bind to an IPv6 address = %v", err)
	}
	if err := ep.Bind(tcpip.FullAddress{NIC: 9, Port: 1}); !errors.Is(err, tcpip.ErrUnknownDevice) {
		t.Fatalf("Bind to an unknown NIC = %v", err)
	}
	if err := ep.Bind(tcpip.FullAddress{Addr: addrA, Port: 1}); err != nil {
		t.Fatal(err)
	}
	if err := ep.Bind(tcpip.FullAddress{Addr: addrA, Port: 2}); !errors.Is(err, tcpip.ErrAlreadyBound) {
		t.Fatalf("second Bind = %v", err)
	}
	// Multicast addresses may be bound.
	bound(t, e.a, group, 1)
}

// Options are read back as set; unknown ones are refused.
func TestOptions(t *testing.T) {
	e := newEnv(t, envOptions{})
	ep := newUDP(t, e.a)
	if err := ep.SetSockOpt(tcpip.DelayOption(true)); !errors.Is(err, tcpip.ErrUnknownProtocolOption) {
		t.Fatalf("SetSockOpt(DelayOption) = %v", err)
	}
	if err := ep.SetSockOpt(tcpip.V6OnlyOption(true)); !errors.Is(err, tcpip.ErrUnknownProtocolOption) {
		t.Fatalf("V6OnlyOption on IPv4 = %v", err)
	}
	if err := ep.SetSockOpt(tcpip.BindToDeviceOption(9)); !errors.Is(err, tcpip.ErrUnknownDevice) {
		t.Fatalf("BindToDeviceOption(9) = %v", err)
	}
	var mttl tcpip.MulticastTTLOption
	var sb tcpip.SendBufferSizeOption
	var rb tcpip.ReceiveBufferSizeOption
	if ep.GetSockOpt(&mttl) != nil || mttl != 1 || ep.GetSockOpt(&sb) != nil || sb != udp.DefaultSendBufferSize ||
		ep.GetSockOpt(&rb) != nil || rb != udp.DefaultReceiveBufferSize {
		t.Fatalf("defaults: multicast TTL %d, send buffer %d, receive buffer %d", mttl, sb, rb)
	}
	for _, c := range []struct{ set, get any }{
		{tcpip.TTLOption(9), new(tcpip.TTLOption)},
		{tcpip.TOSOption(0x20), new(tcpip.TOSOption)},
		{tcpip.MulticastTTLOption(5), new(tcpip.MulticastTTLOption)},
		{tcpip.BroadcastOption(true), new(tcpip.BroadcastOption)},
		{tcpip.ReuseAddressOption(true), new(tcpip.ReuseAddressOption)},
		{tcpip.ReusePortOption(true), new(tcpip.ReusePortOption)},
		{tcpip.NoChecksumOption(true), new(tcpip.NoChecksumOption)},
		{tcpip.ReceiveTOSOption(true), new(tcpip.ReceiveTOSOption)},
		{tcpip.BindToDeviceOption(1), new(tcpip.BindToDeviceOption)},
		{tcpip.SendBufferSizeOption(65536), new(tcpip.SendBufferSizeOption)},
	} {
		if err := ep.SetSockOpt(c.set); err != nil {
			t.Fatalf("SetSockOpt(%T): %v", c.set, err)
		}
		if err := ep.GetSockOpt(c.get); err != nil {
			t.Fatalf("GetSockOpt(%T): %v", c.get, err)
		}
		if got := derefOpt(c.get); got != c.set {
			t.Errorf("%T: got %v, want %v", c.set, got, c.set)
		}
	}
	if err := ep.GetSockOpt(new(tcpip.KeepAliveOption)); !errors.Is(err, tcpip.ErrUnknownProtocolOption) {
		t.Fatalf("GetSockOpt(KeepAliveOption) = %v", err)
	}
	if err := ep.Listen(1); !errors.Is(err, tcpip.ErrNotSupported) {
		t.Fatalf("Listen = %v", err)
	}
}

// icmpUnreachable returns an IPv4 packet from router to A carrying an ICMP
// destination unreachable of the given code about a datagram A sent from
// sport to B's dport (RFC 792: the IP header and 8 bytes of data quoted).
func icmpUnreachable(router netip.Addr, code header.ICMPv4Code, sport, dport uint16) []byte {
	quoted := testnet.IPv4UDP(addrA, addrB, 64, testnet.UDP(addrA, addrB, sport, dport, []byte("whatever")))
	quoted = quoted[:header.IPv4MinimumSize+header.UDPMinimumSize]
	msg := make([]byte, header.ICMPv4MinimumSize+len(quoted))
	f := header.ICMPv4Fields{Type: header.ICMPv4DstUnreachable, Code: code}
	m := f.Encode(msg)
	copy(msg[header.ICMPv4MinimumSize:], quoted)
	m.SetChecksum(m.CalculateChecksum())
	return testnet.IPv4Packet(router, addrA, tcpip.ICMPv4ProtocolNumber, 64, msg)
}

// Linux without IP_RECVERR (RFC 1122 §4.1.3.3 asks for more): a connected
// endpoint reports only hard errors; host unreachable and the like are
// ignored, since a later datagram may well get through.
func TestConnectedSoftErrorsIgnored(t *testing.T) {
	e := newEnv(t, envOptions{})
	cli := bound(t, e.a, netip.Addr{}, 3000)
	if err := cli.Connect(tcpip.FullAddress{Addr: addrB, Port: 53}); err != nil {
		t.Fatal(err)
	}
	router := netip.MustParseAddr("10.0.0.254")
	for _, code := range []header.ICMPv4Code{header.ICMPv4HostUnreachable, header.ICMPv4NetUnreachable, header.ICMPv4FragmentationNeeded} {
		e.hub.Send(icmpUnreachable(router, code, 3000, 53))
	}
	// About another peer's port: not this endpoint's business.
	e.hub.Send(icmpUnreachable(router, header.ICMPv4PortUnreachable, 3000, 54))
	e.hub.Pump()
	if got := counter(e.a, "ICMPv4.Received.DstUnreachable"); got != 4 {
		t.Fatalf("A received %d unreachables", got)
	}
	if err := cli.LastError(); err != nil {
		t.Fatalf("LastError = %v", err)
	}
	e.hub.Send(icmpUnreachable(router, header.ICMPv4HostProhibited, 3000, 53))
	e.hub.Pump()
	if err := cli.LastError(); err == nil {
		t.Fatal("administratively prohibited not reported")
	}
}

// CapabilityTXChecksumOffload: the link computes checksums, so UDP
// leaves the field alone.
func TestTXChecksumOffload(t *testing.T) {
	e := newEnv(t, envOptions{caps: stack.CapabilityTXChecksumOffload})
	needNICCapabilities(t, e)
	sniff := newRawUDP(t, e)
	srv := bound(t, e.b, netip.Addr{}, 53)
	send(t, newUDP(t, e.a), []byte("offloaded"), to(addrB, 53))
	e.hub.Pump()
	expect(t, srv, []byte("offloaded"), netip.AddrPort{})
	pkt, _ := recv(t, sniff)
	if pkt[26] != 0 || pkt[27] != 0 {
		t.Fatalf("checksum % x computed despite the offload", pkt[26:28])
	}
}

// A connected endpoint whose peer never answers ARP learns EHOSTUNREACH
// once the three requests, 1 s apart, have gone unanswered.
func TestConnectedResolutionFailure(t *testing.T) {
	e := newEnv(t, envOptions{eth: true})
	cli := newUDP(t, e.a)
	nobody := netip.MustParseAddr("10.0.0.99")
	if err := cli.Connect(tcpip.FullAddress{Addr: nobody, Port: 53}); err != nil {
		t.Fatal(err)
	}
	send(t, cli, []byte("hello?"), nil)
	e.hub.Pump()
	if err := cli.LastError(); err != nil {
		t.Fatalf("error before resolution failed: %v", err)
	}
	for range 3 {
		e.hub.Clock.Advance(time.Second)
		e.hub.Pump()
	}
	if got := counter(e.a, "ARP.RequestsSent"); got != 3 {
		t.Fatalf("ARP.RequestsSent = %d, want 3", got)
	}
	_, err := cli.Read(make([]byte, 10), tcpip.ReadOptions{})
	if !errors.Is(err, syscall.EHOSTUNREACH) {
		t.Fatalf("Read = %v, want EHOSTUNREACH", err)
	}
	if got := counter(e.a, "ARP.ResolutionFailures"); got != 1 {
		t.Fatalf("ARP.ResolutionFailures = %d", got)
	}
}
