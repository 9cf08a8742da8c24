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
func (m *Map) Release(b []byte) {
	if m.unmap == nil || len(b) == 0 || len(m.data) == 0 {
		return
	}
	base := uintptr(unsafe.Pointer(unsafe.SliceData(m.data)))
	p := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	if p < base || p-base > uintptr(len(m.data)) || uintptr(len(b)) > uintptr(len(m.data))-(p-base) {
		return
	}
	page := uintptr(os.Getpagesize())
	start := (p - base) &^ (page - 1) // the map starts on a page boundary
	end := min(uintptr(len(m.data)), (p-base+uintptr(len(b))+page-1)&^(page-1))
	dontNeed(m.data[start:end])
}
