//go:build !unix

package mmap

import (
	"fmt"
	"io"
	"os"
)

// MapFile reads the first size bytes of f into memory (no mmap on this platform).
func MapFile(f *os.File, size int64) (*Map, error) {
	if size < 0 || int64(int(size)) != size {
		return nil, fmt.Errorf("mmap: %s: size %d out of range", f.Name(), size)
	}
	b := make([]byte, size)
	if _, err := io.ReadFull(f, b); err != nil {
		return nil, fmt.Errorf("mmap: %s: %w", f.Name(), err)
	}
	return &Map{data: b}, nil
}
