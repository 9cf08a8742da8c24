package mmap

import "syscall"

// dontNeed drops b's pages from the resident set (madvise MADV_DONTNEED); on a read-only file
// mapping the data is unchanged. An error only means the pages stay resident.
func dontNeed(b []byte) { _ = syscall.Madvise(b, syscall.MADV_DONTNEED) }
