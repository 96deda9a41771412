package tun_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ustack-go/ustack/buffer"
	"github.com/ustack-go/ustack/header"
	"github.com/ustack-go/ustack/internal/leakcheck"
	"github.com/ustack-go/ustack/internal/netns"
	"github.com/ustack-go/ustack/link/ethernet"
	"github.com/ustack-go/ustack/link/internal/linktest"
	"github.com/ustack-go/ustack/link/sniffer"
	"github.com/ustack-go/ustack/link/tun"
	"github.com/ustack-go/ustack/stack"
	"github.com/ustack-go/ustack/tcpip"
)

// The endpoint tests put the kernel at epKernelAddr on a device in a
// namespace of their own, and answer for epOurAddr.
var (
	epKernelNet  = netip.MustParsePrefix("10.78.0.1/24")
	epKernelAddr = epKernelNet.Addr()
	epOurAddr    = netip.MustParseAddr("10.78.0.2")
)

// epDevice opens a device of mode with a fresh name, moves it into a new
// namespace, gives the kernel side epKernelNet and brings it up.
func epDevice(t *testing.T, mode tun.Mode) (*tun.Device, *netns.NS) {
	t.Helper()
	return epDeviceConfig(t, tun.Config{Mode: mode})
}

// epDeviceConfig is epDevice with more of the Config (its Name is
// replaced by a fresh one).
func epDeviceConfig(t *testing.T, cfg tun.Config) (*tun.Device, *netns.NS) {
	t.Helper()
	ns := netns.New(t)
	cfg.Name = netns.UniqueIfName("ustk")
	dev, err := tun.Open(cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { dev.Close() }) // after the endpoint's Close, a no-op
	ns.MoveLink(t, dev.Name())
	// No IPv6 chatter (router solicitations, MLD reports) on the link.
	ns.Run(t, "sysctl", "-q", "-w", "net.ipv6.conf."+dev.Name()+".disable_ipv6=1")
	ns.AddrAdd(t, dev.Name(), epKernelNet)
	ns.LinkUp(t, dev.Name())
	return dev, ns
}

// epARPReply answers an ARP request (RFC 826) for epOurAddr with the
// payload of a reply from mac, or returns nil.
func epARPReply(req []byte, mac tcpip.LinkAddress) []byte {
	arp, err := header.ParseARP(req)
	if err != nil || arp.Op() != header.ARPRequest || arp.TargetProtocolAddress() != epOurAddr {
		return nil
	}
	f := header.ARPFields{
		Op:                    header.ARPReply,
		SenderHardwareAddress: mac,
		SenderProtocolAddress: epOurAddr,
		TargetHardwareAddress: arp.SenderHardwareAddress(),
		TargetProtocolAddress: arp.SenderProtocolAddress(),
	}
	return f.Encode(make([]byte, header.ARPSize))
}

// epEchoReply answers an ICMP echo request (RFC 792) to epOurAddr with an
// echo reply, or returns nil.
func epEchoReply(req []byte) []byte {
	ip, err := header.ParseIPv4(req)
	if err != nil || ip.Protocol() != tcpip.ICMPv4ProtocolNumber || ip.Destination() != epOurAddr || ip.IsFragment() {
		return nil
	}
	if icmp, err := header.ParseICMPv4(ip.Payload()); err != nil || icmp.Type() != header.ICMPv4Echo {
		return nil
	}
	rep := header.IPv4(bytes.Clone(ip))
	src := ip.Source()
	rep.SetSource(epOurAddr)
	rep.SetDestination(src)
	rep.SetTTL(64)
	rep.SetChecksum(rep.CalculateChecksum())
	icmp := header.ICMPv4(rep.Payload())
	icmp.SetType(header.ICMPv4EchoReply)
	icmp.SetChecksum(icmp.CalculateChecksum())
	return rep
}

// ethResponder answers ARP and ping for epOurAddr on an Ethernet link.
type ethResponder struct {
	t     *testing.T
	link  stack.LinkEndpoint
	arps  atomic.Int32
	pings atomic.Int32
}

func (r *ethResponder) DeliverNetworkPacket(proto tcpip.NetworkProtocolNumber, pkt *buffer.Packet) {
	b := pkt.Payload.Flatten()
	to := pkt.LinkSource
	pkt.Release()
	var reply []byte
	switch proto {
	case tcpip.ARPProtocolNumber:
		if reply = epARPReply(b, r.link.LinkAddress()); reply != nil {
			r.arps.Add(1)
		}
	case tcpip.IPv4ProtocolNumber:
		if reply = epEchoReply(b); reply != nil {
			r.pings.Add(1)
		}
	}
	if reply == nil {
		return
	}
	out := buffer.NewPacketFromBytes(r.link.MaxHeaderLength(), reply)
	out.LinkSource = r.link.LinkAddress()
	out.LinkDestination = to
	out.NetworkProtocol = proto
	r.link.AddHeader(out)
	if _, err := r.link.WritePackets([]*buffer.Packet{out}); err != nil {
		r.t.Errorf("WritePackets: %v", err)
	}
}

// The kernel pings ustack's side of a TAP link: it resolves the address
// with ARP through the endpoint (the answer shows in its neighbour table)
// and gets its echo reply. The frames are captured on the way, and the
// capture decodes cleanly.
func TestEndpointTAPARPAndPing(t *testing.T) {
	leakcheck.Check(t)
	linktest.CheckBuffers(t)
	netns.RequireTools(t, "ping")
	dev, ns := epDevice(t, tun.TAP)
	ep, err := tun.NewEndpoint(dev, tun.EndpointOptions{})
	if err != nil {
		t.Fatal(err)
	}
	kernelMAC := ns.HardwareAddr(t, dev.Name())
	if ep.LinkAddress() == kernelMAC || !ep.LinkAddress().IsUnicast() {
		t.Errorf("endpoint address %v (kernel side %v)", ep.LinkAddress(), kernelMAC)
	}
	if ep.MTU() != 1500 || ep.Device() != dev || ep.Capabilities() != 0 || ep.MaxHeaderLength() != 0 {
		t.Errorf("MTU %d, Capabilities %v, MaxHeaderLength %d", ep.MTU(), ep.Capabilities(), ep.MaxHeaderLength())
	}
	var pcap bytes.Buffer
	link := ethernet.New(sniffer.New(ep, &pcap, sniffer.Options{}))
	r := &ethResponder{t: t, link: link}
	link.Attach(r)

	ns.Run(t, "ping", "-c", "1", "-W", "2", epOurAddr.String())
	neigh := ns.Run(t, "ip", "neigh", "show", epOurAddr.String(), "dev", dev.Name())
	if !strings.Contains(neigh, "lladdr "+ep.LinkAddress().String()) {
		t.Errorf("kernel neighbour entry %q, want lladdr %v", neigh, ep.LinkAddress())
	}
	if r.arps.Load() == 0 || r.pings.Load() != 1 {
		t.Errorf("answered %d ARP requests, %d pings", r.arps.Load(), r.pings.Load())
	}
	link.Close()
	if _, err := dev.Write([]byte{0}); err == nil {
		t.Error("the device is still open after the endpoint's Close")
	}
	s := ep.Stats()
	if s.RxPackets.Load() < 2 || s.TxPackets.Load() < 2 || s.TxErrors.Load() != 0 {
		t.Errorf("Rx %d, Tx %d, TxErrors %d", s.RxPackets.Load(), s.TxPackets.Load(), s.TxErrors.Load())
	}
	if ep.Err() != nil {
		t.Errorf("Err after Close = %v", ep.Err())
	}
	epCheckTshark(t, pcap.Bytes())
}

// epCheckTshark has tshark decode a capture, if it is installed, and fails
// on malformed packets or expert warnings.
func epCheckTshark(t *testing.T, pcap []byte) {
	t.Helper()
	if _, err := exec.LookPath("tshark"); err != nil {
		t.Log("no tshark: capture not decoded")
		return
	}
	path := t.TempDir() + "/tap.pcap"
	if err := os.WriteFile(path, pcap, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("tshark", "-n", "-r", path).Output()
	if err != nil {
		t.Fatalf("tshark: %v", err)
	}
	t.Logf("capture:\n%s", out)
	for _, want := range []string{"ARP", "ICMP"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("no %s in the capture", want)
		}
	}
	bad, err := exec.Command("tshark", "-n", "-r", path, "-Y", "_ws.expert.severity >= warning || _ws.malformed").Output()
	if err != nil {
		t.Fatalf("tshark: %v", err)
	}
	if s := strings.TrimSpace(string(bad)); s != "" {
		t.Errorf("tshark warnings:\n%s", s)
	}
}

// ipResponder answers pings on a TUN link.
type ipResponder struct {
	t      *testing.T
	link   stack.LinkEndpoint
	pings  atomic.Int32
	protos atomic.Int32 // packets delivered with a protocol other than IPv4
}

func (r *ipResponder) DeliverNetworkPacket(proto tcpip.NetworkProtocolNumber, pkt *buffer.Packet) {
	b := pkt.Payload.Flatten()
	pkt.Release()
	if proto != tcpip.IPv4ProtocolNumber {
		r.protos.Add(1)
		return
	}
	if reply := epEchoReply(b); reply != nil {
		r.pings.Add(1)
		if _, err := r.link.WritePackets([]*buffer.Packet{buffer.NewPacketFromBytes(0, reply)}); err != nil {
			r.t.Errorf("WritePackets: %v", err)
		}
	}
}

func TestEndpointTUNPing(t *testing.T) {
	leakcheck.Check(t)
	linktest.CheckBuffers(t)
	netns.RequireTools(t, "ping")
	dev, ns := epDevice(t, tun.TUN)
	ep, err := tun.NewEndpoint(dev, tun.EndpointOptions{MTU: 1400, BatchSize: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer ep.Close()
	if !ep.LinkAddress().IsZero() || ep.MTU() != 1400 {
		t.Errorf("TUN endpoint: address %v, MTU %d", ep.LinkAddress(), ep.MTU())
	}
	r := &ipResponder{t: t, link: ep}
	ep.Attach(r)
	ns.Run(t, "ping", "-c", "3", "-i", "0.01", "-W", "2", epOurAddr.String())
	if r.pings.Load() != 3 || r.protos.Load() != 0 {
		t.Errorf("answered %d pings; %d packets of another protocol", r.pings.Load(), r.protos.Load())
	}
	// Detached: frames are read and discarded.
	ep.Attach(nil)
	if _, err := ns.Output("ping", "-c", "1", "-W", "1", epOurAddr.String()); err == nil {
		t.Error("ping answered while detached")
	}
	if ep.Stats().RxDetached.Load() == 0 {
		t.Error("no frame counted as discarded while detached")
	}
	// And attached again.
	ep.Attach(r)
	ns.Run(t, "ping", "-c", "1", "-W", "2", epOurAddr.String())
}

// Close wakes the reader blocked on an idle device and returns once it
// has exited (leakcheck); writes after Close fail.
func TestEndpointClose(t *testing.T) {
	leakcheck.Check(t)
	linktest.CheckBuffers(t)
	netns.RequireRoot(t)
	dev, err := tun.Open(tun.Config{Name: netns.UniqueIfName("ustk"), Mode: tun.TAP})
	if err != nil {
		t.Fatal(err)
	}
	ep, err := tun.NewEndpoint(dev, tun.EndpointOptions{LinkAddress: tcpip.MustParseLinkAddress("02:00:00:00:00:42")})
	if err != nil {
		dev.Close()
		t.Fatal(err)
	}
	if ep.LinkAddress() != tcpip.MustParseLinkAddress("02:00:00:00:00:42") {
		t.Errorf("LinkAddress = %v", ep.LinkAddress())
	}
	ep.Attach(linktest.NewRecorder())
	time.Sleep(10 * time.Millisecond) // let the reader block in poll
	ep.Close()
	n, err := ep.WritePackets([]*buffer.Packet{buffer.NewPacketFromBytes(0, make([]byte, 60)), buffer.NewPacketFromBytes(0, make([]byte, 60))})
	if n != 0 || err != tcpip.ErrStackClosed {
		t.Errorf("WritePackets after Close = %d, %v", n, err)
	}
	if got := ep.Stats().TxErrors.Load(); got != 2 {
		t.Errorf("TxErrors = %d", got)
	}
	ep.Attach(linktest.NewRecorder()) // no reader after Close
	ep.Close()
}

// When the namespace holding the device is deleted, the kernel deletes the
// device: the reader ends by itself with EBADFD, writes fail with
// ErrNetworkDown, and Close still works.
func TestEndpointDeviceDeleted(t *testing.T) {
	leakcheck.Check(t)
	linktest.CheckBuffers(t)
	ns := netns.New(t)
	dev, err := tun.Open(tun.Config{Name: netns.UniqueIfName("ustk"), Mode: tun.TAP})
	if err != nil {
		t.Fatal(err)
	}
	ep, err := tun.NewEndpoint(dev, tun.EndpointOptions{})
	if err != nil {
		dev.Close()
		t.Fatal(err)
	}
	defer ep.Close()
	if out, err := exec.Command("ip", "link", "set", "dev", dev.Name(), "netns", ns.Name()).CombinedOutput(); err != nil {
		t.Fatalf("ip link set netns: %v\n%s", err, out)
	}
	ep.Attach(linktest.NewRecorder())
	ns.Delete(t)
	ctx, cancel := context.WithTimeout(t.Context(), linktest.WaitTimeout)
	defer cancel()
	for ep.Err() == nil {
		select {
		case <-ctx.Done():
			t.Fatal("the reader did not stop after the device was deleted")
		case <-time.After(time.Millisecond):
		}
	}
	if !errors.Is(ep.Err(), unix.EBADFD) {
		t.Errorf("Err = %v, want EBADFD", ep.Err())
	}
	if _, err := ep.WritePackets([]*buffer.Packet{buffer.NewPacketFromBytes(0, make([]byte, 60))}); err != tcpip.ErrNetworkDown {
		t.Errorf("WritePackets to the deleted device: %v, want ErrNetworkDown", err)
	}
}

// OpenTAPEndpoint gives an Ethernet link over a new TAP device.
func TestOpenTAPEndpoint(t *testing.T) {
	leakcheck.Check(t)
	netns.RequireRoot(t)
	name := netns.UniqueIfName("ustk")
	link, err := tun.OpenTAPEndpoint(name, 1280)
	if err != nil {
		t.Fatal(err)
	}
	defer link.Close()
	if link.MTU() != 1280 || link.MaxHeaderLength() != 14 || link.Capabilities()&stack.CapabilityResolutionRequired == 0 {
		t.Errorf("MTU %d, MaxHeaderLength %d, Capabilities %v", link.MTU(), link.MaxHeaderLength(), link.Capabilities())
	}
	out, err := exec.Command("ip", "link", "show", "dev", name).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "mtu 1280") || !strings.Contains(string(out), "UP") {
		t.Errorf("ip link show: %v\n%s", err, out)
	}
	if _, err := tun.OpenTAPEndpoint("this-name-is-far-too-long", 0); err == nil {
		t.Error("OpenTAPEndpoint with a bad name succeeded")
	}
}

// echoSignal passes on the kernel's echo replies to a channel without
// allocating.
type echoSignal chan struct{}

func (s echoSignal) DeliverNetworkPacket(proto tcpip.NetworkProtocolNumber, pkt *buffer.Packet) {
	b, ok := pkt.Peek(14 + 20 + 1)
	isReply := ok && proto == 0 && b[12] == 0x08 && b[13] == 0x00 && b[14+9] == 1 && b[14+20] == 0
	pkt.Release()
	if isReply {
		s <- struct{}{}
	}
}

// Writing a frame and reading the kernel's answer allocate nothing in the
// endpoint (pooled buffers, read in place).
func TestEndpointAllocs(t *testing.T) {
	if linktest.RaceEnabled {
		t.Skip("sync.Pool drops items under the race detector")
	}
	leakcheck.Check(t)
	dev, ns := epDevice(t, tun.TAP)
	ep, err := tun.NewEndpoint(dev, tun.EndpointOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer ep.Close()
	ns.Run(t, "ip", "neigh", "replace", epOurAddr.String(), "lladdr", ep.LinkAddress().String(), "dev", dev.Name(), "nud", "permanent")
	kernelMAC := ns.HardwareAddr(t, dev.Name())
	// An echo request from us to the kernel, with a payload long enough
	// to make the reply a large (uncopied) frame.
	req := make([]byte, 20+8+1000)
	req[0] = 0x45
	binary.BigEndian.PutUint16(req[2:], uint16(len(req)))
	req[8] = 64
	req[9] = uint8(tcpip.ICMPv4ProtocolNumber)
	copy(req[12:], epOurAddr.AsSlice())
	copy(req[16:], epKernelAddr.AsSlice())
	binary.BigEndian.PutUint16(req[10:], ^header.Checksum(req[:20], 0))
	req[20] = 8
	binary.BigEndian.PutUint16(req[22:], ^header.Checksum(req[20:], 0))
	s := make(echoSignal, 1)
	ep.Attach(s)
	pkts := make([]*buffer.Packet, 1)
	timeout := time.NewTimer(linktest.WaitTimeout)
	defer timeout.Stop()
	ping := func() {
		p := buffer.NewPacket(14, nil)
		p.Payload.Append(req)
		(&header.EthernetFields{Destination: kernelMAC, Source: ep.LinkAddress(), Type: tcpip.IPv4ProtocolNumber}).
			Encode(p.PrependHeader(buffer.LinkLayer, 14))
		pkts[0] = p
		if _, err := ep.WritePackets(pkts); err != nil {
			t.Fatal(err)
		}
		timeout.Reset(linktest.WaitTimeout)
		select {
		case <-s:
		case <-timeout.C:
			t.Fatal("no echo reply")
		}
	}
	for range 5 {
		ping()
	}
	if n := testing.AllocsPerRun(100, ping); n != 0 {
		t.Errorf("write and read of a frame: %v allocations, want 0", n)
	}
}
