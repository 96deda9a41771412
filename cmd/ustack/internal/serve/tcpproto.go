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

// tcpOptions translates the --tcp-* and --sack flags into protocol options
// of package tcp: the SYN queue size, SACK on or off, and the congestion
// control and buffer sizes every new endpoint of the stack starts with
// (connections it accepts and connections it makes alike).
func tcpOptions(cfg Config) ([]tcpOption, error) {
	// A server's queue of half-open connections, as large as its
	// accept queue (listenBacklog): Linux's tcp_max_syn_backlog on a
	// host with memory to spare.
	opts := []tcpOption{{flag: "SYN queue size", opt: tcp.SYNQueueSizeOption(listenBacklog)}}
	if name := cfg.TCPCongestionControl; name != "" {
		if !slices.Contains(tcp.CongestionControls(), name) {
			return nil, fmt.Errorf("--tcp-cc %s: unknown congestion control (available: %s)", name, strings.Join(tcp.CongestionControls(), ", "))
		}
		opts = append(opts, tcpOption{flag: "--tcp-cc " + name, opt: tcpip.CongestionControlOption(name)})
	}
	if cfg.SACK != nil {
		opts = append(opts, tcpOption{flag: fmt.Sprintf("--sack=%t", *cfg.SACK), opt: tcp.SACKEnabledOption(*cfg.SACK)})
	}
	if n := cfg.TCPSendBuffer; n > 0 {
		opts = append(opts, tcpOption{flag: fmt.Sprintf("--tcp-sndbuf %d", n), opt: tcpip.SendBufferSizeOption(n)})
	}
	if n := cfg.TCPReceiveBuffer; n > 0 {
		opts = append(opts, tcpOption{flag: fmt.Sprintf("--tcp-rcvbuf %d", n), opt: tcpip.ReceiveBufferSizeOption(n)})
	}
	return opts, nil
}
