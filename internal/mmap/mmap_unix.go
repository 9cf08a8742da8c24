//go:build unix

package mmap

import (
	"fmt"
	"os"
	"syscall"
)

// MapFile maps the first size bytes of f read-only. The file may be closed afterwards.
func MapFile(f *os.File, size int64) (*Map, error) {
	if size == 0 {
		return &Map{data: []byte{}}, nil
	}
	if size < 0 || int64(int(size)) != size {
		return nil, fmt.Errorf("mmap: %s: size %d out of range", f.Name(), size)
	}
	b, err := syscall.Mmap(int(f.Fd()), 0, int(size), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("mmap: %s: %w", f.Name(), err)
	}
	return &Map{data: b, unmap: syscall.Munmap}, nil
}
