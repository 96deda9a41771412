package stack

import (
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/ustack-go/ustack/buffer"
	"github.com/ustack-go/ustack/tcpip"
)

const (
	demuxV4  = tcpip.IPv4ProtocolNumber
	demuxV6  = tcpip.IPv6ProtocolNumber
	demuxUDP = tcpip.UDPProtocolNumber
	demuxTCP = tcpip.TCPProtocolNumber
)

// demuxTestStack returns a Stack with only what the demuxer and the port
// manager need.
func demuxTestStack(seed uint32) *Stack {
	s := &Stack{seed: seed}
	s.demux = newTransportDemuxer(s)
	s.ports = NewPortManager(seed, nil)
	return s
}

// demuxFakeEP is a TransportEndpoint that records what it receives and
// releases every packet.
type demuxFakeEP struct {
	name    string
	onAbort func(*demuxFakeEP)

	mu     sync.Mutex
	pkts   []demuxRecv      // guarded by mu
	errs   []TransportError // guarded by mu
	aborts int              // guarded by mu
}

// demuxRecv is a packet a demuxFakeEP received.
type demuxRecv struct {
	id      TransportEndpointID
	info    NetworkPacketInfo
	payload string
}

var demuxNextID atomic.Uint64

func demuxNewEP(name string) *demuxFakeEP { return &demuxFakeEP{name: name} }

func (e *demuxFakeEP) UniqueID() uint64 { return demuxNextID.Add(1) }

func (e *demuxFakeEP) HandlePacket(id TransportEndpointID, info NetworkPacketInfo, pkt *buffer.Packet) {
	r := demuxRecv{id: id, info: info, payload: string(pkt.Payload.Flatten())}
	pkt.Release()
	e.mu.Lock()
	e.pkts = append(e.pkts, r)
	e.mu.Unlock()
}

func (e *demuxFakeEP) HandleError(terr TransportError, orig *buffer.Packet) {
	orig.Release()
	e.mu.Lock()
	e.errs = append(e.errs, terr)
	e.mu.Unlock()
}

func (e *demuxFakeEP) Abort() {
	e.mu.Lock()
	e.aborts++
	e.mu.Unlock()
	if e.onAbort != nil {
		e.onAbort(e)
	}
}

func (e *demuxFakeEP) received() []demuxRecv {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.pkts)
}

func (e *demuxFakeEP) errors() []TransportError {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.errs)
}

func (e *demuxFakeEP) abortCount() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.aborts
}

// demuxFakeRaw is a RawTransportEndpoint recording payloads.
type demuxFakeRaw struct {
	mu     sync.Mutex
	pkts   []string // guarded by mu
	aborts int      // guarded by mu
}

func (r *demuxFakeRaw) HandlePacket(info NetworkPacketInfo, pkt *buffer.Packet) {
	p := string(pkt.Payload.Flatten())
	pkt.Release()
	r.mu.Lock()
	r.pkts = append(r.pkts, p)
	r.mu.Unlock()
}

func (r *demuxFakeRaw) Abort() {
	r.mu.Lock()
	r.aborts++
	r.mu.Unlock()
}

// demuxID builds an id from "addr:port" strings, "" for wildcards; a bare
// ":port" gives a port without an address.
func demuxID(local, remote string) TransportEndpointID {
	var id TransportEndpointID
	id.LocalAddress, id.LocalPort = demuxParse(local)
	id.RemoteAddress, id.RemotePort = demuxParse(remote)
	return id
}

func demuxParse(s string) (netip.Addr, uint16) {
	if s == "" {
		return netip.Addr{}, 0
	}
	if s[0] == ':' {
		var p uint16
		fmt.Sscanf(s[1:], "%d", &p)
		return netip.Addr{}, p
	}
	ap := netip.MustParseAddrPort(s)
	return ap.Addr(), ap.Port()
}

// demuxCounting turns buffer usage counting on for the test and checks at
// its end that every packet allocated meanwhile was released.
func demuxCounting(t *testing.T) {
	t.Helper()
	buffer.SetCounting(true)
	before := buffer.ReadStats().PacketsInUse
	t.Cleanup(func() {
		if n := buffer.ReadStats().PacketsInUse - before; n != 0 {
			t.Errorf("%d packets not released", n)
		}
		buffer.SetCounting(false)
	})
}

func demuxPacket(payload string) *buffer.Packet {
	return buffer.NewPacketFromBytes(64, []byte(payload))
}

// demuxReg is a registration of a test.
type demuxReg struct {
	name      string
	netProtos []tcpip.NetworkProtocolNumber // nil: IPv4
	id        TransportEndpointID
	flags     PortFlags
	device    tcpip.NICID
}

func TestDemuxPrecedence(t *testing.T) {
	v4 := []tcpip.NetworkProtocolNumber{demuxV4}
	v6 := []tcpip.NetworkProtocolNumber{demuxV6}
	dual := []tcpip.NetworkProtocolNumber{demuxV6, demuxV4}
	exact := demuxReg{name: "exact", id: demuxID("10.0.0.1:80", "10.0.0.2:1234")}
	remote := demuxReg{name: "remote", id: demuxID(":80", "10.0.0.2:1234")}
	local := demuxReg{name: "local", id: demuxID("10.0.0.1:80", "")}
	wild := demuxReg{name: "any", id: demuxID(":80", "")}
	all := []demuxReg{exact, remote, local, wild}
	onNIC := func(r demuxReg, nic tcpip.NICID) demuxReg {
		r.name += fmt.Sprintf("@%d", nic)
		r.device = nic
		return r
	}
	tests := []struct {
		name     string
		regs     []demuxReg
		netProto tcpip.NetworkProtocolNumber // 0: IPv4
		pkt      TransportEndpointID
		nic      tcpip.NICID // 0: 1
		want     string      // "" for no endpoint
	}{
		{"exact first", all, 0, demuxID("10.0.0.1:80", "10.0.0.2:1234"), 0, "exact"},
		{"remote before local", all[1:], 0, demuxID("10.0.0.1:80", "10.0.0.2:1234"), 0, "remote"},
		{"local before wildcard", all[2:], 0, demuxID("10.0.0.1:80", "10.0.0.2:1234"), 0, "local"},
		{"wildcard last", all[3:], 0, demuxID("10.0.0.1:80", "10.0.0.2:1234"), 0, "any"},
		{"other remote port", all, 0, demuxID("10.0.0.1:80", "10.0.0.2:1235"), 0, "local"},
		{"other remote address", all, 0, demuxID("10.0.0.1:80", "10.0.0.3:1234"), 0, "local"},
		{"other local address", all, 0, demuxID("10.0.0.9:80", "10.0.0.3:1234"), 0, "any"},
		{"other local address, connected", all, 0, demuxID("10.0.0.9:80", "10.0.0.2:1234"), 0, "remote"},
		{"other port", all, 0, demuxID("10.0.0.1:81", "10.0.0.2:1234"), 0, ""},
		{"only other address bound", []demuxReg{local}, 0, demuxID("10.0.0.9:80", "10.0.0.2:1234"), 0, ""},
		{"other protocol table", all, demuxV6, demuxID("[2001:db8::1]:80", "[2001:db8::2]:1234"), 0, ""},
		{"no registrations", nil, 0, demuxID("10.0.0.1:80", "10.0.0.2:1234"), 0, ""},

		// bindToDevice.
		{"device preferred", []demuxReg{wild, onNIC(wild, 2)}, 0, demuxID("10.0.0.1:80", "10.0.0.2:1"), 2, "any@2"},
		{"device preferred, registered first", []demuxReg{onNIC(wild, 2), wild}, 0, demuxID("10.0.0.1:80", "10.0.0.2:1"), 2, "any@2"},
		{"unbound on other NIC", []demuxReg{wild, onNIC(wild, 2)}, 0, demuxID("10.0.0.1:80", "10.0.0.2:1"), 1, "any"},
		{"bound to other NIC only", []demuxReg{onNIC(wild, 2)}, 0, demuxID("10.0.0.1:80", "10.0.0.2:1"), 1, ""},
		{"bound to each NIC", []demuxReg{onNIC(wild, 2), onNIC(wild, 3)}, 0, demuxID("10.0.0.1:80", "10.0.0.2:1"), 3, "any@3"},
		{"specificity before device", []demuxReg{onNIC(wild, 2), local}, 0, demuxID("10.0.0.1:80", "10.0.0.2:1"), 2, "local"},
		{"other NIC falls through", []demuxReg{onNIC(local, 3), onNIC(wild, 2)}, 0, demuxID("10.0.0.1:80", "10.0.0.2:1"), 2, "any@2"},
		{"exact on other NIC falls through", []demuxReg{onNIC(exact, 3), wild}, 0, demuxID("10.0.0.1:80", "10.0.0.2:1234"), 2, "any"},
		{"unknown NIC matches bound", []demuxReg{onNIC(wild, 2)}, 0, demuxID("10.0.0.1:80", "10.0.0.2:1"), -1, "any@2"},

		// Dual stack and address normalisation.
		{"dual-stack wildcard gets IPv4", []demuxReg{{name: "v6any", netProtos: dual, id: demuxID("[::]:80", "")}}, demuxV4, demuxID("10.0.0.1:80", "10.0.0.2:1"), 0, "v6any"},
		{"dual-stack wildcard gets IPv6", []demuxReg{{name: "v6any", netProtos: dual, id: demuxID("[::]:80", "")}}, demuxV6, demuxID("[2001:db8::1]:80", "[2001:db8::2]:1"), 0, "v6any"},
		{"v6-only wildcard gets no IPv4", []demuxReg{{name: "v6only", netProtos: v6, id: demuxID("[::]:80", "")}}, demuxV4, demuxID("10.0.0.1:80", "10.0.0.2:1"), 0, ""},
		{"v4-mapped binding gets IPv4", []demuxReg{{name: "mapped", netProtos: dual, id: demuxID("[::ffff:10.0.0.1]:80", "")}}, demuxV4, demuxID("10.0.0.1:80", "10.0.0.2:1"), 0, "mapped"},
		{"v4-mapped connection gets IPv4", []demuxReg{{name: "mapped", netProtos: dual, id: demuxID("[::ffff:10.0.0.1]:80", "[::ffff:10.0.0.2]:1")}}, demuxV4, demuxID("10.0.0.1:80", "10.0.0.2:1"), 0, "mapped"},
		{"v4-mapped binding gets no IPv6", []demuxReg{{name: "mapped", netProtos: dual, id: demuxID("[::ffff:10.0.0.1]:80", "")}}, demuxV6, demuxID("[2001:db8::1]:80", "[2001:db8::2]:1"), 0, ""},
		{"0.0.0.0 is the wildcard", []demuxReg{{name: "zeros", netProtos: v4, id: demuxID("0.0.0.0:80", "")}}, demuxV4, demuxID("10.0.0.1:80", "10.0.0.2:1"), 0, "zeros"},
		{"zone dropped", []demuxReg{{name: "ll", netProtos: v6, id: demuxID("[fe80::1%eth0]:80", "")}}, demuxV6, demuxID("[fe80::1]:80", "[fe80::2]:1"), 0, "ll"},
		{"IPv4 before dual-stack", []demuxReg{{name: "v6any", netProtos: dual, id: demuxID("[::]:80", "")}, {name: "v4", id: demuxID("10.0.0.1:80", "")}}, demuxV4, demuxID("10.0.0.1:80", "10.0.0.2:1"), 0, "v4"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			demuxCounting(t)
			s := demuxTestStack(1)
			eps := map[string]*demuxFakeEP{}
			for _, r := range tt.regs {
				ep := demuxNewEP(r.name)
				eps[r.name] = ep
				np := r.netProtos
				if np == nil {
					np = v4
				}
				if err := s.RegisterTransportEndpoint(np, demuxUDP, r.id, ep, r.flags, r.device); err != nil {
					t.Fatalf("register %s: %v", r.name, err)
				}
			}
			netProto, nic := tt.netProto, tt.nic
			if netProto == 0 {
				netProto = demuxV4
			}
			switch nic {
			case 0:
				nic = 1
			case -1:
				nic = 0
			}
			found := s.FindTransportEndpoint(netProto, demuxUDP, tt.pkt, nic)
			pkt := demuxPacket("hello")
			ok := s.demux.deliverPacket(netProto, demuxUDP, tt.pkt, NetworkPacketInfo{NIC: nic}, pkt)
			if ok != (tt.want != "") {
				t.Fatalf("deliverPacket = %v, want %v", ok, tt.want != "")
			}
			if !ok {
				pkt.Release() // not consumed
				if found != nil {
					t.Errorf("FindTransportEndpoint found %s", found.(*demuxFakeEP).name)
				}
				return
			}
			if found == nil || found.(*demuxFakeEP).name != tt.want {
				t.Errorf("FindTransportEndpoint = %v, want %s", found, tt.want)
			}
			for name, ep := range eps {
				got := ep.received()
				if name != tt.want {
					if len(got) != 0 {
						t.Errorf("%s received %d packets, want none", name, len(got))
					}
					continue
				}
				if len(got) != 1 || got[0].payload != "hello" || got[0].id != tt.pkt || got[0].info.NIC != nic {
					t.Errorf("%s received %+v", name, got)
				}
			}
		})
	}
}

func TestDemuxRegisterConflicts(t *testing.T) {
	v4 := []tcpip.NetworkProtocolNumber{demuxV4}
	dual := []tcpip.NetworkProtocolNumber{demuxV6, demuxV4}
	id := demuxID(":80", "")
	tests := []struct {
		name         string
		first        PortFlags
		firstDevice  tcpip.NICID
		second       PortFlags
		secondDevice tcpip.NICID
		want         error
	}{
		{"no flags", PortFlags{}, 0, PortFlags{}, 0, tcpip.ErrAddressInUse},
		{"SO_REUSEPORT group", portReusePort, 0, portReusePort, 0, nil},
		{"SO_REUSEADDR pair", portReuseAddr, 0, portReuseAddr, 0, nil},
		{"mixed flags", portReusePort, 0, portReuseAddr, 0, tcpip.ErrAddressInUse},
		{"one SO_REUSEPORT", portReusePort, 0, PortFlags{}, 0, tcpip.ErrAddressInUse},
		{"different devices", PortFlags{}, 1, PortFlags{}, 2, nil},
		{"device and none", PortFlags{}, 1, PortFlags{}, 0, nil},
		{"same device", PortFlags{}, 1, PortFlags{}, 1, tcpip.ErrAddressInUse},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := demuxTestStack(1)
			a, b := demuxNewEP("a"), demuxNewEP("b")
			if err := s.RegisterTransportEndpoint(v4, demuxUDP, id, a, tt.first, tt.firstDevice); err != nil {
				t.Fatal(err)
			}
			if err := s.RegisterTransportEndpoint(v4, demuxUDP, id, b, tt.second, tt.secondDevice); err != tt.want {
				t.Fatalf("second registration: %v, want %v", err, tt.want)
			}
		})
	}

	s := demuxTestStack(1)
	a := demuxNewEP("a")
	if err := s.RegisterTransportEndpoint(v4, demuxUDP, id, a, portReusePort, 0); err != nil {
		t.Fatal(err)
	}
	if err := s.RegisterTransportEndpoint(v4, demuxUDP, id, a, portReusePort, 0); err != tcpip.ErrAddressInUse {
		t.Fatalf("same endpoint twice: %v, want ErrAddressInUse", err)
	}
	// Another transport protocol has its own table.
	if err := s.RegisterTransportEndpoint(v4, demuxTCP, id, a, PortFlags{}, 0); err != nil {
		t.Fatal(err)
	}
	// Families that do not fit.
	for _, bad := range []struct {
		np []tcpip.NetworkProtocolNumber
		id TransportEndpointID
	}{
		{nil, id},
		{[]tcpip.NetworkProtocolNumber{demuxV6}, demuxID("10.0.0.1:80", "")},
		{[]tcpip.NetworkProtocolNumber{demuxV6}, demuxID("[::ffff:10.0.0.1]:80", "")},
		{dual, demuxID("10.0.0.1:80", "[2001:db8::1]:5")},
	} {
		if err := s.RegisterTransportEndpoint(bad.np, demuxUDP, bad.id, demuxNewEP("bad"), PortFlags{}, 0); err != tcpip.ErrInvalidArgument {
			t.Errorf("register %v on %v: %v, want ErrInvalidArgument", bad.id, bad.np, err)
		}
	}

	// A dual-stack registration failing on IPv4 leaves nothing behind
	// in IPv6.
	b := demuxNewEP("b")
	if err := s.RegisterTransportEndpoint(dual, demuxUDP, id, b, PortFlags{}, 0); err != tcpip.ErrAddressInUse {
		t.Fatalf("dual-stack over IPv4 registration: %v", err)
	}
	if ep := s.FindTransportEndpoint(demuxV6, demuxUDP, demuxID("[2001:db8::1]:80", "[2001:db8::2]:1"), 1); ep != nil {
		t.Fatal("failed registration left an IPv6 entry")
	}
	if got := s.RegisteredEndpoints(); len(got) != 1 || got[0] != TransportEndpoint(a) {
		t.Fatalf("RegisteredEndpoints = %v, want [a]", got)
	}

	// Unregistering frees the id; unregistering twice or with the
	// wrong device does nothing.
	s.UnregisterTransportEndpoint(v4, demuxUDP, id, a, portReusePort, 7)
	if s.FindTransportEndpoint(demuxV4, demuxUDP, demuxID("10.0.0.1:80", "10.0.0.2:1"), 1) != a {
		t.Fatal("unregistering with another device removed the endpoint")
	}
	s.UnregisterTransportEndpoint(v4, demuxUDP, id, a, portReusePort, 0)
	s.UnregisterTransportEndpoint(v4, demuxUDP, id, a, portReusePort, 0)
	if err := s.RegisterTransportEndpoint(dual, demuxUDP, id, b, PortFlags{}, 0); err != nil {
		t.Fatalf("after unregister: %v", err)
	}
	s.UnregisterTransportEndpoint(dual, demuxUDP, id, b, PortFlags{}, 0)
	s.UnregisterTransportEndpoint(v4, demuxTCP, id, a, PortFlags{}, 0)
	for k, tb := range s.demux.allTables() {
		if len(tb.ids) != 0 {
			t.Errorf("table %v keeps %d ids", k, len(tb.ids))
		}
	}
}

func TestDemuxReusePort(t *testing.T) {
	demuxCounting(t)
	s := demuxTestStack(42)
	v4 := []tcpip.NetworkProtocolNumber{demuxV4}
	id := demuxID(":53", "")
	var eps []*demuxFakeEP
	for i := range 4 {
		ep := demuxNewEP(fmt.Sprint(i))
		eps = append(eps, ep)
		if err := s.RegisterTransportEndpoint(v4, demuxUDP, id, ep, portReusePort, 0); err != nil {
			t.Fatal(err)
		}
	}
	flow := func(i int) TransportEndpointID {
		return demuxID("10.0.0.1:53", fmt.Sprintf("10.1.%d.%d:%d", i/250, i%250, 1024+i))
	}
	const flows = 1000
	owner := make([]*demuxFakeEP, flows)
	for round := range 3 {
		for i := range flows {
			if !s.demux.deliverPacket(demuxV4, demuxUDP, flow(i), NetworkPacketInfo{NIC: 1}, demuxPacket(fmt.Sprint(i))) {
				t.Fatalf("flow %d not delivered", i)
			}
		}
		// Each flow went to one endpoint, the same every round.
		for _, ep := range eps {
			for _, r := range ep.received() {
				var i int
				fmt.Sscan(r.payload, &i)
				if owner[i] != nil && owner[i] != ep {
					t.Fatalf("round %d: flow %d reached %s and %s", round, i, owner[i].name, ep.name)
				}
				owner[i] = ep
			}
		}
	}
	for _, ep := range eps {
		n := len(ep.received()) / 3
		// Expect 250 each; a fair hash stays well within this.
		if n < 150 || n > 350 {
			t.Errorf("endpoint %s got %d of %d flows", ep.name, n, flows)
		}
	}
	// FindTransportEndpoint agrees with delivery.
	for i := range flows {
		if got := s.FindTransportEndpoint(demuxV4, demuxUDP, flow(i), 1); got != owner[i] {
			t.Fatalf("flow %d: Find = %v, delivered to %s", i, got, owner[i].name)
		}
	}
	// Another seed spreads the flows differently.
	s2 := demuxTestStack(43)
	for _, ep := range eps {
		if err := s2.RegisterTransportEndpoint(v4, demuxUDP, id, ep, portReusePort, 0); err != nil {
			t.Fatal(err)
		}
	}
	moved := 0
	for i := range flows {
		if s2.FindTransportEndpoint(demuxV4, demuxUDP, flow(i), 1) != owner[i] {
			moved++
		}
	}
	if moved < flows/2 {
		t.Errorf("only %d of %d flows moved with another seed", moved, flows)
	}
	// Removing a member sends its flows to the others only.
	s.UnregisterTransportEndpoint(v4, demuxUDP, id, eps[2], portReusePort, 0)
	for i := range flows {
		if got := s.FindTransportEndpoint(demuxV4, demuxUDP, flow(i), 1); got == nil || got == eps[2] {
			t.Fatalf("flow %d after unregistering: %v", i, got)
		}
	}
}

func TestDemuxReuseAddressMostRecent(t *testing.T) {
	s := demuxTestStack(1)
	v4 := []tcpip.NetworkProtocolNumber{demuxV4}
	id := demuxID(":5353", "")
	a, b, c := demuxNewEP("a"), demuxNewEP("b"), demuxNewEP("c")
	for _, ep := range []*demuxFakeEP{a, b, c} {
		if err := s.RegisterTransportEndpoint(v4, demuxUDP, id, ep, portReuseAddr, 0); err != nil {
			t.Fatal(err)
		}
	}
	pkt := demuxID("10.0.0.1:5353", "10.0.0.2:5353")
	for i := range 20 {
		pkt.RemotePort = uint16(1000 + i)
		if got := s.FindTransportEndpoint(demuxV4, demuxUDP, pkt, 1); got != c {
			t.Fatalf("unicast went to %v, want the most recent c", got)
		}
	}
	s.UnregisterTransportEndpoint(v4, demuxUDP, id, c, portReuseAddr, 0)
	if got := s.FindTransportEndpoint(demuxV4, demuxUDP, pkt, 1); got != b {
		t.Fatalf("after c left: %v, want b", got)
	}
}

func TestDemuxFanout(t *testing.T) {
	v4 := []tcpip.NetworkProtocolNumber{demuxV4}
	dual := []tcpip.NetworkProtocolNumber{demuxV6, demuxV4}
	regs := []demuxReg{
		{name: "rp1", id: demuxID(":5000", ""), flags: portReusePort},
		{name: "rp2", id: demuxID(":5000", ""), flags: portReusePort},
		{name: "group", id: demuxID("224.1.1.1:5000", "")},
		{name: "nic1", id: demuxID(":5000", ""), device: 1},
		{name: "nic2", id: demuxID(":5000", ""), device: 2},
		{name: "unicast", id: demuxID("10.0.0.1:5000", "")},
		{name: "bcast", id: demuxID("10.0.0.255:5000", "")},
		{name: "connected", id: demuxID(":5000", "10.0.0.2:7000")},
		{name: "connected-other", id: demuxID(":5000", "10.0.0.3:7000")},
		{name: "dual", netProtos: dual, id: demuxID("[::]:5000", ""), flags: portReusePort},
		{name: "otherport", id: demuxID(":5001", "")},
	}
	tests := []struct {
		name string
		pkt  TransportEndpointID
		info NetworkPacketInfo
		want []string
	}{
		{"multicast", demuxID("224.1.1.1:5000", "10.0.0.2:7000"), NetworkPacketInfo{NIC: 1, Multicast: true},
			[]string{"rp1", "rp2", "group", "nic1", "connected", "dual"}},
		{"multicast on NIC 2", demuxID("224.1.1.1:5000", "10.0.0.9:7000"), NetworkPacketInfo{NIC: 2, Multicast: true},
			[]string{"rp1", "rp2", "group", "nic2", "dual"}},
		{"broadcast", demuxID("10.0.0.255:5000", "10.0.0.3:7000"), NetworkPacketInfo{NIC: 1, LocalAddressBroadcast: true},
			[]string{"rp1", "rp2", "bcast", "nic1", "connected-other", "dual"}},
		{"limited broadcast", demuxID("255.255.255.255:5000", "10.0.0.4:7000"), NetworkPacketInfo{NIC: 3, LocalAddressBroadcast: true},
			[]string{"rp1", "rp2", "dual"}},
		{"no listener", demuxID("224.1.1.1:6000", "10.0.0.4:7000"), NetworkPacketInfo{NIC: 1, Multicast: true}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			demuxCounting(t)
			s := demuxTestStack(1)
			eps := map[string]*demuxFakeEP{}
			for _, r := range regs {
				ep := demuxNewEP(r.name)
				eps[r.name] = ep
				np := r.netProtos
				if np == nil {
					np = v4
				}
				if err := s.RegisterTransportEndpoint(np, demuxUDP, r.id, ep, r.flags, r.device); err != nil {
					t.Fatalf("register %s: %v", r.name, err)
				}
			}
			pkt := demuxPacket("multi")
			ok := s.demux.deliverPacket(demuxV4, demuxUDP, tt.pkt, tt.info, pkt)
			if ok != (len(tt.want) > 0) {
				t.Fatalf("deliverPacket = %v", ok)
			}
			if !ok {
				pkt.Release()
			}
			var got []string
			for name, ep := range eps {
				rs := ep.received()
				if len(rs) > 1 {
					t.Errorf("%s received %d copies", name, len(rs))
				}
				if len(rs) == 1 {
					if rs[0].payload != "multi" || rs[0].id != tt.pkt || rs[0].info != tt.info {
						t.Errorf("%s received %+v", name, rs[0])
					}
					got = append(got, name)
				}
			}
			slices.Sort(got)
			want := slices.Sorted(slices.Values(tt.want))
			if !slices.Equal(got, want) {
				t.Errorf("receivers %v, want %v", got, want)
			}
		})
	}
}

func TestDemuxFanoutMany(t *testing.T) {
	// More receivers than the fan-out's stack array holds.
	demuxCounting(t)
	s := demuxTestStack(1)
	v4 := []tcpip.NetworkProtocolNumber{demuxV4}
	var eps []*demuxFakeEP
	for i := range demuxFanoutSize + 9 {
		ep := demuxNewEP(fmt.Sprint(i))
		eps = append(eps, ep)
		if err := s.RegisterTransportEndpoint(v4, demuxUDP, demuxID(":9", ""), ep, portReusePort, 0); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 3 {
		if !s.demux.deliverPacket(demuxV4, demuxUDP, demuxID("224.0.0.9:9", "10.0.0.2:9"), NetworkPacketInfo{NIC: 1, Multicast: true}, demuxPacket(fmt.Sprint(i))) {
			t.Fatal("not delivered")
		}
	}
	for _, ep := range eps {
		if rs := ep.received(); len(rs) != 3 || rs[0].payload != "0" || rs[2].payload != "2" {
			t.Fatalf("%s received %+v", ep.name, rs)
		}
	}
}

func TestDemuxFanoutClonesAreIndependent(t *testing.T) {
	// Each receiver owns its packet: one consuming or modifying it does
	// not change what another sees.
	demuxCounting(t)
	s := demuxTestStack(1)
	v4 := []tcpip.NetworkProtocolNumber{demuxV4}
	var seen []string
	var mu sync.Mutex
	for range 3 {
		ep := &demuxMutatingEP{record: func(p string) {
			mu.Lock()
			seen = append(seen, p)
			mu.Unlock()
		}}
		if err := s.RegisterTransportEndpoint(v4, demuxUDP, demuxID(":9", ""), ep, portReuseAddr, 0); err != nil {
			t.Fatal(err)
		}
	}
	pkt := demuxPacket("abcdef")
	pkt.PrependHeader(buffer.TransportLayer, 8)
	s.demux.deliverPacket(demuxV4, demuxUDP, demuxID("10.0.0.255:9", "10.0.0.2:9"), NetworkPacketInfo{NIC: 1, LocalAddressBroadcast: true}, pkt)
	if want := []string{"abcdef", "abcdef", "abcdef"}; !slices.Equal(seen, want) {
		t.Fatalf("receivers saw %q, want %q", seen, want)
	}
}

// demuxMutatingEP consumes and overwrites what it receives.
type demuxMutatingEP struct {
	record func(string)
}

func (e *demuxMutatingEP) UniqueID() uint64 { return 0 }
func (e *demuxMutatingEP) HandlePacket(id TransportEndpointID, info NetworkPacketInfo, pkt *buffer.Packet) {
	if len(pkt.TransportHeader()) != 8 {
		panic("header lost")
	}
	e.record(string(pkt.Payload.Flatten()))
	if b, ok := pkt.Payload.PullUpWritable(3); ok {
		copy(b, "xyz")
	}
	pkt.Consume(2)
	pkt.Release()
}
func (e *demuxMutatingEP) HandleError(TransportError, *buffer.Packet) {}
func (e *demuxMutatingEP) Abort()                                     {}

func TestDemuxDeliverError(t *testing.T) {
	demuxCounting(t)
	s := demuxTestStack(1)
	v4 := []tcpip.NetworkProtocolNumber{demuxV4}
	conn := demuxNewEP("conn")
	bound := demuxNewEP("bound")
	nic2 := demuxNewEP("nic2")
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(s.RegisterTransportEndpoint(v4, demuxTCP, demuxID("10.0.0.1:40000", "192.0.2.1:443"), conn, PortFlags{}, 0))
	must(s.RegisterTransportEndpoint(v4, demuxUDP, demuxID(":5353", ""), bound, PortFlags{}, 0))
	must(s.RegisterTransportEndpoint(v4, demuxUDP, demuxID(":6000", ""), nic2, PortFlags{}, 2))

	tests := []struct {
		name  string
		proto tcpip.TransportProtocolNumber
		id    TransportEndpointID
		nic   tcpip.NICID
		want  *demuxFakeEP
	}{
		{"connected", demuxTCP, demuxID("10.0.0.1:40000", "192.0.2.1:443"), 1, conn},
		{"other connection", demuxTCP, demuxID("10.0.0.1:40001", "192.0.2.1:443"), 1, nil},
		{"unconnected socket", demuxUDP, demuxID("10.0.0.1:5353", "192.0.2.1:53"), 1, bound},
		{"device, NIC unknown", demuxUDP, demuxID("10.0.0.1:6000", "192.0.2.1:53"), 0, nic2},
		{"device, right NIC", demuxUDP, demuxID("10.0.0.1:6000", "192.0.2.1:53"), 2, nic2},
		{"device, wrong NIC", demuxUDP, demuxID("10.0.0.1:6000", "192.0.2.1:53"), 1, nil},
		{"no table", tcpip.ICMPv4ProtocolNumber, demuxID("10.0.0.1:1", ""), 1, nil},
	}
	for i, tt := range tests {
		terr := TransportError{Kind: ErrorPortUnreachable, Info: uint32(i), Err: tcpip.ErrConnectionRefused}
		orig := demuxPacket("quoted")
		orig.NIC = tt.nic
		ok := s.demux.deliverError(demuxV4, tt.proto, tt.id, terr, orig)
		if ok != (tt.want != nil) {
			t.Errorf("%s: deliverError = %v", tt.name, ok)
		}
		if !ok {
			orig.Release()
			continue
		}
		errs := tt.want.errors()
		if len(errs) == 0 || errs[len(errs)-1].Info != uint32(i) {
			t.Errorf("%s: %s got %+v", tt.name, tt.want.name, errs)
		}
	}
	if n := len(conn.errors()) + len(bound.errors()) + len(nic2.errors()); n != 4 {
		t.Errorf("%d errors delivered, want 4", n)
	}
}

func TestDemuxRaw(t *testing.T) {
	demuxCounting(t)
	s := demuxTestStack(1)
	a, b, other := &demuxFakeRaw{}, &demuxFakeRaw{}, &demuxFakeRaw{}
	for _, r := range []struct {
		np tcpip.NetworkProtocolNumber
		tp tcpip.TransportProtocolNumber
		ep *demuxFakeRaw
	}{{demuxV4, demuxUDP, a}, {demuxV4, demuxUDP, b}, {demuxV6, demuxUDP, other}, {demuxV4, demuxTCP, other}} {
		if err := s.RegisterRawTransportEndpoint(r.np, r.tp, r.ep); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.RegisterRawTransportEndpoint(demuxV4, demuxUDP, a); err != tcpip.ErrAlreadyBound {
		t.Fatalf("twice: %v, want ErrAlreadyBound", err)
	}
	pkt := demuxPacket("raw")
	if !s.demux.deliverRawPacket(demuxV4, demuxUDP, NetworkPacketInfo{NIC: 1}, pkt) {
		t.Fatal("no raw endpoint")
	}
	// pkt is still ours: it goes on to the transport endpoints.
	if got := string(pkt.Payload.Flatten()); got != "raw" {
		t.Fatalf("pkt changed to %q", got)
	}
	if s.demux.deliverRawPacket(demuxV6, demuxTCP, NetworkPacketInfo{NIC: 1}, pkt) {
		t.Fatal("delivered to no endpoint")
	}
	s.UnregisterRawTransportEndpoint(demuxV4, demuxUDP, a)
	s.UnregisterRawTransportEndpoint(demuxV4, demuxUDP, a)
	s.demux.deliverRawPacket(demuxV4, demuxUDP, NetworkPacketInfo{NIC: 1}, pkt)
	pkt.Release()
	if len(a.pkts) != 1 || len(b.pkts) != 2 || len(other.pkts) != 0 {
		t.Fatalf("received a %v, b %v, other %v", a.pkts, b.pkts, other.pkts)
	}
	s.UnregisterRawTransportEndpoint(demuxV4, demuxUDP, b)
	pkt = demuxPacket("x")
	if s.demux.deliverRawPacket(demuxV4, demuxUDP, NetworkPacketInfo{NIC: 1}, pkt) {
		t.Fatal("delivered after every endpoint left")
	}
	pkt.Release()
}

func TestDemuxConcurrentUnregister(t *testing.T) {
	demuxCounting(t)
	s := demuxTestStack(1)
	v4 := []tcpip.NetworkProtocolNumber{demuxV4}
	dual := []tcpip.NetworkProtocolNumber{demuxV6, demuxV4}
	stable := demuxNewEP("stable")
	if err := s.RegisterTransportEndpoint(v4, demuxUDP, demuxID(":1", ""), stable, PortFlags{}, 0); err != nil {
		t.Fatal(err)
	}
	var stop atomic.Bool
	var delivered, missed atomic.Int64
	var readers, writers sync.WaitGroup
	for w := range 4 {
		readers.Add(1)
		go func() {
			defer readers.Done()
			for i := 0; !stop.Load(); i++ {
				info := NetworkPacketInfo{NIC: 1, Multicast: i%3 == 0}
				id := demuxID("10.0.0.1:2", fmt.Sprintf("10.0.%d.%d:%d", w, i%200, 1000+i%7))
				pkt := demuxPacket("x")
				if s.demux.deliverPacket(demuxV4, demuxUDP, id, info, pkt) {
					delivered.Add(1)
				} else {
					missed.Add(1)
					pkt.Release()
				}
				// The stable endpoint is always found.
				if !s.demux.deliverPacket(demuxV4, demuxUDP, demuxID("10.0.0.1:1", "10.0.0.2:1"), NetworkPacketInfo{NIC: 1}, demuxPacket("s")) {
					t.Error("stable endpoint missed")
					return
				}
				s.RegisteredEndpoints()
			}
		}()
	}
	for w := range 4 {
		writers.Add(1)
		go func() {
			defer writers.Done()
			for i := range 300 {
				ep := demuxNewEP(fmt.Sprint(w, i))
				flags := PortFlags{LoadBalanced: true}
				id := demuxID(":2", "")
				np := v4
				if i%2 == 1 {
					np = dual
				}
				if err := s.RegisterTransportEndpoint(np, demuxUDP, id, ep, flags, tcpip.NICID(i%3)); err != nil {
					t.Error(err)
					return
				}
				if i%5 == 0 {
					s.StartTransportEndpointCleanup(np, demuxUDP, id, ep, flags, tcpip.NICID(i%3))
					s.CompleteTransportEndpointCleanup(ep)
				} else {
					s.UnregisterTransportEndpoint(np, demuxUDP, id, ep, flags, tcpip.NICID(i%3))
				}
			}
		}()
	}
	writers.Wait()
	stop.Store(true)
	readers.Wait()
	if got := s.RegisteredEndpoints(); len(got) != 1 || got[0] != TransportEndpoint(stable) {
		t.Fatalf("left registered: %v", got)
	}
	if n := len(s.CleanupEndpoints()); n != 0 {
		t.Fatalf("%d endpoints still cleaning up", n)
	}
	t.Logf("%d delivered, %d without endpoint", delivered.Load(), missed.Load())
}

func TestDemuxCleanup(t *testing.T) {
	s := demuxTestStack(1)
	dual := []tcpip.NetworkProtocolNumber{demuxV6, demuxV4}
	id := demuxID("[::]:80", "")
	a, b := demuxNewEP("a"), demuxNewEP("b")
	for _, ep := range []*demuxFakeEP{a, b} {
		if err := s.RegisterTransportEndpoint(dual, demuxTCP, id, ep, portReusePort, 0); err != nil {
			t.Fatal(err)
		}
	}
	s.StartTransportEndpointCleanup(dual, demuxTCP, id, a, portReusePort, 0)
	if got := s.CleanupEndpoints(); len(got) != 1 || got[0] != TransportEndpoint(a) {
		t.Fatalf("CleanupEndpoints = %v, want [a]", got)
	}
	if got := s.RegisteredEndpoints(); len(got) != 1 || got[0] != TransportEndpoint(b) {
		t.Fatalf("RegisteredEndpoints = %v, want [b]", got)
	}
	for _, np := range []tcpip.NetworkProtocolNumber{demuxV4, demuxV6} {
		pkt := demuxID("10.0.0.1:80", "10.0.0.2:1")
		if np == demuxV6 {
			pkt = demuxID("[2001:db8::1]:80", "[2001:db8::2]:1")
		}
		if got := s.FindTransportEndpoint(np, demuxTCP, pkt, 1); got != b {
			t.Fatalf("%v: found %v, want b", np, got)
		}
	}
	s.CompleteTransportEndpointCleanup(a)
	s.CompleteTransportEndpointCleanup(a)
	if got := s.CleanupEndpoints(); len(got) != 0 {
		t.Fatalf("CleanupEndpoints = %v after completion", got)
	}
}

func TestDemuxAbortAll(t *testing.T) {
	s := demuxTestStack(1)
	v4 := []tcpip.NetworkProtocolNumber{demuxV4}
	dual := []tcpip.NetworkProtocolNumber{demuxV6, demuxV4}
	// Endpoints unregister themselves as they abort, as on Close.
	selfUnregister := func(np []tcpip.NetworkProtocolNumber, id TransportEndpointID, flags PortFlags) func(*demuxFakeEP) {
		return func(e *demuxFakeEP) {
			s.UnregisterTransportEndpoint(np, demuxUDP, id, e, flags, 0)
		}
	}
	listener := demuxNewEP("listener")
	listener.onAbort = selfUnregister(dual, demuxID(":80", ""), portReusePort)
	second := demuxNewEP("second")
	second.onAbort = selfUnregister(dual, demuxID(":80", ""), portReusePort)
	conn := demuxNewEP("conn")
	conn.onAbort = selfUnregister(v4, demuxID("10.0.0.1:80", "10.0.0.2:1"), PortFlags{})
	timeWait := demuxNewEP("time-wait")
	timeWait.onAbort = func(e *demuxFakeEP) { s.CompleteTransportEndpointCleanup(e) }
	stuck := demuxNewEP("stuck") // forgets to unregister
	for _, r := range []struct {
		np    []tcpip.NetworkProtocolNumber
		id    TransportEndpointID
		ep    *demuxFakeEP
		flags PortFlags
	}{
		{dual, demuxID(":80", ""), listener, portReusePort},
		{dual, demuxID(":80", ""), second, portReusePort},
		{v4, demuxID("10.0.0.1:80", "10.0.0.2:1"), conn, PortFlags{}},
		{v4, demuxID("10.0.0.1:80", "10.0.0.3:1"), timeWait, PortFlags{}},
		{v4, demuxID(":81", ""), stuck, PortFlags{}},
	} {
		if err := s.RegisterTransportEndpoint(r.np, demuxUDP, r.id, r.ep, r.flags, 0); err != nil {
			t.Fatal(err)
		}
	}
	s.StartTransportEndpointCleanup(v4, demuxUDP, demuxID("10.0.0.1:80", "10.0.0.3:1"), timeWait, PortFlags{}, 0)
	raw := &demuxFakeRaw{}
	if err := s.RegisterRawTransportEndpoint(demuxV4, demuxUDP, raw); err != nil {
		t.Fatal(err)
	}
	if err := s.RegisterRawTransportEndpoint(demuxV6, demuxUDP, raw); err != nil {
		t.Fatal(err)
	}

	s.demux.abortAll()

	for _, ep := range []*demuxFakeEP{listener, second, conn, timeWait, stuck} {
		if n := ep.abortCount(); n != 1 {
			t.Errorf("%s aborted %d times, want 1", ep.name, n)
		}
	}
	if raw.aborts != 1 {
		t.Errorf("raw endpoint aborted %d times, want 1", raw.aborts)
	}
	if got := s.RegisteredEndpoints(); len(got) != 1 || got[0] != TransportEndpoint(stuck) {
		t.Errorf("RegisteredEndpoints after abortAll = %v, want [stuck]", got)
	}
	if got := s.CleanupEndpoints(); len(got) != 0 {
		t.Errorf("CleanupEndpoints after abortAll = %v", got)
	}
}

func TestDemuxStackAccessors(t *testing.T) {
	s := demuxTestStack(1)
	if s.PortManager() != s.ports {
		t.Fatal("PortManager")
	}
	if s.FindTransportEndpoint(demuxV4, demuxUDP, demuxID("10.0.0.1:1", ""), 1) != nil {
		t.Fatal("found an endpoint in an empty stack")
	}
	if len(s.RegisteredEndpoints()) != 0 || len(s.CleanupEndpoints()) != 0 {
		t.Fatal("empty stack has endpoints")
	}
	// Delivery without any table does not consume the packet.
	pkt := demuxPacket("x")
	if s.demux.deliverPacket(demuxV4, demuxUDP, demuxID("10.0.0.1:1", "10.0.0.2:1"), NetworkPacketInfo{NIC: 1}, pkt) {
		t.Fatal("delivered")
	}
	if s.demux.deliverError(demuxV4, demuxUDP, demuxID("10.0.0.1:1", "10.0.0.2:1"), TransportError{}, pkt) {
		t.Fatal("error delivered")
	}
	pkt.Release()
}

// demuxCountEP counts packets without releasing them, for allocation
// tests that deliver the same packet again and again.
type demuxCountEP struct{ n int }

func (e *demuxCountEP) UniqueID() uint64 { return 0 }
func (e *demuxCountEP) HandlePacket(TransportEndpointID, NetworkPacketInfo, *buffer.Packet) {
	e.n++
}
func (e *demuxCountEP) HandleError(TransportError, *buffer.Packet) {}
func (e *demuxCountEP) Abort()                                     {}

func TestDemuxDeliverAllocs(t *testing.T) {
	s := demuxTestStack(1)
	v4 := []tcpip.NetworkProtocolNumber{demuxV4}
	exact, listener := &demuxCountEP{}, &demuxCountEP{}
	var group []*demuxCountEP
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(s.RegisterTransportEndpoint(v4, demuxTCP, demuxID("10.0.0.1:80", "10.0.0.2:1234"), exact, PortFlags{}, 0))
	must(s.RegisterTransportEndpoint(v4, demuxTCP, demuxID(":80", ""), listener, PortFlags{}, 0))
	for range 4 {
		ep := &demuxCountEP{}
		group = append(group, ep)
		must(s.RegisterTransportEndpoint(v4, demuxUDP, demuxID("10.0.0.1:53", ""), ep, portReusePort, 3))
	}
	pkt := demuxPacket("payload")
	defer pkt.Release()
	for _, c := range []struct {
		name  string
		proto tcpip.TransportProtocolNumber
		id    TransportEndpointID
		nic   tcpip.NICID
	}{
		{"exact", demuxTCP, demuxID("10.0.0.1:80", "10.0.0.2:1234"), 1},
		{"wildcard", demuxTCP, demuxID("10.0.0.1:80", "10.0.0.2:1235"), 1},
		{"reuse-port group on device", demuxUDP, demuxID("10.0.0.1:53", "10.0.0.2:1235"), 3},
		{"no endpoint", demuxUDP, demuxID("10.0.0.1:54", "10.0.0.2:1235"), 3},
	} {
		info := NetworkPacketInfo{NIC: c.nic}
		if n := testing.AllocsPerRun(100, func() {
			s.demux.deliverPacket(demuxV4, c.proto, c.id, info, pkt)
		}); n != 0 {
			t.Errorf("%s: %v allocations per delivery", c.name, n)
		}
	}
	if exact.n == 0 || listener.n == 0 {
		t.Fatalf("exact %d, listener %d deliveries", exact.n, listener.n)
	}
	total := 0
	for _, ep := range group {
		total += ep.n
	}
	if total == 0 {
		t.Fatal("reuse-port group received nothing")
	}
}

func BenchmarkDemuxDeliver(b *testing.B) {
	s := demuxTestStack(1)
	v4 := []tcpip.NetworkProtocolNumber{demuxV4}
	for i := range 1000 {
		id := demuxID("10.0.0.1:80", fmt.Sprintf("10.1.%d.%d:%d", i/250, i%250, 1000+i))
		if err := s.RegisterTransportEndpoint(v4, demuxTCP, id, &demuxCountEP{}, PortFlags{}, 0); err != nil {
			b.Fatal(err)
		}
	}
	if err := s.RegisterTransportEndpoint(v4, demuxTCP, demuxID(":80", ""), &demuxCountEP{}, PortFlags{}, 0); err != nil {
		b.Fatal(err)
	}
	pkt := demuxPacket("payload")
	defer pkt.Release()
	for _, c := range []struct {
		name string
		id   TransportEndpointID
	}{
		{"established", demuxID("10.0.0.1:80", "10.1.1.1:1251")},
		{"listener", demuxID("10.0.0.1:80", "10.9.9.9:9")},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			info := NetworkPacketInfo{NIC: 1}
			for b.Loop() {
				s.demux.deliverPacket(demuxV4, demuxTCP, c.id, info, pkt)
			}
		})
	}
}

// An id with one endpoint (every connection) keeps it in the table's map
// entry, with no group allocated; a second endpoint moves the entry to
// groups, and delivery and unregistering behave alike in both forms.
func TestDemuxSingleEntry(t *testing.T) {
	v4 := []tcpip.NetworkProtocolNumber{demuxV4}
	s := demuxTestStack(1)
	id := demuxID("10.0.0.1:80", "10.0.0.2:1000")
	pkt := demuxID("10.0.0.1:80", "10.0.0.2:1000")
	entry := func() (demuxIDEntry, bool) {
		tb := s.demux.table(demuxV4, demuxTCP)
		tb.mu.RLock()
		defer tb.mu.RUnlock()
		e, ok := tb.ids[demuxKeyOf(id)]
		return e, ok
	}
	a, b := demuxNewEP("a"), demuxNewEP("b")
	if err := s.RegisterTransportEndpoint(v4, demuxTCP, id, a, portReuseAddr, 3); err != nil {
		t.Fatal(err)
	}
	if e, ok := entry(); !ok || !e.single() || e.ep != TransportEndpoint(a) || e.device != 3 || e.flags != portReuseAddr {
		t.Fatalf("one endpoint: entry %+v", e)
	}
	for _, tc := range []struct {
		nic  tcpip.NICID
		want TransportEndpoint
	}{{3, a}, {0, a}, {4, nil}} {
		if got := s.FindTransportEndpoint(demuxV4, demuxTCP, pkt, tc.nic); got != tc.want {
			t.Errorf("one endpoint bound to NIC 3, packet on NIC %d: %v, want %v", tc.nic, got, tc.want)
		}
	}
	if err := s.RegisterTransportEndpoint(v4, demuxTCP, id, a, portReuseAddr, 3); err != tcpip.ErrAddressInUse {
		t.Fatalf("same endpoint twice: %v", err)
	}
	if err := s.RegisterTransportEndpoint(v4, demuxTCP, id, b, portReuseAddr, 3); err != nil {
		t.Fatal(err)
	}
	if e, _ := entry(); e.single() || len(e.multi.groups) != 1 || len(e.multi.groups[0].members) != 2 {
		t.Fatalf("two endpoints: entry %+v", e)
	}
	// SO_REUSEADDR: the most recently registered receives unicast.
	if got := s.FindTransportEndpoint(demuxV4, demuxTCP, pkt, 3); got != TransportEndpoint(b) {
		t.Fatalf("two endpoints: %v, want b", got)
	}
	s.UnregisterTransportEndpoint(v4, demuxTCP, id, b, portReuseAddr, 3)
	if got := s.FindTransportEndpoint(demuxV4, demuxTCP, pkt, 3); got != TransportEndpoint(a) {
		t.Fatalf("after b left: %v, want a", got)
	}
	s.UnregisterTransportEndpoint(v4, demuxTCP, id, a, portReuseAddr, 4) // another device: nothing
	if _, ok := entry(); !ok {
		t.Fatal("unregistering with another device removed the entry")
	}
	s.UnregisterTransportEndpoint(v4, demuxTCP, id, a, portReuseAddr, 3)
	if _, ok := entry(); ok {
		t.Fatal("the entry outlived its last endpoint")
	}
	// The single form: unregistering with another device keeps it.
	if err := s.RegisterTransportEndpoint(v4, demuxTCP, id, a, PortFlags{}, 0); err != nil {
		t.Fatal(err)
	}
	s.UnregisterTransportEndpoint(v4, demuxTCP, id, a, PortFlags{}, 2)
	if e, ok := entry(); !ok || !e.single() {
		t.Fatal("unregistering a single entry with another device removed it")
	}
	s.UnregisterTransportEndpoint(v4, demuxTCP, id, b, PortFlags{}, 0)
	if e, ok := entry(); !ok || e.ep != TransportEndpoint(a) {
		t.Fatal("unregistering another endpoint removed the single entry")
	}
}
