package buffer

import "testing"

// BenchmarkReserveParallel gets and puts through one freeList from every
// P at once, as a sender's and a receiver's goroutines do with chunks
// and Packets during a bulk transfer.
func BenchmarkReserveParallel(b *testing.B) {
	var f freeList[[256]byte]
	f.init(4096, 256, makeEach[[256]byte])
	defer f.release()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		var held [16]*[256]byte
		for pb.Next() {
			for i := range held {
				held[i] = f.get()
			}
			for i := range held {
				f.put(held[i])
			}
		}
	})
}
