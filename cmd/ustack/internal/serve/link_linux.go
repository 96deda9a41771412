package serve

import (
	"github.com/ustack-go/ustack/header"
	"github.com/ustack-go/ustack/link/tun"
	"github.com/ustack-go/ustack/stack"
	"github.com/ustack-go/ustack/tcpip"
)

// openTAP opens the TAP device name, creating it if it does not exist,
// sets its MTU if mtu is positive, brings it up, and returns a link of raw
// Ethernet frames over it with the link address mac (to be wrapped by
// ethernet.New). With vnetHdr, the device carries the 12-byte virtio-net
// header and the kernel may leave checksums partial and send TCP
// super-segments, which the endpoint completes and delivers whole.
func openTAP(name string, mtu int, mac tcpip.LinkAddress, vnetHdr bool) (stack.LinkEndpoint, error) {
	cfg := tun.Config{Name: name, Mode: tun.TAP, MTU: mtu, Up: true}
	if vnetHdr {
		cfg.VnetHdr = header.VirtioNetMrgRxbufSize
		cfg.Offload = tun.OffloadCsum | tun.OffloadTSO4 | tun.OffloadTSO6
	}
	dev, err := tun.Open(cfg)
	if err != nil {
		return nil, err
	}
	ep, err := tun.NewEndpoint(dev, tun.EndpointOptions{LinkAddress: mac})
	if err != nil {
		dev.Close()
		return nil, err
	}
	return ep, nil
}
