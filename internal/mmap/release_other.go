//go:build !linux

package mmap

// dontNeed is a no-op where madvise(MADV_DONTNEED) is not used: the pages stay resident.
func dontNeed(b []byte) {}
