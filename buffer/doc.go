// Package buffer holds the packet buffers of ustack: Buffer, a payload made
// of views of pooled chunks, and Packet, a payload with a header area and the
// metadata that travels with it between layers. Only ustack's protocol code
// uses this package; users of ustack see net.Conn and endpoints taking
// []byte, which copy into and out of Buffers.
//
// # Chunks and views
//
// Bytes live in chunks drawn from pooled size classes, powers of two from
// MinChunkSize (64 B) to MaxChunkSize (64 KiB); a larger payload spans
// several chunks. Each class (and the Packets and view lists) is a
// sync.Pool backed by a reserve that garbage collections do not empty, so
// that a busy stack does not reallocate its packets in flight after every
// collection: what was once in use at the same time is reused, and a
// bulk transfer allocates nothing per packet once warm. The reserves hold
// at most 128 MiB together (16384 objects per class), and let go of what
// stayed unused in them for a minute (Stats.ReserveBytes,
// ReleaseReserves). New chunks and Packets are made in batches, an eighth
// of those made so far at a time (at most 64, or 512 KiB), in one
// allocation each. A Buffer is an ordered list of views, each a run of
// bytes of one chunk. Operations move views rather than bytes: Split hands the
// front of a Buffer to a new Buffer, cutting one view in two at most;
// TrimFront and Truncate drop views; Merge moves every view of one Buffer
// to the end of another; Clone and CloneRange give a second Buffer views of
// the same chunks. Only Append, Extend, PullUp and the io methods copy.
//
// Every view holds a reference to its chunk, and a chunk goes back to its
// pool when its last view is released. The count is internal: no API counts
// references by hand. Each Buffer owns its views, so the rule is only that
// a Buffer that is no longer needed is Released (or handed on); a Buffer
// that is forgotten is reclaimed by the garbage collector like any Go
// value, merely missing its pool.
//
// # Sharing: bytes in shared chunks are immutable
//
// Bytes that a view of a chunk covers are never written while another view
// refers to the chunk. Append and Extend write only where no other view
// can see: after the tail view of a chunk that has no other view, or past
// a shared chunk's watermark, the end of everything written to it so far,
// which a Buffer whose tail ends there claims atomically (of two clones
// appending at once, one continues the chunk and the other starts a new
// one). So a clone and its original are independent: whatever one does
// (append, split, trim, release) the other's bytes do not change, and a
// send queue keeps filling its tail chunk while the segments cut from it
// are in flight. Slices returned by PullUp, All and Packet.Peek are
// read-only for the same reason: other Buffers may share them. To modify
// payload bytes in place, take them with PullUpWritable, which copies them
// first when they are shared (copy on write). A Packet's header area is
// never shared (Packet.Clone copies it), so headers may be modified in
// place.
//
// This is what lets a TCP retransmit queue, the segment in flight and a
// pcap sniffer hold the same bytes without copying: each holds its own
// Buffer or Packet, and the chunk returns to its pool when the last of them
// lets go. Distinct Buffers that share chunks may be used and released
// concurrently; one Buffer or Packet must not be used by two goroutines at
// once.
//
// # Ownership of Packets
//
// A Packet has one owner at a time, and only the owner may use it.
//
//   - NewPacket and Clone return a Packet owned by the caller; NewPacket
//     takes over the payload Buffer it is given, leaving it empty.
//   - Passing a *Packet to a function that takes packets (a link's
//     WritePackets, a layer's handle or deliver function) hands ownership
//     to the callee, whatever the callee returns: the caller must not touch
//     the Packet afterwards. On the way out, each layer prepends its header
//     and passes the Packet down; the link releases it once written.
//   - An inbound Packet is owned by the layer processing it, which
//     consumes its header and either hands the Packet up, queues it (the
//     queue owns it then) or drops it with Release.
//   - To keep bytes beyond handing a Packet on (a retransmit queue, a
//     sniffer, delivery to several endpoints), Clone it, or CloneRange its
//     Payload: the clone has its own owner.
//   - Release ends a Packet. A slice obtained from a Packet or a Buffer
//     (Headers, NetworkHeader, Prepend, Peek, PullUp, All, …) is borrowed:
//     it must not be used after the Packet or Buffer is released or handed
//     on, nor after the next call that changes it.
//
// # Copying
//
// Buffer and Packet must not be copied after first use, and go vet reports
// copies. A Buffer moves by pointer (Merge, NewPacket) or by the methods
// that return a fresh Buffer (Take, Split, Clone, CloneRange).
//
// # Memory
//
// A Buffer built by Append holds at most about twice its length in chunks,
// and nothing at all once empty. An inbound layer's ConsumeHeader copies its
// header (a few dozen bytes) into the Packet's header area, so that the
// Payload is always exactly what follows the headers and a receive queue
// can Merge it as it is. Stats reports header areas that had to
// grow and, when SetCounting is on, the chunks and Packets in use, so that
// tests can prove that everything is released.
package buffer
