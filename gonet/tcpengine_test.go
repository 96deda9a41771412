package gonet_test

import (
	"net/netip"

	"github.com/ustack-go/ustack/stack"
	"github.com/ustack-go/ustack/transport/tcp"
)

// The TCP engine is the second transport of the stream tests: the same
// tests run over real segments between the two stacks.
func init() {
	streamImpls = append(streamImpls, streamImpl{
		name: "tcp",
		factories: func(netip.Addr, netip.Addr) (stack.TransportProtocolFactory, stack.TransportProtocolFactory) {
			return tcp.NewProtocol, tcp.NewProtocol
		},
	})
}
