package loaders

import (
	"math/bits"
	"sync"
)

// buffers is the allocator of the loader's Arrow batches: buffers are
// released as soon as a batch is encoded, and the next batch takes them
// again from a pool per power-of-two size, so that a steady load allocates
// nearly nothing and a buffer that grows costs no call out of Go. Memory
// is zeroed as Arrow's builders expect (a null is an unset bit).
type buffers struct {
	classes [48]sync.Pool // by log2 of capacity
}

var allocator = &buffers{}

const minClass = 6 // 64 bytes

func class(size int) int {
	if size <= 1<<minClass {
		return minClass
	}
	return bits.Len(uint(size - 1))
}

// Allocate returns size zeroed bytes.
func (p *buffers) Allocate(size int) []byte {
	c := class(size)
	if b, ok := p.classes[c].Get().(*[]byte); ok {
		buf := (*b)[:size]
		clear(buf)
		return buf
	}
	return make([]byte, size, 1<<c)
}

// Reallocate grows or shrinks b to size, keeping its bytes and zeroing new
// ones.
func (p *buffers) Reallocate(size int, b []byte) []byte {
	if size <= cap(b) {
		old := len(b)
		b = b[:size]
		if size > old {
			clear(b[old:])
		}
		return b
	}
	nb := p.Allocate(size)
	copy(nb, b)
	p.Free(b)
	return nb
}

// Free returns b to its pool.
func (p *buffers) Free(b []byte) {
	if cap(b) < 1<<minClass || cap(b)&(cap(b)-1) != 0 {
		return // not one of ours: let the garbage collector have it
	}
	b = b[:0]
	p.classes[bits.Len(uint(cap(b)))-1].Put(&b)
}
