package tun

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/ustack-go/ustack/header"
	"github.com/ustack-go/ustack/tcpip"
)

// Mode selects what the device carries. The zero value is not a mode: Open
// rejects it.
type Mode int

const (
	// TAP devices carry Ethernet II frames (without the frame check
	// sequence).
	TAP Mode = iota + 1
	// TUN devices carry IPv4 and IPv6 packets, with no link header and no
	// packet-information prefix; the version nibble tells them apart.
	TUN
)

// String returns "tap", "tun" or "Mode(N)".
func (m Mode) String() string {
	switch m {
	case TAP:
		return "tap"
	case TUN:
		return "tun"
	}
	return "Mode(" + strconv.Itoa(int(m)) + ")"
}

// Config says which device Open gives access to and how to set it up.
type Config struct {
	// Name is the interface name, at most 15 bytes. Empty lets the kernel
	// choose ("tap0"); a name containing "%d" is a template the kernel
	// completes with the first free number.
	Name string
	// Mode is TAP or TUN.
	Mode Mode
	// MTU, if positive, is set on the device (SIOCSIFMTU). Zero leaves the
	// MTU as it is (1500 for a new device).
	MTU int
	// Up brings the link up (IFF_UP) after Open has set the MTU.
	Up bool
	// Exclusive makes Open fail with EBUSY if a device of this name
	// already exists, instead of attaching to it (IFF_TUN_EXCL).
	Exclusive bool
	// VnetHdr, if not zero, opens the device with IFF_VNET_HDR: every
	// frame read or written is preceded by a virtio-net header
	// (header.VirtioNet) of this many bytes, header.VirtioNetSize (10)
	// or header.VirtioNetMrgRxbufSize (12), set with TUNSETVNETHDRSZ.
	// Device.Read and Device.Write move the header with the frame; an
	// Endpoint adds and strips it.
	VnetHdr int
	// Offload, with VnetHdr, tells the kernel which work it may leave to
	// ustack (TUNSETOFFLOAD): partial checksums, and TCP super-segments
	// of up to 64 KiB that are not cut to the MTU. Zero leaves the
	// kernel doing all of it, and the header's flags are then always 0
	// or VirtioNetDataValid.
	Offload Offload
}

// Offload is a set of the TUN driver's offload flags (TUN_F_* of
// linux/if_tun.h), which say what the kernel may hand to the reader of a
// device opened with a virtio-net header undone.
type Offload uint

// Offload flags.
const (
	// OffloadCsum (TUN_F_CSUM): the kernel may send packets whose
	// transport checksum is partial (header.VirtioNetNeedsCsum); without
	// it, TSO flags are ignored by the kernel.
	OffloadCsum Offload = 0x01
	// OffloadTSO4 (TUN_F_TSO4): the kernel may send TCP over IPv4
	// super-segments (header.VirtioNetGSOTCPv4).
	OffloadTSO4 Offload = 0x02
	// OffloadTSO6 (TUN_F_TSO6): likewise for TCP over IPv6.
	OffloadTSO6 Offload = 0x04
)

// tunDevicePath is the clone device of the TUN/TAP driver.
const tunDevicePath = "/dev/net/tun"

// Device is an open TUN or TAP device. Its methods are safe for concurrent
// use: any number of goroutines may Write while one (or more) Read; each
// call moves exactly one whole frame, never part of one.
type Device struct {
	name    string  // the name the kernel gave at Open; immutable
	mode    Mode    // immutable
	vnetHdr int     // size of the virtio-net header, 0 without; immutable
	offload Offload // immutable

	// closed is set once, by the first Close, before the eventfd is
	// written. Operations check it before each system call.
	closed atomic.Bool

	// mu is held for reading by every operation for as long as it uses fd
	// or efd, and for writing by Close while it closes them, so that no
	// operation passes a descriptor number to the kernel after Close has
	// released it (the process may have reused the number by then).
	// Operations holding mu for reading never block except in poll on
	// efd, which Close makes readable before it takes mu for writing.
	mu  sync.RWMutex
	fd  int // the /dev/net/tun descriptor, non-blocking, attached to the device
	efd int // eventfd, readable from the moment Close starts
}

// Open attaches to the device cfg.Name, creating it if it does not exist,
// and sets it up as cfg says (see the package documentation for who owns
// the device and when it disappears). It needs CAP_NET_ADMIN to create a
// device, set its MTU or bring it up; attaching to a persistent device owned
// by the caller (`ip tuntap add ... user U`) needs no privilege. Errors wrap
// the errno (errors.Is(err, unix.EBUSY)) and name the device.
func Open(cfg Config) (*Device, error) {
	var flags uint16
	switch cfg.Mode {
	case TAP:
		flags = unix.IFF_TAP | unix.IFF_NO_PI
	case TUN:
		flags = unix.IFF_TUN | unix.IFF_NO_PI
	default:
		return nil, fmt.Errorf("tun: open %q: invalid mode %v", cfg.Name, cfg.Mode)
	}
	if cfg.Exclusive {
		flags |= unix.IFF_TUN_EXCL
	}
	switch {
	case cfg.VnetHdr == 0 && cfg.Offload != 0:
		return nil, fmt.Errorf("tun: open %q: offloads need a virtio-net header", cfg.Name)
	case cfg.VnetHdr != 0 && cfg.VnetHdr != header.VirtioNetSize && cfg.VnetHdr != header.VirtioNetMrgRxbufSize:
		return nil, fmt.Errorf("tun: open %q: virtio-net header of %d bytes (want %d or %d)", cfg.Name, cfg.VnetHdr, header.VirtioNetSize, header.VirtioNetMrgRxbufSize)
	case cfg.Offload&^(OffloadCsum|OffloadTSO4|OffloadTSO6) != 0:
		return nil, fmt.Errorf("tun: open %q: unknown offload flags %#x", cfg.Name, uint(cfg.Offload))
	case cfg.Offload != 0 && cfg.Offload&OffloadCsum == 0:
		return nil, fmt.Errorf("tun: open %q: TSO needs OffloadCsum", cfg.Name)
	}
	if cfg.VnetHdr != 0 {
		flags |= unix.IFF_VNET_HDR
	}
	if cfg.MTU < 0 {
		return nil, fmt.Errorf("tun: open %q: negative MTU %d", cfg.Name, cfg.MTU)
	}
	ifr, err := unix.NewIfreq(cfg.Name)
	if err != nil {
		return nil, fmt.Errorf("tun: open %q: name longer than %d bytes: %w", cfg.Name, unix.IFNAMSIZ-1, err)
	}

	fd, err := unix.Open(tunDevicePath, unix.O_RDWR|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("tun: open %q: %s: %w", cfg.Name, tunDevicePath, err)
	}
	ifr.SetUint16(flags)
	if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("tun: open %q: TUNSETIFF: %w", cfg.Name, err)
	}
	d := &Device{name: ifr.Name(), mode: cfg.Mode, vnetHdr: cfg.VnetHdr, offload: cfg.Offload, fd: fd, efd: -1}
	// From here on, closing fd undoes the attachment (and deletes the
	// device if TUNSETIFF created it).
	if err := d.setVnetHdr(); err != nil {
		unix.Close(fd)
		return nil, err
	}
	if err := d.setUp(cfg); err != nil {
		unix.Close(fd)
		return nil, err
	}
	d.efd, err = unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		unix.Close(fd)
		return nil, d.wrap("eventfd", err)
	}
	return d, nil
}

// setVnetHdr sets the virtio-net header's size, its byte order and the
// offloads on a device opened with IFF_VNET_HDR.
func (d *Device) setVnetHdr() error {
	if d.vnetHdr == 0 {
		return nil
	}
	if err := unix.IoctlSetPointerInt(d.fd, unix.TUNSETVNETHDRSZ, d.vnetHdr); err != nil {
		return d.wrap("TUNSETVNETHDRSZ "+strconv.Itoa(d.vnetHdr), err)
	}
	// header.VirtioNet is little-endian (VIRTIO 1.2 §5.1.6); without
	// TUNSETVNETLE a big-endian host would get the legacy host order.
	if err := unix.IoctlSetPointerInt(d.fd, unix.TUNSETVNETLE, 1); err != nil && !littleEndianHost() {
		return d.wrap("TUNSETVNETLE", err)
	}
	// TUNSETOFFLOAD takes the flags by value, and zero clears them (a
	// persistent device may keep those of a previous owner).
	if err := unix.IoctlSetInt(d.fd, unix.TUNSETOFFLOAD, int(d.offload)); err != nil {
		return d.wrap(fmt.Sprintf("TUNSETOFFLOAD %#x", uint(d.offload)), err)
	}
	return nil
}

// littleEndianHost reports whether the host stores integers
// least-significant byte first, as the TUN driver's legacy virtio-net
// header order then is little-endian anyway.
func littleEndianHost() bool {
	var b [2]byte
	binary.NativeEndian.PutUint16(b[:], 1)
	return b[0] == 1
}

// setUp applies cfg.MTU and cfg.Up. The device has just been attached in
// the caller's namespace, so a control socket of that namespace finds it.
func (d *Device) setUp(cfg Config) error {
	if cfg.MTU == 0 && !cfg.Up {
		return nil
	}
	s, err := tunControlSocket()
	if err != nil {
		return d.wrap("socket", err)
	}
	defer unix.Close(s)
	if cfg.MTU > 0 {
		ifr, err := unix.NewIfreq(d.name)
		if err != nil {
			return d.wrap("SIOCSIFMTU", err)
		}
		ifr.SetUint32(uint32(cfg.MTU))
		if err := unix.IoctlIfreq(s, unix.SIOCSIFMTU, ifr); err != nil {
			return d.wrap("SIOCSIFMTU "+strconv.Itoa(cfg.MTU), err)
		}
	}
	if cfg.Up {
		ifr, err := unix.NewIfreq(d.name)
		if err != nil {
			return d.wrap("SIOCGIFFLAGS", err)
		}
		if err := unix.IoctlIfreq(s, unix.SIOCGIFFLAGS, ifr); err != nil {
			return d.wrap("SIOCGIFFLAGS", err)
		}
		ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
		if err := unix.IoctlIfreq(s, unix.SIOCSIFFLAGS, ifr); err != nil {
			return d.wrap("SIOCSIFFLAGS", err)
		}
	}
	return nil
}

// tunControlSocket returns a socket of the calling thread's network
// namespace for the SIOC[GS]IF* ioctls, which look the interface up by name
// in the socket's namespace. Any socket family reaches them; AF_INET is the
// conventional one, with AF_UNIX as the fallback on kernels without IPv4.
func tunControlSocket() (int, error) {
	s, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err == nil {
		return s, nil
	}
	return unix.Socket(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
}

// Name returns the interface name the kernel gave the device at Open. It
// does not follow a later rename.
func (d *Device) Name() string { return d.name }

// Mode returns the mode the device was opened in.
func (d *Device) Mode() Mode { return d.mode }

// VnetHdr returns the size of the virtio-net header before each frame, 0
// if the device was opened without one.
func (d *Device) VnetHdr() int { return d.vnetHdr }

// Offload returns the offloads the device was opened with.
func (d *Device) Offload() Offload { return d.offload }

// MTU returns the device's current MTU, asked of the kernel each time (an
// administrator may change it), in whichever namespace the device is now.
func (d *Device) MTU() (int, error) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if d.closed.Load() {
		return 0, d.wrap("MTU", net.ErrClosed)
	}
	var mtu int
	err := d.withControlSocket(func(s int, ifr *unix.Ifreq) error {
		if err := unix.IoctlIfreq(s, unix.SIOCGIFMTU, ifr); err != nil {
			return err
		}
		mtu = int(int32(ifr.Uint32()))
		return nil
	})
	if err != nil {
		return 0, d.wrap("SIOCGIFMTU", err)
	}
	return mtu, nil
}

// HardwareAddr returns the MAC address of a TAP device's kernel side (the
// source address of the frames the kernel sends through it), wherever the
// device is now: the TUN driver answers for its attached device. A TUN
// device has none: it returns the zero LinkAddress and no error.
func (d *Device) HardwareAddr() (tcpip.LinkAddress, error) {
	if d.mode != TAP {
		return tcpip.LinkAddress{}, nil
	}
	d.mu.RLock()
	defer d.mu.RUnlock()
	if d.closed.Load() {
		return tcpip.LinkAddress{}, d.wrap("HardwareAddr", net.ErrClosed)
	}
	addr, err := tunGetHardwareAddr(d.fd)
	if err != nil {
		return tcpip.LinkAddress{}, d.wrap("SIOCGIFHWADDR", err)
	}
	return addr, nil
}

// Read reads one frame (TAP) or packet (TUN) into b, blocking until one
// arrives, and returns its length. b should hold the MTU plus the link
// header (14 bytes for TAP, 18 with an 802.1Q tag), plus the virtio-net
// header before it if the device has one (with TSO, a super-segment of up
// to 64 KiB instead of the MTU): the kernel truncates a longer frame to
// fit. After Close, and while Close runs, Read returns an
// error matching net.ErrClosed.
func (d *Device) Read(b []byte) (int, error) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return d.readRLocked(b, true /* block */)
}

// ReadBatch reads frames into bufs[0], bufs[1], … and their lengths into
// sizes, blocking until at least one frame is available, then taking as
// many more as are ready without blocking, up to min(len(bufs),
// len(sizes)). It returns how many it read. An error after the first frame
// ends the batch early and is reported by the next call; with no room at all
// it returns 0, nil at once.
func (d *Device) ReadBatch(bufs [][]byte, sizes []int) (int, error) {
	n := min(len(bufs), len(sizes))
	if n == 0 {
		return 0, nil
	}
	d.mu.RLock()
	defer d.mu.RUnlock()
	m, err := d.readRLocked(bufs[0], true /* block */)
	if err != nil {
		return 0, err
	}
	sizes[0] = m
	for i := 1; i < n; i++ {
		m, err := d.readRLocked(bufs[i], false /* block */)
		if err != nil {
			return i, nil
		}
		sizes[i] = m
	}
	return n, nil
}

// readRLocked reads one frame; with block false it returns EAGAIN instead
// of waiting. d.mu must be held for reading.
func (d *Device) readRLocked(b []byte, block bool) (int, error) {
	for {
		if d.closed.Load() {
			return 0, d.wrap("read", net.ErrClosed)
		}
		n, err := unix.Read(d.fd, b)
		switch err {
		case nil:
			return n, nil
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			if !block {
				return 0, err
			}
			if err := d.waitRLocked(unix.POLLIN); err != nil {
				return 0, d.wrap("read", err)
			}
		default:
			return 0, d.wrap("read", err)
		}
	}
}

// Write sends b as one frame (TAP: an Ethernet header and its payload; TUN:
// an IP packet). If the device's queue is full it waits until there is room.
// After Close, and while Close runs, Write returns an error matching
// net.ErrClosed.
func (d *Device) Write(b []byte) (int, error) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	for {
		if d.closed.Load() {
			return 0, d.wrap("write", net.ErrClosed)
		}
		n, err := unix.Write(d.fd, b)
		switch err {
		case nil:
			return n, nil
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			if err := d.waitRLocked(unix.POLLOUT); err != nil {
				return 0, d.wrap("write", err)
			}
		default:
			return 0, d.wrap("write", err)
		}
	}
}

// waitRLocked blocks until fd reports one of events (or an error condition,
// which the next read or write returns) or until Close starts, in which case
// it returns net.ErrClosed. d.mu must be held for reading.
func (d *Device) waitRLocked(events int16) error {
	fds := [2]unix.PollFd{
		{Fd: int32(d.fd), Events: events},
		{Fd: int32(d.efd), Events: unix.POLLIN},
	}
	for {
		_, err := unix.Poll(fds[:], -1)
		switch {
		case err == unix.EINTR:
			continue
		case err != nil:
			return err
		case fds[1].Revents != 0:
			return net.ErrClosed
		case fds[0].Revents != 0:
			return nil
		}
	}
}

// Close detaches from the device, which the kernel then deletes unless it
// is persistent or another descriptor is attached to it. It wakes every
// Read, ReadBatch and Write blocked on the device, waits for them to
// return, and releases the descriptors. A second Close returns an error
// matching net.ErrClosed.
func (d *Device) Close() error {
	if d.closed.Swap(true) {
		return d.wrap("close", net.ErrClosed)
	}
	// Wake the pollers. eventfd(2): a write of 8 bytes adds to the
	// counter; it cannot fail for a value of 1 written once, but an
	// interrupted write is retried.
	var one [8]byte
	binary.NativeEndian.PutUint64(one[:], 1)
	var werr error
	for {
		_, werr = unix.Write(d.efd, one[:])
		if werr != unix.EINTR {
			break
		}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	err := unix.Close(d.fd)
	eerr := unix.Close(d.efd)
	d.fd, d.efd = -1, -1
	if err = errors.Join(err, werr, eerr); err != nil {
		return d.wrap("close", err)
	}
	return nil
}

// wrap names the device and the operation in err, which stays matchable
// with errors.Is.
func (d *Device) wrap(op string, err error) error {
	return fmt.Errorf("tun %s: %s: %w", d.name, op, err)
}
