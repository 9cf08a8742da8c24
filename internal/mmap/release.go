package mmap

import (
	"os"
	"unsafe"
)

// Release tells the kernel that the process is done with the pages holding b, a sub-slice of
// the mapped bytes, for now: they leave the process's resident set (they stay in the page
// cache, and a later read faults them back in, with the same bytes). Readers that stream
// through a large file call it after decoding each piece, so that their RSS stays at the
// pieces in flight instead of growing to the file's size. The pages are rounded outwards, so a
// page shared with a neighbouring piece is dropped too and faulted back in if that piece is read
// later. It does nothing for a slice outside the map, or where the file was read into memory.
//
// The range is widened to releaseAlign: on a read fault the kernel also maps the cached pages
// around the faulting one ("fault-around", 64 KiB-aligned blocks by default), so the pages just
// before a piece, released with the previous piece, come back with its first fault. Widening to
// the same blocks releases them again; rounding to pages only left up to 64 KiB per piece
// resident, which grew with the model (95 MB on a 6 GB checkpoint read in 2 MB pieces).
func (m *Map) Release(b []byte) {
	if m.unmap == nil || len(b) == 0 || len(m.data) == 0 {
		return
	}
	base := uintptr(unsafe.Pointer(unsafe.SliceData(m.data)))
	p := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	if p < base || p-base > uintptr(len(m.data)) || uintptr(len(b)) > uintptr(len(m.data))-(p-base) {
		return
	}
	align := uintptr(max(os.Getpagesize(), releaseAlign))
	start := (p - base) &^ (align - 1) // the map starts on a page boundary; offsets 64 KiB-aligned
	end := min(uintptr(len(m.data)), (p-base+uintptr(len(b))+align-1)&^(align-1))
	dontNeed(m.data[start:end])
}

// releaseAlign is Linux's default fault_around_bytes.
const releaseAlign = 64 << 10
