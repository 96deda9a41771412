package stack

import (
	"net/netip"
	"testing"

	"github.com/ustack-go/ustack/tcpip"
)

// idEP is a TransportEndpoint with a fixed UniqueID.
type idEP struct {
	demuxFakeEP
	id uint64
}

func (e *idEP) UniqueID() uint64 { return e.id }

// TestTransportEndpoints lists the endpoints of one transport protocol,
// each once (an endpoint registered for IPv4 and IPv6 too), ordered by
// UniqueID, and none of another protocol.
func TestTransportEndpoints(t *testing.T) {
	s := demuxTestStack(1)
	v4 := []tcpip.NetworkProtocolNumber{tcpip.IPv4ProtocolNumber}
	both := []tcpip.NetworkProtocolNumber{tcpip.IPv4ProtocolNumber, tcpip.IPv6ProtocolNumber}
	eps := []*idEP{{id: 30}, {id: 10}, {id: 20}, {id: 5}}
	regs := []struct {
		np    []tcpip.NetworkProtocolNumber
		proto tcpip.TransportProtocolNumber
		port  uint16
	}{{v4, tcpip.TCPProtocolNumber, 80}, {both, tcpip.TCPProtocolNumber, 81}, {v4, tcpip.TCPProtocolNumber, 82}, {v4, tcpip.UDPProtocolNumber, 80}}
	for i, r := range regs {
		id := TransportEndpointID{LocalPort: r.port, LocalAddress: netip.Addr{}}
		if err := s.RegisterTransportEndpoint(r.np, r.proto, id, eps[i], PortFlags{}, 0); err != nil {
			t.Fatal(err)
		}
	}
	got := s.TransportEndpoints(tcpip.TCPProtocolNumber)
	want := []TransportEndpoint{eps[1], eps[2], eps[0]}
	if len(got) != len(want) {
		t.Fatalf("TransportEndpoints(TCP) = %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("TransportEndpoints(TCP)[%d] = %v, want %v", i, got[i], want[i])
		}
	}
	if got := s.TransportEndpoints(tcpip.UDPProtocolNumber); len(got) != 1 || got[0] != TransportEndpoint(eps[3]) {
		t.Errorf("TransportEndpoints(UDP) = %v", got)
	}
	if got := s.TransportEndpoints(tcpip.ICMPv4ProtocolNumber); len(got) != 0 {
		t.Errorf("TransportEndpoints(ICMP) = %v", got)
	}
}

// TestTCPProbeRegistration: AddTCPProbe installs, replaces (nil removes)
// and RemoveTCPProbe removes the probe.
func TestTCPProbeRegistration(t *testing.T) {
	s := demuxTestStack(1)
	if s.GetTCPProbe() != nil {
		t.Fatal("a new stack has a probe")
	}
	var which string
	s.AddTCPProbe(func(TCPEndpointState) { which = "first" })
	s.AddTCPProbe(func(TCPEndpointState) { which = "second" })
	s.GetTCPProbe()(TCPEndpointState{})
	if which != "second" {
		t.Errorf("the probe called is the %s", which)
	}
	s.AddTCPProbe(nil)
	if s.GetTCPProbe() != nil {
		t.Error("AddTCPProbe(nil) left a probe")
	}
	s.AddTCPProbe(func(TCPEndpointState) {})
	s.RemoveTCPProbe()
	if s.GetTCPProbe() != nil {
		t.Error("RemoveTCPProbe left a probe")
	}
}
