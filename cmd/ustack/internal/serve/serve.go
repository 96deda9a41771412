// Package serve is `ustack serve`: it brings a ustack Stack up on a TAP
// device and serves the classic diagnostic services over it, echo (RFC
// 862, port 7) and discard (RFC 863, port 9) over UDP and TCP, and over TCP
// chargen (RFC 864, port 19) and HTTP (port 80: GET /bytes/N, POST /sha256
// and a status page at /); the stack itself answers ARP, NDP and ping
// (IPv4 and IPv6). It is a package of its own so that tests run it in
// their process (Run, or Start for a Server they can inspect) as well as
// through the built binary.
//
// The services are ordinary user code of the stack: each runs in its own
// goroutine over a gonet.UDPConn, or a gonet.TCPListener and a goroutine
// per connection; HTTP is package net/http's server on a TCPListener.
package serve

import (
	"bufio"
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"sync"

	"github.com/ustack-go/ustack/gonet"
	"github.com/ustack-go/ustack/link/ethernet"
	"github.com/ustack-go/ustack/link/impair"
	"github.com/ustack-go/ustack/link/sniffer"
	"github.com/ustack-go/ustack/network/arp"
	"github.com/ustack-go/ustack/network/ipv4"
	"github.com/ustack-go/ustack/network/ipv6"
	"github.com/ustack-go/ustack/stack"
	"github.com/ustack-go/ustack/tcpip"
	"github.com/ustack-go/ustack/transport/icmp"
	"github.com/ustack-go/ustack/transport/udp"
)

// Ports of the services.
const (
	EchoPort    = 7 // RFC 862
	DiscardPort = 9 // RFC 863
)

// nicID is the ID of the one NIC, on the TAP device.
const nicID tcpip.NICID = 1

// ServiceStats counts what the services handled.
type ServiceStats struct {
	EchoDatagrams    tcpip.Counter // datagrams echoed
	EchoBytes        tcpip.Counter
	EchoErrors       tcpip.Counter // datagrams that could not be sent back
	DiscardDatagrams tcpip.Counter // datagrams discarded
	DiscardBytes     tcpip.Counter

	TCPConnections    tcpip.Counter // connections accepted by echo, discard and chargen
	TCPEchoBytes      tcpip.Counter
	TCPDiscardBytes   tcpip.Counter
	ChargenBytes      tcpip.Counter
	HTTPRequests      tcpip.Counter
	HTTPBytesSent     tcpip.Counter // by GET /bytes/N
	HTTPBytesReceived tcpip.Counter // by POST /sha256
}

// Server is a running `ustack serve`: a stack on a TAP device and its
// services.
type Server struct {
	cfg    Config
	logger *slog.Logger
	s      *stack.Stack
	mac    tcpip.LinkAddress
	pcap   *os.File      // nil without --pcap
	pcapW  *bufio.Writer // buffers pcap writes; the sniffer flushes it at Close
	stats  ServiceStats
	conns  []*gonet.UDPConn
	wg     sync.WaitGroup // the service goroutines

	// The TCP services.
	http       *http.Server // nil without TCP
	tcpMu      sync.Mutex
	listeners  []*gonet.TCPListener        // guarded by tcpMu
	tcpConns   map[*gonet.TCPConn]struct{} // open connections; guarded by tcpMu
	tcpClosing bool                        // Close has begun; guarded by tcpMu

	closeOnce sync.Once
}

// Start brings the stack up as cfg says and starts the services. When it
// returns, the stack answers on the device. logger receives the log; nil
// discards it.
func Start(cfg Config, logger *slog.Logger) (*Server, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	srv := &Server{cfg: cfg, logger: logger, mac: cfg.MAC}
	if srv.mac.IsZero() {
		srv.mac = randomMAC()
	}
	clock := tcpip.NewStdClock()

	link, err := openTAP(cfg.TAP, cfg.MTU, srv.mac, cfg.VnetHdr)
	if err != nil {
		return nil, fmt.Errorf("TAP device %s: %w", cfg.TAP, err)
	}
	// The sniffer sits next to the device, so that the capture shows the
	// frames as they crossed it: outbound frames the impairment dropped
	// are not in it, inbound ones it dropped are.
	if cfg.PCAP != "" {
		f, err := os.Create(cfg.PCAP)
		if err != nil {
			link.Close()
			return nil, err
		}
		srv.pcap = f
		srv.pcapW = bufio.NewWriter(f)
		link = sniffer.New(link, srv.pcapW, sniffer.Options{Clock: clock})
	}
	if cfg.Loss > 0 {
		dir := impair.Direction{Loss: cfg.Loss}
		link = impair.New(link, impair.Config{Seed: cfg.Seed, Tx: dir, Rx: dir}, clock)
	}
	link = ethernet.New(link)

	transports := []stack.TransportProtocolFactory{udp.NewProtocol, icmp.NewProtocol4, icmp.NewProtocol6}
	if tcpSupport != nil {
		transports = append(transports, tcpSupport.factory)
	}
	s := stack.New(stack.Options{
		NetworkProtocols:   []stack.NetworkProtocolFactory{ipv4.NewProtocol, arp.NewProtocol, ipv6.NewProtocol},
		TransportProtocols: transports,
		Clock:              clock,
		NDPConfigs:         cfg.ndpConfigurations(),
		NDPDisp:            ndpLogger{logger},
		OpaqueIIDOpts:      cfg.opaqueIIDOptions(),
	})
	srv.s = s
	if err := srv.setUp(link); err != nil {
		srv.Close()
		return nil, err
	}
	logger.Info("ustack serving",
		"tap", cfg.TAP, "mac", srv.mac.String(), "mtu", link.MTU(),
		"addrs", formatPrefixes(cfg.Addrs), "routes", formatRoutes(cfg.Routes),
		"pcap", cfg.PCAP, "loss", cfg.Loss, "echo_broadcast", cfg.EchoBroadcast)
	return srv, nil
}

// setUp configures the stack and starts the services. On error the caller
// closes the Server.
func (srv *Server) setUp(link stack.LinkEndpoint) error {
	s, cfg := srv.s, srv.cfg
	if cfg.SLAAC || len(cfg.RouterAdvert) > 0 {
		// MLD reports let snooping switches and routers know our
		// groups (solicited-node ones included).
		if err := s.SetNetworkProtocolOption(tcpip.IPv6ProtocolNumber, ipv6.MLDOption{Enabled: true}); err != nil {
			return fmt.Errorf("enabling MLD: %w", err)
		}
	}
	if len(cfg.RouterAdvert) > 0 {
		// A router forwards (RFC 4861 §6.2: advertising is for routers);
		// set before the NIC comes up, which starts the advertising.
		if err := s.SetForwarding(tcpip.IPv6ProtocolNumber, true); err != nil {
			return fmt.Errorf("enabling IPv6 forwarding: %w", err)
		}
	}
	if err := s.CreateNICWithOptions(nicID, link, stack.NICOptions{Name: cfg.TAP}); err != nil {
		link.Close()
		return fmt.Errorf("creating the NIC: %w", err)
	}
	if cfg.EchoBroadcast {
		if err := s.SetNetworkProtocolOption(tcpip.IPv4ProtocolNumber, ipv4.EchoBroadcastReplyOption(true)); err != nil {
			return fmt.Errorf("enabling broadcast echo replies: %w", err)
		}
	}
	for _, a := range cfg.Addrs {
		pa := tcpip.ProtocolAddress{Protocol: tcpip.NetworkProtocolFor(a.Addr()), Address: a}
		if err := s.AddProtocolAddress(nicID, pa, stack.AddressProperties{}); err != nil {
			return fmt.Errorf("adding address %s: %w", a, err)
		}
		// The stack adds no route for an address by itself: the
		// on-link route to its subnet, as Linux's "proto kernel" one.
		r := tcpip.Route{Destination: a.Masked(), NIC: nicID}
		if err := s.AddRoute(r); err != nil && !errors.Is(err, tcpip.ErrDuplicateAddress) {
			return fmt.Errorf("adding route %s: %w", r, err)
		}
	}
	for _, r := range cfg.Routes {
		tr := tcpip.Route{Destination: r.Destination, Gateway: r.Gateway, NIC: nicID}
		if err := s.AddRoute(tr); err != nil && !errors.Is(err, tcpip.ErrDuplicateAddress) {
			return fmt.Errorf("adding route %s: %w", r, err)
		}
	}
	// UDP services: on every IPv4 address, and on each IPv6 address of
	// the command line (one endpoint per address until dual-stack
	// sockets serve both families from one).
	locals := []netip.Addr{netip.IPv4Unspecified()}
	for _, a := range cfg.Addrs {
		if a.Addr().Is6() {
			locals = append(locals, a.Addr())
		}
	}
	if cfg.SLAAC {
		// Addresses come and go with advertisements: one dual-stack
		// endpoint on the IPv6 wildcard serves them all, IPv4 too.
		locals = []netip.Addr{netip.IPv6Unspecified()}
	}
	for _, local := range locals {
		echo, err := srv.listen(local, EchoPort)
		if err != nil {
			return err
		}
		discard, err := srv.listen(local, DiscardPort)
		if err != nil {
			return err
		}
		srv.wg.Go(func() { srv.serveEcho(echo) })
		srv.wg.Go(func() { srv.serveDiscard(discard) })
	}
	return srv.startTCP()
}

func (srv *Server) listen(local netip.Addr, port uint16) (*gonet.UDPConn, error) {
	c, err := gonet.ListenUDP(srv.s, netip.AddrPortFrom(local, port), tcpip.NetworkProtocolFor(local))
	if err != nil {
		return nil, err
	}
	srv.conns = append(srv.conns, c)
	return c, nil
}

// serveEcho sends every datagram back to its sender (RFC 862: "When a
// datagram is received, the data from it is sent back in an answering
// datagram"), until c is closed.
func (srv *Server) serveEcho(c *gonet.UDPConn) {
	buf := make([]byte, 65536)
	for {
		n, from, err := c.ReadFromUDPAddrPort(buf)
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				srv.logger.Error("echo: read", "err", err)
			}
			return
		}
		if _, err := c.WriteToUDPAddrPort(buf[:n], from); err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			srv.stats.EchoErrors.Inc()
			srv.logger.Warn("echo: reply", "to", from.String(), "err", err)
			continue
		}
		srv.stats.EchoDatagrams.Inc()
		srv.stats.EchoBytes.Add(uint64(n))
		if srv.cfg.Verbose {
			srv.logger.Info("echo", "from", from.String(), "bytes", n)
		}
	}
}

// serveDiscard throws every datagram away (RFC 863: "When a datagram is
// received, it is thrown away. No response is sent."), until c is closed.
func (srv *Server) serveDiscard(c *gonet.UDPConn) {
	buf := make([]byte, 65536)
	for {
		n, from, err := c.ReadFromUDPAddrPort(buf)
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				srv.logger.Error("discard: read", "err", err)
			}
			return
		}
		srv.stats.DiscardDatagrams.Inc()
		srv.stats.DiscardBytes.Add(uint64(n))
		if srv.cfg.Verbose {
			srv.logger.Info("discard", "from", from.String(), "bytes", n)
		}
	}
}

// Stack returns the Server's stack.
func (srv *Server) Stack() *stack.Stack { return srv.s }

// MAC returns ustack's link address on the device.
func (srv *Server) MAC() tcpip.LinkAddress { return srv.mac }

// Stats returns the services' counters.
func (srv *Server) Stats() *ServiceStats { return &srv.stats }

// Close stops the services and closes the stack, its NIC and the device
// (which disappears if Start created it), and the pcap file. It returns
// the first error of finishing the pcap file. Later calls do nothing.
func (srv *Server) Close() error {
	var err error
	srv.closeOnce.Do(func() {
		for _, c := range srv.conns {
			c.Close()
		}
		srv.closeTCP()
		srv.wg.Wait()
		if srv.s != nil {
			// Closing the stack removes the NIC, which closes the
			// link chain down to the device; the sniffer flushes
			// the pcap writer as it closes.
			srv.s.Close()
			srv.s.Wait()
		}
		if srv.pcap != nil {
			err = srv.pcapW.Flush()
			if cerr := srv.pcap.Close(); err == nil {
				err = cerr
			}
		}
	})
	return err
}

// Snapshot returns the stack's non-zero counters followed by the
// services' ones (named "Serve.…").
func (srv *Server) Snapshot() tcpip.Snapshot {
	snap := srv.s.Stats().Snapshot().NonZero()
	return append(snap, tcpip.SnapshotOf("Serve", &srv.stats).NonZero()...)
}

// Run starts the server as cfg says, writes "ready" on a line of its own to
// stdout once the stack answers, and serves until ctx is done; then it
// closes everything and writes the counters to stdout, one "name value" a
// line. logger receives the log (nil: none).
func Run(ctx context.Context, cfg Config, stdout io.Writer, logger *slog.Logger) error {
	srv, err := Start(cfg, logger)
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintln(stdout, "ready"); err != nil {
		srv.Close()
		return err
	}
	<-ctx.Done()
	if logger != nil {
		logger.Info("stopping", "cause", context.Cause(ctx))
	}
	err = srv.Close()
	if _, werr := io.WriteString(stdout, srv.Snapshot().String()); err == nil {
		err = werr
	}
	return err
}

// Main runs `ustack serve` with args (those after "serve") until ctx is
// done, logging in text to stderr, and returns the exit status: 0 after a
// clean stop, 2 for a bad command line, 1 for any other failure.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cfg, err := ParseArgs(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "ustack serve: %v\nusage: %s\n", err, Usage)
		return 2
	}
	logger := slog.New(slog.NewTextHandler(stderr, nil))
	if err := Run(ctx, cfg, stdout, logger); err != nil {
		logger.Error("ustack serve failed", "err", err)
		return 1
	}
	return 0
}

// randomMAC returns a random unicast, locally administered link address
// (IEEE 802-2014 §8.2.2: the I/G bit clear, the U/L bit set).
func randomMAC() tcpip.LinkAddress {
	var a tcpip.LinkAddress
	rand.Read(a[:])
	a[0] = a[0]&^0x01 | 0x02
	return a
}
