package tun_test

import (
	"sync/atomic"
	"testing"

	"github.com/ustack-go/ustack/buffer"
	"github.com/ustack-go/ustack/header"
	"github.com/ustack-go/ustack/internal/leakcheck"
	"github.com/ustack-go/ustack/internal/netns"
	"github.com/ustack-go/ustack/link/ethernet"
	"github.com/ustack-go/ustack/link/internal/linktest"
	"github.com/ustack-go/ustack/link/tun"
	"github.com/ustack-go/ustack/tcpip"
)

// udpChecker answers ARP and ping like ethResponder and checks the UDP
// checksum of every datagram to epOurAddr.
type udpChecker struct {
	ethResponder
	good, bad atomic.Int32
}

func (r *udpChecker) DeliverNetworkPacket(proto tcpip.NetworkProtocolNumber, pkt *buffer.Packet) {
	if proto == tcpip.IPv4ProtocolNumber {
		b := pkt.Payload.Flatten()
		if ip, err := header.ParseIPv4(b); err == nil && ip.Protocol() == tcpip.UDPProtocolNumber && ip.Destination() == epOurAddr {
			u, err := header.ParseUDP(ip.Payload())
			switch {
			case err != nil || u.Checksum() == 0:
				r.bad.Add(1)
			case u.IsChecksumValid(ip.Source(), ip.Destination()):
				r.good.Add(1)
			default:
				r.bad.Add(1)
			}
			pkt.Release()
			return
		}
	}
	r.ethResponder.DeliverNetworkPacket(proto, pkt)
}

// With a virtio-net header and checksum offload, the kernel hands UDP
// datagrams up with the checksum partial (VIRTIO_NET_HDR_F_NEEDS_CSUM);
// the endpoint completes it, and the datagram's checksum verifies. Ping
// and ARP work through the header both ways, in both its sizes.
func TestEndpointTAPVnetHdr(t *testing.T) {
	for _, size := range []int{header.VirtioNetSize, header.VirtioNetMrgRxbufSize} {
		t.Run(map[int]string{10: "10", 12: "12"}[size], func(t *testing.T) {
			leakcheck.Check(t)
			linktest.CheckBuffers(t)
			netns.RequireTools(t, "ping", "bash")
			dev, ns := epDeviceConfig(t, tun.Config{Mode: tun.TAP, VnetHdr: size, Offload: tun.OffloadCsum | tun.OffloadTSO4 | tun.OffloadTSO6})
			if dev.VnetHdr() != size || dev.Offload() != tun.OffloadCsum|tun.OffloadTSO4|tun.OffloadTSO6 {
				t.Fatalf("VnetHdr %d, Offload %#x", dev.VnetHdr(), dev.Offload())
			}
			ep, err := tun.NewEndpoint(dev, tun.EndpointOptions{})
			if err != nil {
				t.Fatal(err)
			}
			link := ethernet.New(ep)
			r := &udpChecker{ethResponder: ethResponder{t: t, link: link}}
			link.Attach(r)

			ns.Run(t, "ping", "-c", "2", "-i", "0.2", "-W", "2", epOurAddr.String())
			// The kernel knows ustack's address by now; three datagrams.
			for range 3 {
				ns.Run(t, "bash", "-c", "echo hello >/dev/udp/"+epOurAddr.String()+"/9")
			}
			link.Close()
			if r.pings.Load() != 2 {
				t.Errorf("answered %d pings, want 2", r.pings.Load())
			}
			if r.good.Load() != 3 || r.bad.Load() != 0 {
				t.Errorf("UDP checksums: %d good, %d bad; want 3 good", r.good.Load(), r.bad.Load())
			}
			s := ep.Stats()
			if s.RxCsumCompleted.Load() < 3 || s.RxBadVnetHdr.Load() != 0 || s.TxErrors.Load() != 0 {
				t.Errorf("RxCsumCompleted %d, RxBadVnetHdr %d, TxErrors %d", s.RxCsumCompleted.Load(), s.RxBadVnetHdr.Load(), s.TxErrors.Load())
			}
		})
	}
}

// Without offloads, the header is there but the kernel completes every
// checksum itself: no datagram needs completing.
func TestEndpointTAPVnetHdrNoOffload(t *testing.T) {
	leakcheck.Check(t)
	linktest.CheckBuffers(t)
	netns.RequireTools(t, "ping", "bash")
	dev, ns := epDeviceConfig(t, tun.Config{Mode: tun.TAP, VnetHdr: header.VirtioNetMrgRxbufSize})
	ep, err := tun.NewEndpoint(dev, tun.EndpointOptions{})
	if err != nil {
		t.Fatal(err)
	}
	link := ethernet.New(ep)
	r := &udpChecker{ethResponder: ethResponder{t: t, link: link}}
	link.Attach(r)
	ns.Run(t, "ping", "-c", "1", "-W", "2", epOurAddr.String())
	ns.Run(t, "bash", "-c", "echo hello >/dev/udp/"+epOurAddr.String()+"/9")
	link.Close()
	if r.pings.Load() != 1 || r.good.Load() != 1 || r.bad.Load() != 0 {
		t.Errorf("pings %d, UDP good %d bad %d", r.pings.Load(), r.good.Load(), r.bad.Load())
	}
	if n := ep.Stats().RxCsumCompleted.Load(); n != 0 {
		t.Errorf("RxCsumCompleted = %d without offloads", n)
	}
}

func TestOpenVnetHdrErrors(t *testing.T) {
	for _, cfg := range []tun.Config{
		{Mode: tun.TAP, VnetHdr: 11},
		{Mode: tun.TAP, Offload: tun.OffloadCsum},
		{Mode: tun.TAP, VnetHdr: 12, Offload: tun.OffloadTSO4},
		{Mode: tun.TAP, VnetHdr: 12, Offload: 0x100 | tun.OffloadCsum},
	} {
		if dev, err := tun.Open(cfg); err == nil {
			dev.Close()
			t.Errorf("Open(%+v) succeeded", cfg)
		}
	}
}
