// Package mmap maps files read-only into memory, with a read-into-memory fallback where mapping
// is not available.
package mmap

import (
	"io"
	"os"
)

// Map is a read-only view of a file's bytes.
type Map struct {
	data  []byte
	unmap func([]byte) error
}

// Data returns the mapped bytes; they are valid until Close.
func (m *Map) Data() []byte { return m.data }

// ReadAt implements io.ReaderAt over the mapped bytes.
func (m *Map) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 || off > int64(len(m.data)) {
		return 0, io.EOF
	}
	n := copy(p, m.data[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// Close releases the mapping.
func (m *Map) Close() error {
	if m.unmap == nil || m.data == nil {
		m.data = nil
		return nil
	}
	err := m.unmap(m.data)
	m.data = nil
	return err
}

// Open maps the named file.
func Open(path string) (*Map, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	return MapFile(f, st.Size())
}
