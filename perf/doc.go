// Package perf holds the macro workloads that measure a user-space TCP/IP
// stack through its net.Conn adapters, written once so that every stack
// runs exactly the same code: ustack through `ustack bench` and the
// perf/ustackpair package, and other stacks through the separate bench
// module, which compares them side by side.
//
// A stack takes part by implementing Pair: two stacks in one process,
// A = 10.0.0.1/24 (the client) and B = 10.0.0.2/24 (the server), joined by
// an asynchronous in-memory link of Ethernet frames with real ARP, each
// stack with its defaults. The workloads only listen, dial, read, write and
// close through the Pair's net.Listener, net.Conn and net.PacketConn.
//
// # Measuring
//
// Each call of Run is one run on a fresh Pair. Setup (creating the stacks,
// listening, and the handshakes of bulk, rr, udp and lossy) is not timed;
// runtime.GC runs just before the timed part. CPU time is the process's
// user plus system time from getrusage, so it counts both stacks, their
// link goroutines and the application goroutines; allocations are the
// delta of runtime.MemStats.Mallocs over the timed part. Summarize turns
// several runs into their medians, minima and maxima.
//
// The workloads:
//
//   - bulk: one connection; the client writes Sizes.BulkBytes in 64 KiB
//     writes, then closes; the server reads 64 KiB at a time to EOF.
//     Gbit/s, CPU-seconds per GiB, allocations per MiB.
//   - rr: one connection; Sizes.RRTransactions transactions of a 64-byte
//     request and a 64-byte response. Transactions/s, mean, median and
//     99th-percentile latency.
//   - crr: Sizes.CRRConnections sequential connections: dial, a 64-byte
//     request, a 64-byte response, the client closes. Connections/s and
//     latency.
//   - udp: Sizes.UDPDatagrams datagrams of 64 bytes written back to back
//     by a connected client to a bound server that counts them. Sent and
//     received datagrams/s and the loss.
//   - idle: Sizes.IdleConnections connections opened and held, with no
//     goroutine per connection in the harness. Heap in use and goroutines
//     per connection (both ends together); a Pair that keeps free buffers
//     across collections (a Releaser) lets go of them first.
//   - lossy: Sizes.LossyBytes of seeded pseudo-random data over a link that
//     drops 1 % of the frames in each direction, independently and seeded,
//     verified with SHA-256. Gbit/s, retransmissions, retransmission
//     timeouts.
package perf
