package serve

import (
	"fmt"
	"slices"
	"strings"

	"github.com/ustack-go/ustack/tcpip"
	"github.com/ustack-go/ustack/transport/tcp"
)

// ustack serve runs ustack's TCP.
func init() {
	tcpSupport = &tcpEngine{factory: tcp.NewProtocol, options: tcpOptions}
}

// tcpOptions translates the --tcp-* flags into options of package tcp.
// The SYN queue is a protocol option; the congestion control and buffer
// sizes are options of each endpoint,
// set on the listeners, whose connections inherit them; package tcp has
// no option to turn SACK on or off.
func tcpOptions(cfg Config) ([]tcpOption, error) {
	// A server's queue of half-open connections, as large as its
	// accept queue (listenBacklog): Linux's tcp_max_syn_backlog on a
	// host with memory to spare.
	opts := []tcpOption{{flag: "SYN queue size", opt: tcp.SYNQueueSizeOption(listenBacklog)}}
	if name := cfg.TCPCongestionControl; name != "" {
		if !slices.Contains(tcp.CongestionControls(), name) {
			return nil, fmt.Errorf("--tcp-cc %s: unknown congestion control (available: %s)", name, strings.Join(tcp.CongestionControls(), ", "))
		}
		opts = append(opts, tcpOption{flag: "--tcp-cc " + name, opt: tcpip.CongestionControlOption(name), listener: true})
	}
	if cfg.SACK != nil {
		return nil, fmt.Errorf("--sack: ustack's TCP has no option to enable or disable selective acknowledgements yet")
	}
	if n := cfg.TCPSendBuffer; n > 0 {
		opts = append(opts, tcpOption{flag: fmt.Sprintf("--tcp-sndbuf %d", n), opt: tcpip.SendBufferSizeOption(n), listener: true})
	}
	if n := cfg.TCPReceiveBuffer; n > 0 {
		opts = append(opts, tcpOption{flag: fmt.Sprintf("--tcp-rcvbuf %d", n), opt: tcpip.ReceiveBufferSizeOption(n), listener: true})
	}
	return opts, nil
}
