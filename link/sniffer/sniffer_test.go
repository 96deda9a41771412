package sniffer_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ustack-go/ustack/buffer"
	"github.com/ustack-go/ustack/header"
	"github.com/ustack-go/ustack/internal/leakcheck"
	"github.com/ustack-go/ustack/internal/netns"
	"github.com/ustack-go/ustack/link/channel"
	"github.com/ustack-go/ustack/link/ethernet"
	"github.com/ustack-go/ustack/link/internal/linktest"
	"github.com/ustack-go/ustack/link/pipe"
	"github.com/ustack-go/ustack/link/sniffer"
	"github.com/ustack-go/ustack/stack"
	"github.com/ustack-go/ustack/tcpip"
)

// The golden frames were captured between two hosts with these addresses.
var (
	macA = tcpip.MustParseLinkAddress("02:99:00:00:00:01")
	macB = tcpip.MustParseLinkAddress("02:99:00:00:00:02")
)

// conversation lists golden frames in the order they were exchanged, A
// being the side that sent the first.
var conversation = []string{
	"eth_arp_request", "eth_arp_reply",
	"ipv4_icmp_echo_request", "ipv4_icmp_echo_reply",
	"ipv4_udp",
	"ipv4_tcp_syn", "ipv4_tcp_synack",
	"ipv6_ns", "ipv6_na",
	"ipv6_icmpv6_echo_request", "ipv6_icmpv6_echo_reply",
	"ipv6_udp",
	"ipv6_tcp_syn", "ipv6_tcp_synack",
}

// record is one pcap record.
type record struct {
	sec, frac uint32
	orig      int
	data      []byte
}

// parsePcap checks the file header of a little-endian pcap and returns its
// link type, snaplen, magic and records.
func parsePcap(t *testing.T, b []byte) (magic uint32, snaplen uint32, linkType uint32, recs []record) {
	t.Helper()
	if len(b) < 24 {
		t.Fatalf("pcap of %d bytes", len(b))
	}
	le := binary.LittleEndian
	magic = le.Uint32(b)
	if magic != 0xa1b2c3d4 && magic != 0xa1b23c4d {
		t.Fatalf("magic %#x", magic)
	}
	if le.Uint16(b[4:]) != 2 || le.Uint16(b[6:]) != 4 || le.Uint32(b[8:]) != 0 || le.Uint32(b[12:]) != 0 {
		t.Fatalf("file header % x", b[:24])
	}
	snaplen, linkType = le.Uint32(b[16:]), le.Uint32(b[20:])
	b = b[24:]
	for len(b) > 0 {
		if len(b) < 16 {
			t.Fatalf("%d stray bytes at the end", len(b))
		}
		r := record{sec: le.Uint32(b), frac: le.Uint32(b[4:]), orig: int(le.Uint32(b[12:]))}
		n := int(le.Uint32(b[8:]))
		if n > len(b)-16 || n > r.orig || uint32(n) > snaplen {
			t.Fatalf("record with caplen %d, origlen %d, %d bytes left", n, r.orig, len(b)-16)
		}
		r.data = b[16 : 16+n]
		recs = append(recs, r)
		b = b[16+n:]
	}
	return magic, snaplen, linkType, recs
}

// talk plays the conversation over a pipe whose A end is ethernet-framed
// and wrapped by wrap (which puts the sniffer somewhere), advancing clock
// by a millisecond per frame. A's frames go through ethernet's AddHeader,
// B's are written raw.
func talk(t *testing.T, clock *tcpip.ManualClock, wrap func(a *pipe.Endpoint) stack.LinkEndpoint) {
	t.Helper()
	a, b := pipe.New(pipe.Config{AddressA: macA, AddressB: macB})
	ea := wrap(a)
	defer ea.Close()
	defer b.Close()
	ra, rb := linktest.NewRecorder(), linktest.NewRecorder()
	ea.Attach(ra)
	b.Attach(rb)
	for _, name := range conversation {
		f := linktest.Golden(t, name)
		eth, err := header.ParseEthernet(f)
		if err != nil {
			t.Fatal(err)
		}
		if eth.Source() == macA {
			p := buffer.NewPacket(ea.MaxHeaderLength(), nil)
			p.Payload.Append(eth.Payload())
			p.LinkSource = macA
			p.LinkDestination = eth.Destination()
			p.NetworkProtocol = eth.Type()
			ea.AddHeader(p)
			if _, err := ea.WritePackets([]*buffer.Packet{p}); err != nil {
				t.Fatal(err)
			}
			linktest.ReleaseAll(rb.WaitN(t, 1))
		} else {
			if _, err := b.WritePackets([]*buffer.Packet{buffer.NewPacketFromBytes(0, f)}); err != nil {
				t.Fatal(err)
			}
			linktest.ReleaseAll(ra.WaitN(t, 1))
		}
		clock.Advance(time.Millisecond)
	}
}

// Both supported compositions write the same, valid pcap: one record per
// frame, whole frames, timestamps from the clock.
func TestCompositions(t *testing.T) {
	leakcheck.Check(t)
	linktest.CheckBuffers(t)
	var below, around bytes.Buffer
	clock := tcpip.NewManualClock()
	talk(t, clock, func(a *pipe.Endpoint) stack.LinkEndpoint {
		return ethernet.New(sniffer.New(a, &below, sniffer.Options{Clock: clock}))
	})
	clock2 := tcpip.NewManualClock()
	talk(t, clock2, func(a *pipe.Endpoint) stack.LinkEndpoint {
		s := sniffer.New(ethernet.New(a), &around, sniffer.Options{Clock: clock2})
		if s.LinkType() != sniffer.LinkTypeEthernet {
			t.Errorf("link type %d", s.LinkType())
		}
		return s
	})
	if !bytes.Equal(below.Bytes(), around.Bytes()) {
		t.Error("the two compositions wrote different files")
	}
	magic, snaplen, lt, recs := parsePcap(t, below.Bytes())
	if magic != 0xa1b2c3d4 || snaplen != sniffer.DefaultSnaplen || lt != 1 {
		t.Errorf("magic %#x snaplen %d linktype %d", magic, snaplen, lt)
	}
	if len(recs) != len(conversation) {
		t.Fatalf("%d records, want %d", len(recs), len(conversation))
	}
	start := tcpip.ManualClockStart
	for i, r := range recs {
		want := linktest.Golden(t, conversation[i])
		if !bytes.Equal(r.data, want) || r.orig != len(want) {
			t.Errorf("record %d (%s): %d/%d bytes % x, want % x", i, conversation[i], len(r.data), r.orig, r.data, want)
		}
		ts := start.Add(time.Duration(i) * time.Millisecond)
		if int64(r.sec) != ts.Unix() || int(r.frac) != ts.Nanosecond()/1000 {
			t.Errorf("record %d: time %d.%06d, want %d.%06d", i, r.sec, r.frac, ts.Unix(), ts.Nanosecond()/1000)
		}
	}
	checkTshark(t, below.Bytes(), len(conversation))
}

// checkTshark has tshark decode the capture and fails on malformed packets
// or expert warnings. Without tshark it skips, unless
// USTACK_REQUIRE_ROOT_TESTS=1.
func checkTshark(t *testing.T, pcap []byte, want int) {
	t.Helper()
	if _, err := exec.LookPath("tshark"); err != nil {
		if os.Getenv(netns.EnvRequire) == "1" {
			t.Fatalf("tshark not found, and %s=1", netns.EnvRequire)
		}
		t.Log("tshark not found: skipping its decode of the capture")
		return
	}
	path := filepath.Join(t.TempDir(), "capture.pcap")
	if err := os.WriteFile(path, pcap, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("tshark", "-n", "-r", path).Output()
	if err != nil {
		t.Fatalf("tshark -r: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != want {
		t.Errorf("tshark decoded %d packets, want %d:\n%s", len(lines), want, out)
	}
	if strings.Contains(string(out), "Malformed") {
		t.Errorf("tshark reports malformed packets:\n%s", out)
	}
	// Expert info of severity warning or error, packet by packet.
	out, err = exec.Command("tshark", "-n", "-r", path, "-Y", "_ws.expert.severity >= warning || _ws.malformed").Output()
	if err != nil {
		t.Fatalf("tshark -Y: %v", err)
	}
	if s := strings.TrimSpace(string(out)); s != "" {
		t.Errorf("tshark reports warnings or errors on:\n%s", s)
	}
	t.Logf("tshark:\n%s", strings.Join(lines, "\n"))
}

// A capture of bare IP (a pipe of IP packets) has link type RAW, and
// tshark decodes it.
func TestRawLinkType(t *testing.T) {
	leakcheck.Check(t)
	linktest.CheckBuffers(t)
	var out bytes.Buffer
	clock := tcpip.NewManualClock()
	a, b := pipe.New(pipe.Config{L3: true})
	s := sniffer.New(a, &out, sniffer.Options{Clock: clock, Nanosecond: true})
	if s.LinkType() != sniffer.LinkTypeRaw {
		t.Errorf("link type %d", s.LinkType())
	}
	r := linktest.NewRecorder()
	s.Attach(linktest.NewRecorder())
	b.Attach(r)
	var names []string
	for _, name := range conversation {
		f := linktest.Golden(t, name)
		if eth, _ := header.ParseEthernet(f); eth.Type() == tcpip.ARPProtocolNumber {
			continue
		}
		names = append(names, name)
		s.WritePackets([]*buffer.Packet{buffer.NewPacketFromBytes(0, f[14:])})
		clock.Advance(1500 * time.Nanosecond)
	}
	linktest.ReleaseAll(r.WaitN(t, len(names)))
	s.Close()
	b.Close()
	magic, _, lt, recs := parsePcap(t, out.Bytes())
	if magic != 0xa1b23c4d || lt != 101 || len(recs) != len(names) {
		t.Fatalf("magic %#x linktype %d, %d records", magic, lt, len(recs))
	}
	if recs[1].frac != 1500 {
		t.Errorf("nanosecond timestamp %d, want 1500", recs[1].frac)
	}
	checkTshark(t, out.Bytes(), len(names))
}

func TestSnaplen(t *testing.T) {
	leakcheck.Check(t)
	linktest.CheckBuffers(t)
	var out bytes.Buffer
	ch := channel.New(channel.Config{})
	s := sniffer.New(ch, &out, sniffer.Options{Clock: tcpip.NewManualClock(), Snaplen: 100, LinkType: sniffer.LinkTypeEthernet})
	defer s.Close()
	s.WritePackets([]*buffer.Packet{buffer.NewPacketFromBytes(0, bytes.Repeat([]byte{7}, 300))})
	ch.Drain()
	_, snap, lt, recs := parsePcap(t, out.Bytes())
	if snap != 100 || lt != 1 || len(recs) != 1 || len(recs[0].data) != 100 || recs[0].orig != 300 {
		t.Errorf("snaplen %d, linktype %d, records %+v", snap, lt, recs)
	}
}

// failingWriter fails every write after the first n.
type failingWriter struct {
	mu sync.Mutex
	n  int
	w  bytes.Buffer
}

var errDiskFull = errors.New("disk full")

func (f *failingWriter) Write(b []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.n == 0 {
		return 0, errDiskFull
	}
	f.n--
	return f.w.Write(b)
}

// A write error stops the capture but not the traffic.
func TestWriteError(t *testing.T) {
	leakcheck.Check(t)
	linktest.CheckBuffers(t)
	fw := &failingWriter{n: 3} // the file header and two records
	ch := channel.New(channel.Config{})
	s := sniffer.New(ch, fw, sniffer.Options{Clock: tcpip.NewManualClock()})
	defer s.Close()
	r := linktest.NewRecorder()
	s.Attach(r)
	for range 5 {
		if n, err := s.WritePackets([]*buffer.Packet{buffer.NewPacketFromBytes(0, []byte("\x45frame"))}); n != 1 || err != nil {
			t.Fatalf("WritePackets = %d, %v", n, err)
		}
		ch.InjectInbound(0, buffer.NewPacketFromBytes(0, []byte("\x45in")))
	}
	got := r.Take()
	linktest.ReleaseAll(got)
	if ch.Drain() != 5 || len(got) != 5 {
		t.Error("traffic affected by the failing capture")
	}
	st := s.Stats()
	if !errors.Is(s.Err(), errDiskFull) || st.Captured.Load() != 2 || st.WriteErrors.Load() != 1 || st.NotCaptured.Load() != 7 {
		t.Errorf("Err %v, Captured %d, WriteErrors %d, NotCaptured %d", s.Err(), st.Captured.Load(), st.WriteErrors.Load(), st.NotCaptured.Load())
	}
}

// Inbound and outbound frames recorded concurrently never interleave.
func TestConcurrentRecords(t *testing.T) {
	leakcheck.Check(t)
	linktest.CheckBuffers(t)
	var out bytes.Buffer
	a, b := pipe.New(pipe.Config{QueueSize: 4096})
	s := sniffer.New(a, &out, sniffer.Options{})
	r := linktest.NewRecorder()
	s.Attach(r)
	rb := linktest.NewRecorder()
	b.Attach(rb)
	const n = 1000
	var wg sync.WaitGroup
	for _, e := range []stack.LinkEndpoint{s, b} {
		wg.Go(func() {
			for i := range n {
				f := bytes.Repeat([]byte{byte(i)}, 60+i%200)
				e.WritePackets([]*buffer.Packet{buffer.NewPacketFromBytes(0, f)})
			}
		})
	}
	wg.Wait()
	linktest.ReleaseAll(r.WaitN(t, n))
	linktest.ReleaseAll(rb.WaitN(t, n))
	s.Close()
	b.Close()
	_, _, _, recs := parsePcap(t, out.Bytes())
	if len(recs) != 2*n {
		t.Fatalf("%d records", len(recs))
	}
	for i, rec := range recs {
		for _, c := range rec.data {
			if c != rec.data[0] {
				t.Fatalf("record %d mixes frames", i)
			}
		}
	}
}

// The text log has one line per frame with a decode of its headers.
func TestLog(t *testing.T) {
	leakcheck.Check(t)
	linktest.CheckBuffers(t)
	var log bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	clock := tcpip.NewManualClock()
	var s *sniffer.Endpoint
	talk(t, clock, func(a *pipe.Endpoint) stack.LinkEndpoint {
		s = sniffer.New(a, nil, sniffer.Options{Clock: clock, Logger: logger, LogLevel: slog.LevelDebug})
		return ethernet.New(s)
	})
	lines := strings.Split(strings.TrimSpace(log.String()), "\n")
	if len(lines) != len(conversation) || s.Stats().Logged.Load() != uint64(len(conversation)) {
		t.Fatalf("%d lines:\n%s", len(lines), log.String())
	}
	for i, want := range []string{
		`dir=send len=42 summary="02:99:00:00:00:01 > ff:ff:ff:ff:ff:ff, ARP who-has 10.99.1.2 tell 10.99.1.1"`,
		`dir=recv len=42 summary="02:99:00:00:00:02 > 02:99:00:00:00:01, ARP reply 10.99.1.2 is-at 02:99:00:00:00:02"`,
		`dir=send len=98 summary="02:99:00:00:00:01 > 02:99:00:00:00:02, IPv4 10.99.1.1 > 10.99.1.2 ICMP echo request len=64"`,
	} {
		if !strings.Contains(lines[i], want) {
			t.Errorf("line %d = %s\nwant it to contain %s", i, lines[i], want)
		}
	}
	if s.Stats().Captured.Load() != 0 {
		t.Error("captured without a writer")
	}
	t.Logf("log:\n%s", log.String())
}

func TestSummary(t *testing.T) {
	for _, tc := range []struct {
		name, want string
	}{
		{"ipv4_udp", "02:99:00:00:00:01 > 02:99:00:00:00:02, IPv4 10.99.1.1 > 10.99.1.2 UDP 40000 > 7777 len=13"},
		{"ipv6_udp", "02:99:00:00:00:01 > 02:99:00:00:00:02, IPv6 fd00:99::1 > fd00:99::2 UDP 40000 > 7777 len=13"},
		{"ipv4_icmp_echo_frag_last", "IPv4 10.99.1.1 > 10.99.1.2 frag off="},
		{"ipv4_icmp_echo_frag_first", "frag off=0 MF ICMP echo request"},
		{"ipv6_hbh_mldv2_report", "ICMPv6 multicast listener report v2 len=28"},
		{"ipv6_ns", "ICMPv6 neighbor solicitation len=32"},
		{"ipv4_tcp_syn", "TCP 40080 > 8080 [SYN] seq="},
		{"ipv4_tcp_syn", " ack=0 win=64240 len=0"},
		{"ipv4_icmp_port_unreach", "ICMP destination unreachable (port unreachable)"},
	} {
		got := sniffer.Summary(sniffer.LinkTypeEthernet, linktest.Golden(t, tc.name))
		if !strings.Contains(got, tc.want) {
			t.Errorf("%s: %q, want it to contain %q", tc.name, got, tc.want)
		}
	}
	for _, tc := range []struct {
		lt    sniffer.LinkType
		frame string
		want  string
	}{
		{sniffer.LinkTypeEthernet, "short", "ethernet undecodable (5 bytes: header: truncated)"},
		{sniffer.LinkTypeRaw, "", "IP undecodable (0 bytes: header: truncated)"},
		{sniffer.LinkTypeRaw, "\x45\x00", "IPv4 undecodable (2 bytes: header: truncated)"},
		{sniffer.LinkTypeRaw, v6Fragment(1448), "IPv6 fd00::1 > fd00::2 frag off=1448 MF ICMPv6 len=16"},
		{sniffer.LinkTypeRaw, v6Fragment(0), "IPv6 fd00::1 > fd00::2 frag off=0 MF ICMPv6 echo request len=16"},
		{sniffer.LinkTypeRaw, "\x20", "IP version 2"},
		{sniffer.LinkType(228), "abc", "linktype 228 len=3"},
	} {
		if got := sniffer.Summary(tc.lt, []byte(tc.frame)); got != tc.want {
			t.Errorf("Summary(%d, %q) = %q, want %q", tc.lt, tc.frame, got, tc.want)
		}
	}
}

// v6Fragment returns an IPv6 fragment of an ICMPv6 echo request at
// offset off, with 16 bytes of data.
func v6Fragment(off uint16) string {
	p := make([]byte, 40+8+16)
	p[0] = 0x60
	binary.BigEndian.PutUint16(p[4:], 8+16)
	p[6] = uint8(tcpip.IPv6FragmentProtocolNumber)
	p[7] = 64
	copy(p[8:], netip.MustParseAddr("fd00::1").AsSlice())
	copy(p[24:], netip.MustParseAddr("fd00::2").AsSlice())
	p[40] = uint8(tcpip.ICMPv6ProtocolNumber)
	binary.BigEndian.PutUint16(p[42:], off|1) // M
	p[48] = 128                               // echo request
	return string(p)
}

func FuzzSummary(f *testing.F) {
	for _, name := range conversation {
		f.Add(linktest.Golden(f, name))
	}
	f.Add(linktest.Golden(f, "ipv6_routing"))
	f.Add(linktest.Golden(f, "ipv4_icmp_echo_frag_first"))
	f.Fuzz(func(t *testing.T, b []byte) {
		sniffer.Summary(sniffer.LinkTypeEthernet, b)
		sniffer.Summary(sniffer.LinkTypeRaw, b)
	})
}

type discard struct{}

func (discard) DeliverNetworkPacket(_ tcpip.NetworkProtocolNumber, p *buffer.Packet) { p.Release() }

// Recording allocates nothing once the scratch buffer has grown.
func TestAllocs(t *testing.T) {
	if linktest.RaceEnabled {
		t.Skip("sync.Pool drops items under the race detector")
	}
	ch := channel.New(channel.Config{})
	s := sniffer.New(ch, io.Discard, sniffer.Options{Clock: tcpip.NewManualClock()})
	defer s.Close()
	s.Attach(discard{})
	frame := linktest.Golden(t, "ipv4_tcp_syn")
	pkts := make([]*buffer.Packet, 1)
	run := func() {
		p := buffer.NewPacket(0, nil)
		p.Payload.Append(frame)
		ch.InjectInbound(0, p)
		p = buffer.NewPacket(0, nil)
		p.Payload.Append(frame)
		pkts[0] = p
		s.WritePackets(pkts)
		q, _ := ch.Read()
		q.Release()
	}
	run()
	if n := testing.AllocsPerRun(200, run); n != 0 {
		t.Errorf("recording: %v allocations, want 0", n)
	}
}
