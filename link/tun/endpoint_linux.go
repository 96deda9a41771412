package tun

import (
	"errors"
	"net"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/ustack-go/ustack/buffer"
	"github.com/ustack-go/ustack/header"
	"github.com/ustack-go/ustack/link/ethernet"
	"github.com/ustack-go/ustack/link/linkutil"
	"github.com/ustack-go/ustack/stack"
	"github.com/ustack-go/ustack/tcpip"
)

// EndpointOptions configures NewEndpoint. The zero value asks the device
// for everything.
type EndpointOptions struct {
	// MTU of the endpoint; zero means the device's MTU at NewEndpoint.
	MTU uint32
	// LinkAddress of ustack's side of a TAP device; zero means one
	// derived from the kernel side's (see NewEndpoint). Ignored for TUN.
	LinkAddress tcpip.LinkAddress
	// BatchSize is the most frames read per ReadBatch; zero means
	// DefaultBatchSize.
	BatchSize int
}

// DefaultBatchSize is the reader's batch size when
// EndpointOptions.BatchSize is zero.
const DefaultBatchSize = 32

// vlanTagSize is the 802.1Q tag a TAP frame may carry beyond the Ethernet
// header (IEEE 802.1Q-2018 §9.3), counted in the read buffers so that a
// tagged frame of full MTU is not cut.
const vlanTagSize = 4

// EndpointStats counts what crosses an Endpoint.
type EndpointStats struct {
	RxPackets  tcpip.Counter // frames read and delivered
	RxBytes    tcpip.Counter
	RxDetached tcpip.Counter // read while no dispatcher was attached, discarded
	TxPackets  tcpip.Counter // frames written
	TxBytes    tcpip.Counter
	TxErrors   tcpip.Counter // frames the device refused (or written after Close)

	// With a virtio-net header (Config.VnetHdr):
	RxSuperSegments tcpip.Counter // TCP super-segments (GSO) delivered whole
	RxCsumCompleted tcpip.Counter // partial checksums completed (NEEDS_CSUM)
	RxBadVnetHdr    tcpip.Counter // frames whose header could not be honoured, dropped
	TxSuperSegments tcpip.Counter // frames written as TCP super-segments (GSO), of several packets each
}

// Endpoint is a stack.LinkEndpoint over a TUN or TAP Device. A TAP
// endpoint carries raw Ethernet frames: wrap it with ethernet.New (or use
// OpenTAPEndpoint). A TUN endpoint carries IP packets and delivers each
// with the protocol of its version nibble.
//
// The first Attach of a dispatcher starts a reader goroutine that reads
// batches of frames straight into pooled buffers and delivers them, in the
// inbound form, on that goroutine. Attach(nil) stops delivery (frames read
// meanwhile are discarded and counted) but not the reader, which only
// Close can wake from a blocked read; Close closes the device and returns
// once the reader has exited. The reader also ends on its own if the
// device goes away (its namespace was deleted: EBADFD); Err reports why.
// On a device with a virtio-net header, the first WritePackets starts a
// writer goroutine (see WritePackets), which Close stops and waits for.
//
// Its methods are safe for concurrent use; WritePackets may be called by
// any number of goroutines at once.
type Endpoint struct {
	dev      *Device
	mode     Mode
	mtu      uint32
	addr     tcpip.LinkAddress
	vnet     int // size of the virtio-net header before each frame, 0 without
	frameMax int // largest frame read or written, virtio-net header included
	batch    int
	gate     linkutil.DispatchGate
	stats    EndpointStats
	scratch  sync.Pool // *[]byte of frameMax bytes, to gather a frame for write(2)
	txq      txQueue   // with a virtio-net header: what WritePackets queued for the writer

	mu sync.Mutex
	// Guarded by mu.
	started bool
	closed  bool
	err     error         // why the reader stopped, if not Close
	done    chan struct{} // closed by the reader as it exits
}

var _ stack.LinkEndpoint = (*Endpoint)(nil)

// NewEndpoint returns a detached link endpoint over dev, which it owns
// from then on (its Close closes dev). It asks the device for its MTU
// unless opts gives one.
//
// The link address of a TAP endpoint is that of ustack's side of the
// link, which must differ from the kernel side's (Device.HardwareAddr): the
// kernel and ustack are two hosts on the same Ethernet segment, and frames
// the kernel sends to ustack are addressed to ustack's address. Unless
// opts gives one, it is the kernel side's with the lowest bit of the last
// octet flipped: unicast, and locally administered if the kernel's is
// (Linux gives TAP devices random locally administered addresses).
func NewEndpoint(dev *Device, opts EndpointOptions) (*Endpoint, error) {
	e := &Endpoint{dev: dev, mode: dev.Mode(), mtu: opts.MTU, batch: opts.BatchSize}
	if e.batch <= 0 {
		e.batch = DefaultBatchSize
	}
	if e.mtu == 0 {
		mtu, err := dev.MTU()
		if err != nil {
			return nil, err
		}
		e.mtu = uint32(mtu)
	}
	// Each read buffer holds a whole frame. Up to buffer.MaxChunkSize
	// (64 KiB) it comes from the pools; a TAP device with an MTU near
	// 64 KiB reads into unpooled chunks, which the garbage collector
	// reclaims.
	e.frameMax = int(e.mtu)
	e.vnet = dev.VnetHdr()
	e.frameMax += e.vnet
	if e.mode == TAP {
		e.frameMax += header.EthernetMinimumSize + vlanTagSize
	}
	if dev.Offload()&(OffloadTSO4|OffloadTSO6) != 0 {
		// A TCP super-segment is larger than the MTU: Linux builds
		// them up to the device's gso_max_size (64 KiB by default,
		// the whole skb less room for the TCP/IP headers), so a
		// pooled chunk of buffer.MaxChunkSize holds any, with its
		// link and virtio-net headers. A longer one would be cut by
		// the read and dropped by the IP layer (its Total Length
		// exceeds what arrived), and counted there.
		e.frameMax = max(e.frameMax, buffer.MaxChunkSize)
	}
	if e.mode == TAP {
		e.addr = opts.LinkAddress
		if e.addr.IsZero() {
			hw, err := dev.HardwareAddr()
			if err != nil {
				return nil, err
			}
			e.addr = hw
			e.addr[5] ^= 1
		}
	}
	e.txq.cond.L = &e.txq.mu
	e.scratch.New = func() any {
		b := make([]byte, e.frameMax)
		return &b
	}
	return e, nil
}

// OpenTAPEndpoint opens (creating it if needed) the TAP device name with
// the given MTU (0 leaves the device's), brings it up, and returns an
// Ethernet link over it, ready for a NIC. Closing the endpoint closes the
// device.
func OpenTAPEndpoint(name string, mtu int) (*ethernet.Endpoint, error) {
	dev, err := Open(Config{Name: name, Mode: TAP, MTU: mtu, Up: true})
	if err != nil {
		return nil, err
	}
	ep, err := NewEndpoint(dev, EndpointOptions{})
	if err != nil {
		dev.Close()
		return nil, err
	}
	return ethernet.New(ep), nil
}

// Device returns the device the endpoint reads and writes.
func (e *Endpoint) Device() *Device { return e.dev }

// Stats returns the endpoint's counters.
func (e *Endpoint) Stats() *EndpointStats { return &e.stats }

// Err returns the error that stopped the reader other than Close (EBADFD
// when the device was deleted with its namespace, say), or nil.
func (e *Endpoint) Err() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.err
}

// MTU implements stack.LinkEndpoint.
func (e *Endpoint) MTU() uint32 { return e.mtu }

// MaxHeaderLength implements stack.LinkEndpoint: the device adds no header
// (ethernet.New adds the Ethernet header of a TAP).
func (e *Endpoint) MaxHeaderLength() int { return 0 }

// LinkAddress implements stack.LinkEndpoint: ustack's address on a TAP
// link (see NewEndpoint), none on a TUN.
func (e *Endpoint) LinkAddress() tcpip.LinkAddress { return e.addr }

// Capabilities implements stack.LinkEndpoint: none (ethernet.New adds
// CapabilityResolutionRequired for a TAP).
func (e *Endpoint) Capabilities() stack.LinkCapabilities { return 0 }

// AddHeader implements stack.LinkEndpoint: nothing to add.
func (e *Endpoint) AddHeader(*buffer.Packet) {}

// Attach implements stack.LinkEndpoint. The first dispatcher attached
// starts the reader. Attach returns once no delivery to the previous
// dispatcher is in progress; it must not be called from inside a delivery.
func (e *Endpoint) Attach(d stack.NetworkDispatcher) {
	e.gate.Attach(d)
	if d == nil {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.started && !e.closed {
		e.started = true
		e.done = make(chan struct{})
		go e.read(e.done)
	}
}

// Close implements stack.LinkEndpoint: it closes the device, which wakes
// the reader, and returns once the reader has exited.
func (e *Endpoint) Close() {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return
	}
	e.closed = true
	done := e.done
	e.mu.Unlock()
	e.closeQueue(func() { e.dev.Close() })
	if done != nil {
		<-done
	}
	e.gate.Attach(nil)
}

// read is the reader goroutine.
func (e *Endpoint) read(done chan struct{}) {
	defer close(done)
	bufs := make([]buffer.Buffer, e.batch)
	slots := make([][]byte, e.batch)
	sizes := make([]int, e.batch)
	defer func() {
		for i := range bufs {
			bufs[i].Release()
		}
	}()
	// A frame no longer than copyBreak is copied into a buffer of its
	// own size, and the read buffer kept, so that small frames (ACKs)
	// do not each pin a chunk sized for the MTU (Linux drivers'
	// rx_copybreak).
	copyBreak := e.frameMax / 4
	for {
		for i := range bufs {
			if bufs[i].Len() == 0 {
				slots[i] = bufs[i].Extend(e.frameMax)
			}
		}
		n, err := e.dev.ReadBatch(slots, sizes)
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				e.mu.Lock()
				e.err = err
				e.mu.Unlock()
			}
			return
		}
		for i := range n {
			size := sizes[i]
			if e.vnet > 0 && !e.honourVnetHdr(slots[i][:size]) {
				e.stats.RxBadVnetHdr.Inc()
				continue
			}
			var pkt *buffer.Packet
			if size <= copyBreak {
				pkt = buffer.NewPacket(0, nil)
				pkt.Payload.Append(slots[i][e.vnet:size])
			} else {
				bufs[i].Truncate(size)
				bufs[i].TrimFront(e.vnet)
				pkt = buffer.NewPacket(0, &bufs[i])
			}
			size -= e.vnet
			var proto tcpip.NetworkProtocolNumber
			if e.mode == TUN && size > 0 {
				proto = linkutil.IPVersionProtocol(slots[i][e.vnet])
			}
			if e.gate.Deliver(proto, pkt) {
				e.stats.RxPackets.Inc()
				e.stats.RxBytes.Add(uint64(size))
			} else {
				e.stats.RxDetached.Inc()
			}
		}
	}
}

// WritePackets implements stack.LinkEndpoint: it writes each packet as one
// frame (TAP) or IP packet (TUN), gathering its headers and payload into
// one contiguous write. On the first error it stops and returns
// tcpip.ErrStackClosed after Close, tcpip.ErrMessageTooLong for a frame
// the device rejects as too long, and tcpip.ErrNetworkDown otherwise (the
// device was deleted, say).
//
// With a virtio-net header, the packets are queued instead and written by
// a writer goroutine, which merges runs of in-order TCP segments of one
// connection into super-segments (see txgso_linux.go); it returns
// tcpip.ErrStackClosed after Close, and counts in TxErrors the frames the
// device refuses later. It waits while the queue is full.
func (e *Endpoint) WritePackets(pkts []*buffer.Packet) (int, error) {
	if e.vnet > 0 {
		return e.enqueue(pkts)
	}
	for i, pkt := range pkts {
		size, err := e.write(pkt)
		pkt.Release()
		if err != nil {
			e.stats.TxErrors.Add(uint64(len(pkts) - i))
			for _, p := range pkts[i+1:] {
				p.Release()
			}
			return i, err
		}
		e.stats.TxPackets.Inc()
		e.stats.TxBytes.Add(uint64(size))
	}
	return len(pkts), nil
}

// write writes pkt as one frame and returns its size.
func (e *Endpoint) write(pkt *buffer.Packet) (int, error) {
	size := pkt.Len()
	var frame []byte
	var sp *[]byte
	if pkt.HeaderLen() == 0 && e.vnet == 0 {
		// A frame all in the payload (a raw write, or a pipe's
		// inbound-form packet) needs no gathering if it is one piece.
		for b := range pkt.Payload.All() {
			if len(b) == size {
				frame = b
			}
			break
		}
	}
	if frame == nil {
		if e.vnet+size > e.frameMax {
			return 0, tcpip.ErrMessageTooLong
		}
		sp = e.scratch.Get().(*[]byte)
		frame = (*sp)[:e.vnet+size]
		// The stack computes every checksum and sends no segment
		// larger than the MTU: the virtio-net header is all zeros
		// (flags 0, VIRTIO_NET_HDR_GSO_NONE), VIRTIO 1.2 §5.1.6.2.
		clear(frame[:e.vnet])
		n := e.vnet
		n += copy(frame[n:], pkt.Headers())
		for b := range pkt.Payload.All() {
			n += copy(frame[n:], b)
		}
	}
	_, err := e.dev.Write(frame)
	if sp != nil {
		e.scratch.Put(sp)
	}
	if err != nil {
		return 0, writeError(err)
	}
	return size, nil
}

// writeError maps a device write error to the stack's.
func writeError(err error) error {
	switch {
	case errors.Is(err, net.ErrClosed):
		return tcpip.ErrStackClosed
	case errors.Is(err, unix.EMSGSIZE), errors.Is(err, unix.EINVAL):
		return tcpip.ErrMessageTooLong
	}
	return tcpip.ErrNetworkDown
}
