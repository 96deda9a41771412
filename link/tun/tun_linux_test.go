package tun_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ustack-go/ustack/header"
	"github.com/ustack-go/ustack/internal/leakcheck"
	"github.com/ustack-go/ustack/internal/netns"
	"github.com/ustack-go/ustack/link/tun"
	"github.com/ustack-go/ustack/tcpip"
)

// The tests run the kernel side in a namespace of their own: the device is
// opened here, moved into the namespace and addressed there, so nothing of
// the host's configuration is involved.

var (
	kernelAddr = netip.MustParseAddr("10.77.0.1") // the kernel's side
	ourAddr    = netip.MustParseAddr("10.77.0.2") // the test's side
	ourMAC     = tcpip.MustParseLinkAddress("02:00:0a:4d:00:02")
	kernelNet  = netip.PrefixFrom(kernelAddr, 24)
)

// timeout bounds each wait for the kernel; a healthy run needs milliseconds.
const timeout = 10 * time.Second

// open opens a device of the given mode with a fresh name and closes it at
// the end of the test.
func open(t *testing.T, cfg tun.Config) *tun.Device {
	t.Helper()
	if cfg.Name == "" {
		cfg.Name = netns.UniqueIfName("ustk")
	}
	dev, err := tun.Open(cfg)
	if err != nil {
		t.Fatalf("Open(%+v): %v", cfg, err)
	}
	t.Cleanup(func() { dev.Close() })
	return dev
}

// inNamespace opens a device, moves it into a new namespace, gives the
// kernel side kernelNet and brings it up.
func inNamespace(t *testing.T, mode tun.Mode) (*tun.Device, *netns.NS) {
	t.Helper()
	ns := netns.New(t)
	dev := open(t, tun.Config{Mode: mode})
	ns.MoveLink(t, dev.Name())
	ns.AddrAdd(t, dev.Name(), kernelNet)
	ns.LinkUp(t, dev.Name())
	return dev, ns
}

// readUntil reads frames from dev until match accepts one and returns it.
// If none comes within the timeout it closes dev and fails t.
func readUntil(t *testing.T, dev *tun.Device, what string, match func([]byte) bool) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	defer cancel()
	stop := context.AfterFunc(ctx, func() { dev.Close() })
	defer stop()
	buf := make([]byte, 65536)
	var skipped int
	for {
		n, err := dev.Read(buf)
		if err != nil {
			t.Fatalf("waiting for %s (after %d other frames): %v", what, skipped, err)
		}
		if match(buf[:n]) {
			return bytes.Clone(buf[:n])
		}
		skipped++
	}
}

// arpRequest returns an Ethernet frame asking who has kernelAddr, from
// ourMAC and ourAddr. header has no ARP view yet: the 28 bytes of RFC 826
// for Ethernet and IPv4 are written here.
func arpRequest() []byte {
	frame := make([]byte, header.EthernetMinimumFrameSize) // zero padding
	eth := header.EthernetFields{
		Destination: tcpip.BroadcastLinkAddress,
		Source:      ourMAC,
		Type:        tcpip.ARPProtocolNumber,
	}
	eth.Encode(frame)
	arp := frame[header.EthernetMinimumSize:]
	binary.BigEndian.PutUint16(arp[0:], 1)                                // hardware type: Ethernet
	binary.BigEndian.PutUint16(arp[2:], uint16(tcpip.IPv4ProtocolNumber)) // protocol type
	arp[4], arp[5] = 6, 4                                                 // address lengths
	binary.BigEndian.PutUint16(arp[6:], 1)                                // op: request
	copy(arp[8:], ourMAC[:])                                              // sender hardware address
	copy(arp[14:], ourAddr.AsSlice())                                     // sender protocol address
	// target hardware address arp[18:24] stays zero
	copy(arp[24:], kernelAddr.AsSlice()) // target protocol address
	return frame
}

// isARPReplyFrom reports whether frame is the kernel's ARP reply giving
// kernelAddr's MAC as mac, addressed to us.
func isARPReplyFrom(mac tcpip.LinkAddress) func([]byte) bool {
	return func(frame []byte) bool {
		eth, err := header.ParseEthernet(frame)
		if err != nil || eth.Type() != tcpip.ARPProtocolNumber {
			return false
		}
		arp := eth.Payload()
		if len(arp) < 28 || binary.BigEndian.Uint16(arp[6:]) != 2 {
			return false
		}
		return eth.Destination() == ourMAC && eth.Source() == mac &&
			binary.BigEndian.Uint16(arp[0:]) == 1 &&
			binary.BigEndian.Uint16(arp[2:]) == uint16(tcpip.IPv4ProtocolNumber) &&
			arp[4] == 6 && arp[5] == 4 &&
			tcpip.LinkAddress(arp[8:14]) == mac &&
			netip.AddrFrom4([4]byte(arp[14:18])) == kernelAddr &&
			tcpip.LinkAddress(arp[18:24]) == ourMAC &&
			netip.AddrFrom4([4]byte(arp[24:28])) == ourAddr
	}
}

func TestTAPARPWithKernel(t *testing.T) {
	leakcheck.Check(t)
	dev, ns := inNamespace(t, tun.TAP)
	if dev.Mode() != tun.TAP {
		t.Errorf("Mode = %v", dev.Mode())
	}
	// The device's address, seen from the kernel's side and through the
	// descriptor, which follows the device into its namespace.
	kernelMAC := ns.HardwareAddr(t, dev.Name())
	got, err := dev.HardwareAddr()
	if err != nil || got != kernelMAC {
		t.Errorf("HardwareAddr = %v, %v; want %v (ip link in the namespace)", got, err, kernelMAC)
	}

	if _, err := dev.Write(arpRequest()); err != nil {
		t.Fatalf("Write: %v", err)
	}
	reply := readUntil(t, dev, "the ARP reply", isARPReplyFrom(kernelMAC))
	t.Logf("ARP reply from %v: %x", kernelMAC, reply)
}

func TestTUNEchoWithKernel(t *testing.T) {
	leakcheck.Check(t)
	dev, _ := inNamespace(t, tun.TUN)
	if a, err := dev.HardwareAddr(); err != nil || !a.IsZero() {
		t.Errorf("HardwareAddr of a TUN device = %v, %v; want zero, nil", a, err)
	}

	const id, seq = 0x7707, 1
	payload := []byte("ustack tun test!")
	// RFC 791 §3.1: a 20-byte IPv4 header, no options.
	pkt := make([]byte, 20+8+len(payload))
	pkt[0] = 0x45                                         // version 4, IHL 5
	binary.BigEndian.PutUint16(pkt[2:], uint16(len(pkt))) // total length
	binary.BigEndian.PutUint16(pkt[4:], 0x1234)           // identification
	binary.BigEndian.PutUint16(pkt[6:], 0x4000)           // DF
	pkt[8] = 64                                           // TTL
	pkt[9] = uint8(tcpip.ICMPv4ProtocolNumber)
	copy(pkt[12:], ourAddr.AsSlice())
	copy(pkt[16:], kernelAddr.AsSlice())
	binary.BigEndian.PutUint16(pkt[10:], ^header.Checksum(pkt[:20], 0))
	// RFC 792: echo request, checksum over the ICMP message.
	icmp := pkt[20:]
	icmp[0] = 8
	binary.BigEndian.PutUint16(icmp[4:], id)
	binary.BigEndian.PutUint16(icmp[6:], seq)
	copy(icmp[8:], payload)
	binary.BigEndian.PutUint16(icmp[2:], ^header.Checksum(icmp, 0))

	if _, err := dev.Write(pkt); err != nil {
		t.Fatalf("Write: %v", err)
	}
	reply := readUntil(t, dev, "the echo reply", func(p []byte) bool {
		if len(p) < 28 || p[0]>>4 != 4 || p[9] != uint8(tcpip.ICMPv4ProtocolNumber) {
			return false
		}
		ihl := int(p[0]&0xf) * 4
		return len(p) >= ihl+8 && p[ihl] == 0 &&
			binary.BigEndian.Uint16(p[ihl+4:]) == id && binary.BigEndian.Uint16(p[ihl+6:]) == seq
	})
	ihl := int(reply[0]&0xf) * 4
	if src, dst := netip.AddrFrom4([4]byte(reply[12:16])), netip.AddrFrom4([4]byte(reply[16:20])); src != kernelAddr || dst != ourAddr {
		t.Errorf("echo reply from %v to %v, want %v to %v", src, dst, kernelAddr, ourAddr)
	}
	if header.Checksum(reply[:ihl], 0) != 0xffff {
		t.Errorf("echo reply: bad IPv4 header checksum")
	}
	if header.Checksum(reply[ihl:], 0) != 0xffff {
		t.Errorf("echo reply: bad ICMP checksum")
	}
	if !bytes.Equal(reply[ihl+8:], payload) {
		t.Errorf("echo reply payload %q, want %q", reply[ihl+8:], payload)
	}
}

func TestMTUFollowsDevice(t *testing.T) {
	leakcheck.Check(t)
	ns := netns.New(t)
	dev := open(t, tun.Config{Mode: tun.TAP, MTU: 1400, Up: true})
	if mtu, err := dev.MTU(); err != nil || mtu != 1400 {
		t.Errorf("MTU after Open with MTU 1400 = %d, %v", mtu, err)
	}
	out, err := exec.Command("ip", "link", "show", "dev", dev.Name()).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "mtu 1400") || !strings.Contains(string(out), ",UP") {
		t.Errorf("ip link show %s after Open with MTU 1400, Up: %v\n%s", dev.Name(), err, out)
	}
	// Moved into the namespace and changed there: MTU asks the kernel in
	// the device's namespace, where the name now lives.
	ns.MoveLink(t, dev.Name())
	ns.SetMTU(t, dev.Name(), 1280)
	if mtu, err := dev.MTU(); err != nil || mtu != 1280 {
		t.Errorf("MTU after the namespace set 1280 = %d, %v", mtu, err)
	}
	before, err := dev.HardwareAddr()
	if err != nil {
		t.Fatal(err)
	}
	if after := ns.HardwareAddr(t, dev.Name()); after != before {
		t.Errorf("HardwareAddr %v, namespace says %v", before, after)
	}
}

func TestReadBatch(t *testing.T) {
	leakcheck.Check(t)
	dev, ns := inNamespace(t, tun.TAP)
	kernelMAC := ns.HardwareAddr(t, dev.Name())
	if n, err := dev.ReadBatch(nil, nil); n != 0 || err != nil {
		t.Errorf("ReadBatch with no buffers = %d, %v; want 0, nil", n, err)
	}
	// The kernel answers each request while the write is in progress,
	// so four replies are queued once the four writes return.
	const requests = 4
	for range requests {
		if _, err := dev.Write(arpRequest()); err != nil {
			t.Fatalf("Write: %v", err)
		}
	}
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	defer cancel()
	defer context.AfterFunc(ctx, func() { dev.Close() })()
	bufs := make([][]byte, 8)
	for i := range bufs {
		bufs[i] = make([]byte, 1600)
	}
	sizes := make([]int, len(bufs))
	isReply := isARPReplyFrom(kernelMAC)
	replies, largest := 0, 0
	for replies < requests {
		n, err := dev.ReadBatch(bufs, sizes)
		if err != nil {
			t.Fatalf("ReadBatch after %d replies: %v", replies, err)
		}
		if n < 1 || n > len(bufs) {
			t.Fatalf("ReadBatch = %d", n)
		}
		largest = max(largest, n)
		for i := range n {
			if isReply(bufs[i][:sizes[i]]) {
				replies++
			}
		}
	}
	if largest < 2 {
		t.Errorf("every ReadBatch returned one frame, although %d replies were queued", requests)
	}
	// Fewer buffers than sizes, and the reverse: the shorter one bounds.
	for range 3 {
		if _, err := dev.Write(arpRequest()); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := dev.ReadBatch(bufs[:1], sizes); n != 1 || err != nil {
		t.Errorf("ReadBatch with one buffer = %d, %v", n, err)
	}
	if n, err := dev.ReadBatch(bufs, sizes[:2]); n < 1 || n > 2 || err != nil {
		t.Errorf("ReadBatch with two sizes = %d, %v", n, err)
	}
}

// blockedInPoll reports whether some goroutine is in Read and waiting in
// poll(2).
func blockedInPoll() bool {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	for g := range bytes.SplitSeq(buf, []byte("\n\n")) {
		if bytes.Contains(g, []byte("tun.(*Device).Read")) && bytes.Contains(g, []byte("unix.Poll")) {
			return true
		}
	}
	return false
}

func TestCloseUnblocksRead(t *testing.T) {
	leakcheck.Check(t)
	netns.RequireRoot(t)
	// A device that is down: nothing will ever arrive.
	dev := open(t, tun.Config{Mode: tun.TAP})
	readErr := make(chan error, 1)
	go func() {
		_, err := dev.Read(make([]byte, 1600))
		readErr <- err
	}()
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	defer cancel()
	for !blockedInPoll() {
		if ctx.Err() != nil {
			t.Fatal("Read never blocked in poll")
		}
		runtime.Gosched()
	}
	closeErr := make(chan error, 1)
	go func() { closeErr <- dev.Close() }()
	// "Promptly": well within two seconds on any machine; in practice
	// microseconds.
	prompt, cancelPrompt := context.WithTimeout(ctx, 2*time.Second)
	defer cancelPrompt()
	for range 2 {
		select {
		case err := <-readErr:
			if !errors.Is(err, net.ErrClosed) {
				t.Errorf("blocked Read returned %v, want net.ErrClosed", err)
			}
		case err := <-closeErr:
			if err != nil {
				t.Errorf("Close: %v", err)
			}
		case <-prompt.Done():
			t.Fatal("Read or Close still blocked 2s after Close")
		}
	}

	// Everything after Close reports net.ErrClosed.
	if _, err := dev.Read(make([]byte, 10)); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Read after Close: %v", err)
	}
	if _, err := dev.ReadBatch([][]byte{make([]byte, 10)}, []int{0}); !errors.Is(err, net.ErrClosed) {
		t.Errorf("ReadBatch after Close: %v", err)
	}
	if _, err := dev.Write(arpRequest()); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Write after Close: %v", err)
	}
	if _, err := dev.MTU(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("MTU after Close: %v", err)
	}
	if _, err := dev.HardwareAddr(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("HardwareAddr after Close: %v", err)
	}
	if err := dev.Close(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("second Close: %v", err)
	}
	// The kernel deleted the device with its last descriptor.
	if err := exec.Command("ip", "link", "show", "dev", dev.Name()).Run(); err == nil {
		t.Errorf("device %s still exists after Close", dev.Name())
	}
}

func TestConcurrentWritersAndClose(t *testing.T) {
	leakcheck.Check(t)
	dev, _ := inNamespace(t, tun.TAP)
	frame := arpRequest()
	var wg sync.WaitGroup
	errs := make(chan error, 5)
	for range 4 {
		wg.Go(func() {
			for {
				if _, err := dev.Write(frame); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Go(func() {
		buf := make([]byte, 1600)
		for {
			if _, err := dev.Read(buf); err != nil {
				errs <- err
				return
			}
		}
	})
	// Let frames flow: wait for some replies to have been read, then
	// close under load.
	readUntil(t, dev, "an ARP reply", func([]byte) bool { return true })
	if err := dev.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if !errors.Is(err, net.ErrClosed) {
			t.Errorf("writer or reader ended with %v, want net.ErrClosed", err)
		}
	}
}

func TestNamespaceDeletedUnderOpenDevice(t *testing.T) {
	leakcheck.Check(t)
	ns := netns.New(t)
	dev := open(t, tun.Config{Mode: tun.TAP})
	// Moved by hand rather than by MoveLink, so that deleting the
	// namespace is all that happens to the device.
	if out, err := exec.Command("ip", "link", "set", "dev", dev.Name(), "netns", ns.Name()).CombinedOutput(); err != nil {
		t.Fatalf("ip link set netns: %v\n%s", err, out)
	}
	readErr := make(chan error, 1)
	go func() {
		_, err := dev.Read(make([]byte, 1600))
		readErr <- err
	}()
	ns.Delete(t)
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	defer cancel()
	select {
	case err := <-readErr:
		// The kernel deletes the virtual device with its namespace; the
		// descriptor stays open but is detached (tun: EBADFD).
		if !errors.Is(err, unix.EBADFD) {
			t.Errorf("Read after the namespace was deleted: %v, want EBADFD", err)
		}
		t.Logf("Read after the namespace was deleted: %v", err)
	case <-ctx.Done():
		t.Fatal("Read still blocked after the device's namespace was deleted")
	}
	if _, err := dev.Write(arpRequest()); !errors.Is(err, unix.EBADFD) {
		t.Errorf("Write to the deleted device: %v, want EBADFD", err)
	}
	if err := dev.Close(); err != nil {
		t.Errorf("Close of the deleted device: %v", err)
	}
}

func TestOpenErrors(t *testing.T) {
	leakcheck.Check(t)
	netns.RequireRoot(t)
	for _, tc := range []struct {
		cfg   tun.Config
		errno error // nil: any error
	}{
		{tun.Config{Name: "bad/name", Mode: tun.TAP}, unix.EINVAL},
		{tun.Config{Name: "bad name", Mode: tun.TUN}, unix.EINVAL},
		{tun.Config{Name: "..", Mode: tun.TAP}, unix.EINVAL},
		{tun.Config{Name: "sixteen-bytes-xx", Mode: tun.TAP}, unix.EINVAL},
		{tun.Config{Name: netns.UniqueIfName("ustk"), Mode: 0}, nil},
		{tun.Config{Name: netns.UniqueIfName("ustk"), Mode: 7}, nil},
		{tun.Config{Name: netns.UniqueIfName("ustk"), Mode: tun.TAP, MTU: -1}, nil},
		// The kernel rejects an MTU over 65535 for TUN/TAP.
		{tun.Config{Name: netns.UniqueIfName("ustk"), Mode: tun.TAP, MTU: 1 << 20}, unix.EINVAL},
	} {
		dev, err := tun.Open(tc.cfg)
		if err == nil {
			dev.Close()
			t.Errorf("Open(%+v) succeeded", tc.cfg)
			continue
		}
		if tc.errno != nil && !errors.Is(err, tc.errno) {
			t.Errorf("Open(%+v) = %v, want %v", tc.cfg, err, tc.errno)
		}
		if !strings.Contains(err.Error(), tc.cfg.Name) {
			t.Errorf("Open(%+v) error %q does not name the device", tc.cfg, err)
		}
	}
}

func TestAttachSemantics(t *testing.T) {
	leakcheck.Check(t)
	netns.RequireRoot(t)

	// A new device is not persistent: attached twice is refused, and it
	// disappears with its descriptor.
	dev := open(t, tun.Config{Mode: tun.TAP})
	if _, err := tun.Open(tun.Config{Name: dev.Name(), Mode: tun.TAP}); !errors.Is(err, unix.EBUSY) {
		t.Errorf("second Open of an attached device: %v, want EBUSY", err)
	}
	dev.Close()
	if exec.Command("ip", "link", "show", "dev", dev.Name()).Run() == nil {
		t.Errorf("%s still exists after Close", dev.Name())
	}

	// A persistent device: Open attaches and Close leaves it.
	name := netns.UniqueIfName("ustkp")
	if out, err := exec.Command("ip", "tuntap", "add", "mode", "tap", "name", name).CombinedOutput(); err != nil {
		t.Fatalf("ip tuntap add: %v\n%s", err, out)
	}
	t.Cleanup(func() { exec.Command("ip", "tuntap", "del", "mode", "tap", "name", name).Run() })
	if _, err := tun.Open(tun.Config{Name: name, Mode: tun.TAP, Exclusive: true}); !errors.Is(err, unix.EBUSY) {
		t.Errorf("Exclusive Open of an existing device: %v, want EBUSY", err)
	}
	if _, err := tun.Open(tun.Config{Name: name, Mode: tun.TUN}); !errors.Is(err, unix.EINVAL) {
		t.Errorf("TUN Open of a TAP device: %v, want EINVAL", err)
	}
	p := open(t, tun.Config{Name: name, Mode: tun.TAP, MTU: 1300})
	if mtu, err := p.MTU(); err != nil || mtu != 1300 {
		t.Errorf("MTU = %d, %v", mtu, err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("ip", "link", "show", "dev", name).CombinedOutput(); err != nil {
		t.Errorf("persistent %s gone after Close: %v\n%s", name, err, out)
	}

	// An empty name: the kernel picks one.
	k, err := tun.Open(tun.Config{Mode: tun.TUN})
	if err != nil {
		t.Fatalf("Open with no name: %v", err)
	}
	defer k.Close()
	if !strings.HasPrefix(k.Name(), "tun") {
		t.Errorf("kernel-chosen name %q, want tunN", k.Name())
	}
	if out, err := exec.Command("ip", "link", "show", "dev", k.Name()).CombinedOutput(); err != nil {
		t.Errorf("kernel-chosen %s: %v\n%s", k.Name(), err, out)
	}
}

func TestModeString(t *testing.T) {
	for m, want := range map[tun.Mode]string{tun.TAP: "tap", tun.TUN: "tun", 0: "Mode(0)", 9: "Mode(9)"} {
		if got := m.String(); got != want {
			t.Errorf("Mode(%d).String() = %q, want %q", int(m), got, want)
		}
	}
}

func TestReadWriteAllocations(t *testing.T) {
	dev, ns := inNamespace(t, tun.TAP)
	kernelMAC := ns.HardwareAddr(t, dev.Name())
	frame := arpRequest()
	buf := make([]byte, 1600)
	isReply := isARPReplyFrom(kernelMAC)
	// Warm up, and drain what the kernel sent when the link came up.
	if _, err := dev.Write(frame); err != nil {
		t.Fatal(err)
	}
	readUntil(t, dev, "the first ARP reply", isReply)
	allocs := testing.AllocsPerRun(50, func() {
		if _, err := dev.Write(frame); err != nil {
			t.Fatal(err)
		}
		for {
			n, err := dev.Read(buf)
			if err != nil {
				t.Fatal(err)
			}
			if isReply(buf[:n]) {
				return
			}
		}
	})
	if allocs != 0 {
		t.Errorf("Write+Read allocate %v times per frame, want 0", allocs)
	}
}
