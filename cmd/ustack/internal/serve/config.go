package serve

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/ustack-go/ustack/tcpip"
)

// Usage is the command line of `ustack serve`.
const Usage = "ustack serve --tap NAME --addr CIDR [--addr CIDR…] [--slaac [--tempaddr]] [--router-advert PREFIX… [--ra-interval D]] [--stable-privacy KEY] [--route PREFIX,GATEWAY…] [--mac MAC] [--mtu N] [--vnet-hdr] [--pcap FILE] [--loss P --seed N] [--echo-broadcast] [--tcp-cc NAME] [--sack=BOOL] [--tcp-sndbuf N] [--tcp-rcvbuf N] [-v]"

// Route is a route of the command line: a destination prefix through a
// gateway, or on-link if Gateway is the zero Addr.
type Route struct {
	Destination netip.Prefix
	Gateway     netip.Addr
}

// String returns the route as the command line writes it.
func (r Route) String() string {
	if !r.Gateway.IsValid() {
		return r.Destination.String()
	}
	return r.Destination.String() + "," + r.Gateway.String()
}

// Config is what `ustack serve` is asked to do.
type Config struct {
	// TAP is the name of the TAP device: an existing one is attached
	// to, otherwise one is created (and disappears when ustack exits).
	TAP string
	// Addrs are ustack's addresses with their prefix lengths; each adds
	// a route to its subnet.
	Addrs []netip.Prefix
	// Routes are further routes (a default route is 0.0.0.0/0 through
	// a gateway).
	Routes []Route
	// MAC is ustack's link address; the zero value means a random,
	// locally administered one.
	MAC tcpip.LinkAddress
	// MTU, if positive, is set on the device; zero keeps the device's.
	MTU int
	// VnetHdr opens the device with a virtio-net header before each
	// frame and lets the kernel hand up partial checksums and TCP
	// super-segments of up to 64 KiB (tun.Config.VnetHdr, Offload).
	VnetHdr bool
	// PCAP, if not empty, is a file that receives every frame crossing
	// the device, in pcap format.
	PCAP string
	// Loss is the probability, in [0, 1], that a frame is lost, in each
	// direction; Seed seeds the choices.
	Loss float64
	Seed uint64
	// EchoBroadcast makes ustack answer echo requests sent to a
	// broadcast address (ping -b), which it ignores by default as Linux
	// does (net.ipv4.icmp_echo_ignore_broadcasts=1).
	EchoBroadcast bool
	// TCPCongestionControl, if not empty, names the congestion control
	// algorithm of TCP connections (as Linux's
	// net.ipv4.tcp_congestion_control).
	TCPCongestionControl string
	// SACK, if not nil, enables or disables selective acknowledgements
	// (RFC 2018) as net.ipv4.tcp_sack does; nil keeps TCP's default.
	SACK *bool
	// TCPSendBuffer and TCPReceiveBuffer, if positive, are the default
	// send and receive buffer sizes of TCP connections, in bytes.
	TCPSendBuffer    int
	TCPReceiveBuffer int
	// Verbose logs every datagram and connection the services handle.
	Verbose bool
	// SLAAC makes ustack an IPv6 host that configures itself from
	// router advertisements (RFC 4862): duplicate address detection,
	// router solicitation, addresses formed in advertised prefixes,
	// default routers; and MLD reports.
	SLAAC bool
	// RouterAdvert, if not empty, makes ustack an IPv6 router
	// (forwarding on) that advertises these prefixes for SLAAC (RFC
	// 4861 §6.2), every RAInterval at most.
	RouterAdvert []netip.Prefix
	RAInterval   time.Duration
	// TempAddr, with SLAAC, also forms temporary addresses (RFC 8981),
	// preferred as sources (Linux's use_tempaddr=2).
	TempAddr bool
	// StablePrivacyKey, if not empty, makes the link-local and SLAAC
	// addresses' interface identifiers RFC 7217 opaque ones, from the
	// TAP device's name and this secret (Linux's addr_gen_mode 2 with
	// stable_secret), instead of EUI-64 ones from the MAC.
	StablePrivacyKey string
}

// errUsage marks errors of the command line, which exit with status 2.
var errUsage = errors.New("usage")

// usageError is a command-line error.
type usageError struct{ msg string }

func (e *usageError) Error() string        { return e.msg }
func (e *usageError) Is(target error) bool { return target == errUsage }

func usagef(format string, args ...any) error {
	return &usageError{fmt.Sprintf(format, args...)}
}

// ParseArgs parses the arguments of `ustack serve` (those after "serve").
// Errors and the -h help text go to output. It returns flag.ErrHelp for
// -h, and an error matching errUsage for a bad command line.
func ParseArgs(args []string, output io.Writer) (Config, error) {
	var cfg Config
	fs := flag.NewFlagSet("ustack serve", flag.ContinueOnError)
	fs.SetOutput(output)
	fs.Usage = func() {
		fmt.Fprintf(output, "usage: %s\n\n", Usage)
		fmt.Fprintf(output, "Brings ustack up on a TAP device and serves echo (port 7, RFC 862) and\n")
		fmt.Fprintf(output, "discard (port 9, RFC 863) over UDP and TCP, chargen (port 19, RFC 864)\n")
		fmt.Fprintf(output, "and HTTP (port 80: GET /bytes/N, POST /sha256, GET /) over TCP; the stack\n")
		fmt.Fprintf(output, "answers ping, ARP and NDP. With IPv6 addresses (or --slaac, or\n")
		fmt.Fprintf(output, "--router-advert) every service runs on IPv6 too. Prints \"ready\" once it\n")
		fmt.Fprintf(output, "answers; on SIGINT or SIGTERM it stops and prints its counters.\n\n")
		fs.PrintDefaults()
	}
	fs.StringVar(&cfg.TAP, "tap", "", "name of the TAP device `NAME` to attach to, created if it does not exist")
	fs.Func("addr", "an IPv4 or IPv6 address with its prefix length (`CIDR`, e.g. 10.0.0.2/24 or 2001:db8::2/64); repeatable", func(s string) error {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return err
		}
		a := p.Addr()
		if a.Is4In6() || a.IsUnspecified() || a.IsMulticast() || a.IsLoopback() {
			return fmt.Errorf("%s: not a unicast address of an interface", s)
		}
		if a.Is4() && a == p.Masked().Addr() && p.Bits() < 31 {
			return fmt.Errorf("%s: the network address of a subnet cannot be a host address", s)
		}
		cfg.Addrs = append(cfg.Addrs, p)
		return nil
	})
	fs.Func("route", "a route `PREFIX,GATEWAY` (default,GATEWAY for 0.0.0.0/0 or ::/0; PREFIX alone: on-link); repeatable", func(s string) error {
		r, err := parseRoute(s)
		if err != nil {
			return err
		}
		cfg.Routes = append(cfg.Routes, r)
		return nil
	})
	fs.Func("mac", "ustack's link address `MAC` (default: random, locally administered)", func(s string) error {
		a, err := tcpip.ParseLinkAddress(s)
		if err != nil {
			return err
		}
		if !a.IsUnicast() {
			return fmt.Errorf("%s is not a unicast address", s)
		}
		cfg.MAC = a
		return nil
	})
	fs.IntVar(&cfg.MTU, "mtu", 0, "set the device's MTU to `N` bytes (default: keep the device's)")
	fs.BoolVar(&cfg.VnetHdr, "vnet-hdr", false, "open the device with the virtio-net header (IFF_VNET_HDR) and checksum and TCP segmentation offloads")
	fs.StringVar(&cfg.PCAP, "pcap", "", "write every frame to `FILE` in pcap format")
	fs.Float64Var(&cfg.Loss, "loss", 0, "lose each frame with probability `P` (0 to 1), in both directions")
	fs.Uint64Var(&cfg.Seed, "seed", 0, "seed `N` of the random losses")
	fs.BoolVar(&cfg.EchoBroadcast, "echo-broadcast", false, "answer echo requests sent to a broadcast address (ping -b)")
	fs.StringVar(&cfg.TCPCongestionControl, "tcp-cc", "", "TCP congestion control algorithm `NAME` (default: TCP's)")
	fs.BoolFunc("sack", "enable (--sack=true) or disable (--sack=false) TCP selective acknowledgements (default: TCP's)", func(s string) error {
		v, err := strconv.ParseBool(s)
		if err != nil {
			return err
		}
		cfg.SACK = &v
		return nil
	})
	fs.IntVar(&cfg.TCPSendBuffer, "tcp-sndbuf", 0, "default TCP send buffer size `N` in bytes (default: TCP's)")
	fs.IntVar(&cfg.TCPReceiveBuffer, "tcp-rcvbuf", 0, "default TCP receive buffer size `N` in bytes (default: TCP's)")
	fs.BoolVar(&cfg.Verbose, "v", false, "log every datagram and connection served")
	fs.BoolVar(&cfg.SLAAC, "slaac", false, "configure IPv6 from router advertisements (SLAAC, default routers; DAD and MLD on)")
	fs.Func("router-advert", "act as an IPv6 router advertising `PREFIX` (a /64) for SLAAC; repeatable", func(s string) error {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return err
		}
		if !p.Addr().Is6() || p.Addr().Is4In6() || p != p.Masked() {
			return fmt.Errorf("%s: want an IPv6 prefix without host bits", s)
		}
		cfg.RouterAdvert = append(cfg.RouterAdvert, p)
		return nil
	})
	fs.BoolVar(&cfg.TempAddr, "tempaddr", false, "with --slaac, also form temporary addresses (RFC 8981) and prefer them as sources")
	fs.StringVar(&cfg.StablePrivacyKey, "stable-privacy", "", "form RFC 7217 opaque interface identifiers from the device name and the secret `KEY` instead of EUI-64 ones")
	fs.DurationVar(&cfg.RAInterval, "ra-interval", 0, "with --router-advert, the longest time `D` between advertisements (4s to 1800s; default 600s)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return Config{}, err
		}
		return Config{}, &usageError{err.Error()}
	}
	if fs.NArg() > 0 {
		return Config{}, usagef("unexpected argument %q", fs.Arg(0))
	}
	if err := cfg.validate(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// validate checks what the flags cannot check alone.
func (cfg *Config) validate() error {
	if cfg.TAP == "" {
		return usagef("--tap is required")
	}
	if len(cfg.TAP) > 15 {
		return usagef("--tap %s: interface names have at most 15 bytes", cfg.TAP)
	}
	if len(cfg.Addrs) == 0 && !cfg.SLAAC {
		return usagef("at least one --addr (or --slaac) is required")
	}
	if cfg.TempAddr && !cfg.SLAAC {
		return usagef("--tempaddr needs --slaac")
	}
	if cfg.SLAAC && len(cfg.RouterAdvert) > 0 {
		return usagef("--slaac and --router-advert: a router does not configure itself from advertisements")
	}
	// RFC 4861 §6.2.1: MaxRtrAdvInterval is 4 to 1800 seconds.
	if cfg.RAInterval != 0 && (cfg.RAInterval < 4*time.Second || cfg.RAInterval > 1800*time.Second) {
		return usagef("--ra-interval %v: want 4s to 1800s", cfg.RAInterval)
	}
	// RFC 791 §3.2: every internet module must forward datagrams of 68
	// bytes without further fragmentation; no link may have less.
	if cfg.MTU != 0 && (cfg.MTU < 68 || cfg.MTU > 65535) {
		return usagef("--mtu %d: want 68 to 65535", cfg.MTU)
	}
	// RFC 8200 §5: IPv6 needs links of at least 1280 bytes.
	if cfg.MTU != 0 && cfg.MTU < 1280 && cfg.hasIPv6() {
		return usagef("--mtu %d: IPv6 needs at least 1280", cfg.MTU)
	}
	if cfg.TCPSendBuffer < 0 || cfg.TCPReceiveBuffer < 0 {
		return usagef("--tcp-sndbuf and --tcp-rcvbuf take a positive number of bytes")
	}
	if tcpSupport == nil && cfg.tcpFlagsSet() {
		return usagef("--tcp-cc, --sack, --tcp-sndbuf and --tcp-rcvbuf: this ustack is built without TCP")
	}
	if tcpSupport != nil && tcpSupport.options != nil {
		if _, err := tcpSupport.options(*cfg); err != nil {
			return usagef("%v", err)
		}
	}
	if cfg.Loss < 0 || cfg.Loss > 1 {
		return usagef("--loss %v: want a probability from 0 to 1", cfg.Loss)
	}
	for _, r := range cfg.Routes {
		if !r.Gateway.IsValid() {
			continue
		}
		// A gateway is a next hop: it must be on one of the subnets
		// ustack is on (Linux refuses such a route: "Nexthop has
		// invalid gateway").
		// RFC 4861 §8: an IPv6 router's link-local address is on the
		// link whatever the prefixes.
		onLink := r.Gateway.Is6() && r.Gateway.IsLinkLocalUnicast()
		for _, a := range cfg.Addrs {
			if a.Masked().Contains(r.Gateway) {
				onLink = true
			}
		}
		if !onLink {
			return usagef("--route %s: gateway %s is not on the subnet of any --addr", r, r.Gateway)
		}
	}
	return nil
}

// hasIPv6 reports whether an IPv6 address is configured.
func (cfg *Config) hasIPv6() bool {
	for _, a := range cfg.Addrs {
		if a.Addr().Is6() {
			return true
		}
	}
	return false
}

// parseRoute parses PREFIX,GATEWAY or PREFIX; PREFIX may be "default",
// 0.0.0.0/0 or ::/0 as the gateway's family says.
func parseRoute(s string) (Route, error) {
	dst, gw, hasGW := strings.Cut(s, ",")
	var r Route
	if dst == "default" {
		r.Destination = netip.PrefixFrom(netip.IPv4Unspecified(), 0)
		if a, err := netip.ParseAddr(gw); hasGW && err == nil && a.Is6() && !a.Is4In6() {
			r.Destination = netip.PrefixFrom(netip.IPv6Unspecified(), 0)
		}
	} else {
		p, err := netip.ParsePrefix(dst)
		if err != nil {
			return Route{}, err
		}
		if p != p.Masked() {
			return Route{}, fmt.Errorf("%s: the prefix has host bits set (did you mean %s?)", dst, p.Masked())
		}
		r.Destination = p
	}
	if r.Destination.Addr().Is4In6() {
		return Route{}, fmt.Errorf("%s: IPv4-mapped prefixes are not routes", s)
	}
	if hasGW {
		a, err := netip.ParseAddr(gw)
		if err != nil {
			return Route{}, err
		}
		if a.Is4() != r.Destination.Addr().Is4() || a.Is4In6() || a.IsUnspecified() || a.IsMulticast() || a.IsLoopback() {
			return Route{}, fmt.Errorf("%s: the gateway must be a unicast address of the prefix's family", s)
		}
		r.Gateway = a
	}
	return r, nil
}

// formatPrefixes joins prefixes for a log line.
func formatPrefixes(ps []netip.Prefix) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return strings.Join(s, " ")
}

// formatRoutes joins routes for a log line.
func formatRoutes(rs []Route) string {
	s := make([]string, len(rs))
	for i, r := range rs {
		s[i] = r.String()
	}
	return strings.Join(s, " ")
}
