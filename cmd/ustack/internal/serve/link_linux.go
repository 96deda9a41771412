package serve

import (
	"github.com/ustack-go/ustack/link/tun"
	"github.com/ustack-go/ustack/stack"
	"github.com/ustack-go/ustack/tcpip"
)

// openTAP opens the TAP device name, creating it if it does not exist,
// sets its MTU if mtu is positive, brings it up, and returns a link of raw
// Ethernet frames over it with the link address mac (to be wrapped by
// ethernet.New).
func openTAP(name string, mtu int, mac tcpip.LinkAddress) (stack.LinkEndpoint, error) {
	dev, err := tun.Open(tun.Config{Name: name, Mode: tun.TAP, MTU: mtu, Up: true})
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
