// Package tun gives access to a Linux TUN or TAP device through
// /dev/net/tun: a TAP device carries Ethernet frames, a TUN device carries
// bare IP packets. The package builds on every platform but has content only
// on Linux; elsewhere it is empty.
//
// # Creating and attaching
//
// [Open] asks the kernel for the device named in [Config].Name with the
// TUNSETIFF ioctl. If no device of that name exists in the caller's network
// namespace, the kernel creates one, and that device is not persistent: it
// disappears when the last file descriptor attached to it is closed, that is
// at [Device.Close] unless another process attached to it too. If a device of
// that name exists (made persistent by `ip tuntap add`, say), Open attaches
// to it instead, and Close detaches without deleting it; the kernel refuses
// the attachment with EBUSY when another descriptor is already attached
// (ustack does not use multi-queue devices yet), and with EINVAL when the
// existing device is of the other mode. [Config].Exclusive makes Open fail
// with EBUSY rather than attach. An empty name lets the kernel choose one
// ("tap0", "tun3"); [Device.Name] returns it.
//
// Devices are opened without the packet-information prefix (IFF_NO_PI): a
// read returns exactly one frame (TAP) or one IP packet (TUN), a write sends
// exactly one.
//
// # The virtio-net header
//
// [Config].VnetHdr opens the device with IFF_VNET_HDR: each frame read or
// written through the descriptor is then preceded by a virtio-net header
// (header.VirtioNet, 10 or 12 bytes, little-endian by TUNSETVNETLE), which
// [Device.Read] and [Device.Write] pass through as they are and an
// [Endpoint] adds and strips. With [Config].Offload (TUNSETOFFLOAD) the
// kernel may hand up frames with the transport checksum left partial and,
// with TSO, TCP super-segments of up to 64 KiB whose IP header counts the
// whole of them, sparing it the segmentation and the checksums of the
// frames it sends. The Endpoint completes a partial checksum before
// delivery (the stack checks it as usual) and delivers a super-segment
// whole, as one large TCP segment. The other way, it hands the kernel
// super-segments too: WritePackets queues the stack's packets for a writer
// goroutine, which merges each run of in-order segments of one TCP
// connection into one frame with a GSO header and a partial checksum, so
// that one write(2), and one pass through the kernel's receive path,
// carries up to 64 KiB; other frames go out alone with a header of zeros.
//
// # Blocking and Close
//
// The descriptor is non-blocking and the package waits for it with poll(2)
// on the device and on an eventfd together. [Device.Close] writes the eventfd,
// which wakes every Read, ReadBatch and Write blocked in poll; they return an
// error that matches [net.ErrClosed] with errors.Is. Close then waits for
// them to leave before closing the descriptors, so that no operation ever
// uses a descriptor number that the process may already have reused. The
// blocking happens on the caller's goroutine and a Device keeps no
// goroutine of its own (MTU may start one that ends as it returns, see
// below), so nothing stays behind after Close. An [Endpoint] (the
// stack.LinkEndpoint over a Device) runs one reader goroutine from its first
// Attach until Close, and with a virtio-net header one writer goroutine from
// its first write until Close.
//
// The package does not hand the descriptor to Go's runtime poller
// (os.NewFile of a non-blocking descriptor), although that can be made to
// work: closing such an *os.File does wake a parked Read. It rests on
// invariants that are easy to break without noticing: the descriptor must
// be registered with epoll only after TUNSETIFF (an unattached tun
// descriptor reports EPOLLERR, golang/go#30426), and a single call to
// (*os.File).Fd switches it back to blocking mode, after which Close no
// longer unblocks Read (songgao/water#22). It also reports os.ErrClosed, not
// net.ErrClosed, and takes the file's internal locks for every frame of a
// batch. Explicit poll(2) with an eventfd has none of these traps, gives
// ReadBatch one lock and plain read(2) calls per batch, and behaves the same
// on every kernel. Its cost: a Read blocked in poll holds an OS thread
// (the runtime starts another for other goroutines), which for one reader
// per device is one thread.
//
// # Namespaces
//
// A device created in one network namespace can be moved to another
// (`ip link set DEV netns NS`) while it is open; frames keep flowing through
// the descriptor. [Device.MTU] and [Device.HardwareAddr] follow the device.
// HardwareAddr asks the TUN driver through the descriptor. MTU must ask
// through a socket, which looks the device up by name in the socket's own
// namespace, where the name may now be free or taken by another device: so
// MTU asks the driver which namespace the device is in now
// (TUNGETDEVNETNS, Linux 5.2) and, if that is not the caller's, creates the
// socket there from a locked OS thread that enters the namespace for the
// socket(2) call (which needs CAP_SYS_ADMIN). If the namespace the device lives in is deleted, the
// kernel deletes the device, and Read and Write fail with EBADFD.
//
// # Time
//
// Nothing in this package reads the clock or sleeps; it only blocks in poll.
package tun
