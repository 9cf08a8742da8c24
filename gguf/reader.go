package gguf

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"sort"

	"github.com/ggufy/ggufy/internal/mmap"
)

// Magic is the four bytes every GGUF file starts with.
const Magic = "GGUF"

// DefaultAlignment is the data alignment when general.alignment is absent.
const DefaultAlignment = 32

// KeyAlignment is the metadata key that sets the data alignment.
const KeyAlignment = "general.alignment"

const (
	maxArrayDepth = 8  // nesting limit for arrays of arrays
	maxDims       = 4  // GGML_MAX_DIMS
	maxNameLen    = 63 // GGML_MAX_NAME - 1: llama.cpp rejects longer tensor names
)

// TensorInfo describes one tensor: its name, shape in ggml order (Dims[0] is the contiguous row
// length, the reverse of PyTorch order), type and offset relative to the data section.
type TensorInfo struct {
	Name   string
	Dims   []uint64
	Type   Type
	Offset uint64
}

// NumElements returns the product of the dimensions.
func (t TensorInfo) NumElements() uint64 {
	n := uint64(1)
	for _, d := range t.Dims {
		n *= d
	}
	return n
}

// Size returns the tensor's data size in bytes.
func (t TensorInfo) Size() int64 {
	if len(t.Dims) == 0 || !t.Type.Valid() {
		return 0
	}
	rows := int64(t.NumElements() / t.Dims[0])
	row, err := t.Type.RowSize(int64(t.Dims[0]))
	if err != nil {
		return 0
	}
	return rows * row
}

// Shape returns the dimensions in PyTorch order (outermost first).
func (t TensorInfo) Shape() []uint64 {
	s := make([]uint64, len(t.Dims))
	for i, d := range t.Dims {
		s[len(s)-1-i] = d
	}
	return s
}

// File is a parsed GGUF file whose tensor data is read on demand (from a memory map when
// opened with Open).
type File struct {
	Name       string // file name, for messages
	Version    uint32
	Meta       *Metadata
	Tensors    []TensorInfo
	Alignment  int64
	DataOffset int64 // absolute offset of the data section
	Size       int64 // file size

	byName map[string]int
	r      io.ReaderAt
	data   []byte    // whole file when memory-mapped
	mm     *mmap.Map // the memory map behind data, closed by Close
}

// Open memory-maps and parses a GGUF file. Close releases it.
func Open(path string) (*File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("gguf: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("gguf: %w", err)
	}
	m, err := mmap.MapFile(f, st.Size())
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("gguf: %s: %w", path, err)
	}
	gf, err := parse(m, int64(len(m.Data())), path)
	if err != nil {
		m.Close()
		return nil, err
	}
	gf.data = m.Data()
	gf.mm = m
	return gf, nil
}

// Release hands the pages of b, bytes returned by TensorData, back to the kernel once the caller
// has decoded them (mmap.Map.Release): a reader streaming through a large model keeps its
// resident memory at the pieces in flight. b stays readable. It does nothing for a file that
// is not memory-mapped.
func (f *File) Release(b []byte) {
	if f.mm != nil {
		f.mm.Release(b)
	}
}

// NewReader parses the GGUF file in r (of the given size); name is used in messages.
func NewReader(r io.ReaderAt, size int64, name string) (*File, error) {
	return parse(r, size, name)
}

// Close releases the memory map, if any.
func (f *File) Close() error {
	if f.mm != nil {
		err := f.mm.Close()
		f.data = nil
		f.mm = nil
		return err
	}
	return nil
}

// Tensor returns the index of the named tensor, or -1.
func (f *File) Tensor(name string) int {
	if i, ok := f.byName[name]; ok {
		return i
	}
	return -1
}

// TensorData returns tensor i's bytes. For a memory-mapped file this is a view into the map,
// valid until Close; otherwise the bytes are read.
func (f *File) TensorData(i int) ([]byte, error) {
	t := f.Tensors[i]
	off := f.DataOffset + int64(t.Offset)
	n := t.Size()
	if f.data != nil {
		return f.data[off : off+n : off+n], nil
	}
	b := make([]byte, n)
	if _, err := f.r.ReadAt(b, off); err != nil {
		return nil, fmt.Errorf("gguf: %s: tensor %q: %w", f.Name, t.Name, err)
	}
	return b, nil
}

// TensorReader returns a reader over tensor i's bytes.
func (f *File) TensorReader(i int) *io.SectionReader {
	t := f.Tensors[i]
	var r io.ReaderAt = f.r
	if f.data != nil {
		r = bytesReaderAt(f.data)
	}
	return io.NewSectionReader(r, f.DataOffset+int64(t.Offset), t.Size())
}

type bytesReaderAt []byte

func (b bytesReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 || off > int64(len(b)) {
		return 0, io.EOF
	}
	n := copy(p, b[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// decoder reads the header sequentially and bounds every size by the bytes left in the file.
type decoder struct {
	br   *bufio.Reader
	pos  int64
	size int64
	name string
	buf  [8]byte
}

func (d *decoder) left() int64 { return d.size - d.pos }

func (d *decoder) errf(err error, format string, args ...any) error {
	return fmt.Errorf("%w: %s: at byte %d: %s", err, d.name, d.pos, fmt.Sprintf(format, args...))
}

func (d *decoder) read(n int) ([]byte, error) {
	if int64(n) > d.left() {
		return nil, d.errf(ErrFormat, "truncated file (%d bytes needed, %d left)", n, d.left())
	}
	if _, err := io.ReadFull(d.br, d.buf[:n]); err != nil {
		return nil, d.ioErr(err)
	}
	d.pos += int64(n)
	return d.buf[:n], nil
}

func (d *decoder) ioErr(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return d.errf(ErrFormat, "truncated file")
	}
	return fmt.Errorf("gguf: %s: %w", d.name, err)
}

func (d *decoder) u32() (uint32, error) {
	b, err := d.read(4)
	if err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint32(b), nil
}

func (d *decoder) u64() (uint64, error) {
	b, err := d.read(8)
	if err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint64(b), nil
}

func (d *decoder) str() (string, error) {
	n, err := d.u64()
	if err != nil {
		return "", err
	}
	if n > uint64(d.left()) {
		return "", d.errf(ErrTooLarge, "string of %d bytes, only %d left in the file", n, d.left())
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(d.br, b); err != nil {
		return "", d.ioErr(err)
	}
	d.pos += int64(n)
	return string(b), nil
}

func (d *decoder) scalar(t ValueType) (any, error) {
	b, err := d.read(t.size())
	if err != nil {
		return nil, err
	}
	switch t {
	case ValueUint8:
		return b[0], nil
	case ValueInt8:
		return int8(b[0]), nil
	case ValueBool:
		if b[0] > 1 {
			return nil, d.errf(ErrFormat, "bool value %d", b[0])
		}
		return b[0] == 1, nil
	case ValueUint16:
		return binary.LittleEndian.Uint16(b), nil
	case ValueInt16:
		return int16(binary.LittleEndian.Uint16(b)), nil
	case ValueUint32:
		return binary.LittleEndian.Uint32(b), nil
	case ValueInt32:
		return int32(binary.LittleEndian.Uint32(b)), nil
	case ValueFloat32:
		return math.Float32frombits(binary.LittleEndian.Uint32(b)), nil
	case ValueUint64:
		return binary.LittleEndian.Uint64(b), nil
	case ValueInt64:
		return int64(binary.LittleEndian.Uint64(b)), nil
	case ValueFloat64:
		return math.Float64frombits(binary.LittleEndian.Uint64(b)), nil
	}
	return nil, d.errf(ErrUnsupported, "value type %d", uint32(t))
}

func (d *decoder) value(t ValueType, depth int) (Value, error) {
	switch {
	case t == ValueString:
		s, err := d.str()
		return String(s), err
	case t == ValueArray:
		a, err := d.array(depth + 1)
		return Value{ValueArray, a}, err
	case t.valid():
		x, err := d.scalar(t)
		return Value{t, x}, err
	}
	return Value{}, d.errf(ErrUnsupported, "metadata value type %d", uint32(t))
}

func (d *decoder) array(depth int) (Array, error) {
	if depth > maxArrayDepth {
		return Array{}, d.errf(ErrUnsupported, "arrays nested deeper than %d", maxArrayDepth)
	}
	et, err := d.u32()
	if err != nil {
		return Array{}, err
	}
	elem := ValueType(et)
	if !elem.valid() {
		return Array{}, d.errf(ErrUnsupported, "array element type %d", et)
	}
	n, err := d.u64()
	if err != nil {
		return Array{}, err
	}
	// Minimum encoded size of one element bounds the count by the bytes left.
	minSize := uint64(elem.size())
	switch elem {
	case ValueString:
		minSize = 8
	case ValueArray:
		minSize = 12
	}
	if n > uint64(d.left())/minSize {
		return Array{}, d.errf(ErrTooLarge, "array of %d %s elements, only %d bytes left in the file", n, elem, d.left())
	}
	a := Array{Elem: elem}
	switch elem {
	case ValueString:
		s := make([]string, n)
		for i := range s {
			if s[i], err = d.str(); err != nil {
				return a, err
			}
		}
		a.Values = s
	case ValueArray:
		s := make([]Array, n)
		for i := range s {
			if s[i], err = d.array(depth + 1); err != nil {
				return a, err
			}
		}
		a.Values = s
	default:
		raw := make([]byte, n*minSize)
		if _, err := io.ReadFull(d.br, raw); err != nil {
			return a, d.ioErr(err)
		}
		d.pos += int64(len(raw))
		a.Values, err = decodeNumbers(elem, raw, int(n))
		if err != nil {
			return a, d.errf(ErrFormat, "%v", err)
		}
	}
	return a, nil
}

func decodeNumbers(t ValueType, raw []byte, n int) (any, error) {
	le := binary.LittleEndian
	switch t {
	case ValueUint8:
		return raw, nil
	case ValueInt8:
		s := make([]int8, n)
		for i := range s {
			s[i] = int8(raw[i])
		}
		return s, nil
	case ValueBool:
		s := make([]bool, n)
		for i := range s {
			if raw[i] > 1 {
				return nil, fmt.Errorf("bool value %d in array", raw[i])
			}
			s[i] = raw[i] == 1
		}
		return s, nil
	case ValueUint16:
		s := make([]uint16, n)
		for i := range s {
			s[i] = le.Uint16(raw[2*i:])
		}
		return s, nil
	case ValueInt16:
		s := make([]int16, n)
		for i := range s {
			s[i] = int16(le.Uint16(raw[2*i:]))
		}
		return s, nil
	case ValueUint32:
		s := make([]uint32, n)
		for i := range s {
			s[i] = le.Uint32(raw[4*i:])
		}
		return s, nil
	case ValueInt32:
		s := make([]int32, n)
		for i := range s {
			s[i] = int32(le.Uint32(raw[4*i:]))
		}
		return s, nil
	case ValueFloat32:
		s := make([]float32, n)
		for i := range s {
			s[i] = math.Float32frombits(le.Uint32(raw[4*i:]))
		}
		return s, nil
	case ValueUint64:
		s := make([]uint64, n)
		for i := range s {
			s[i] = le.Uint64(raw[8*i:])
		}
		return s, nil
	case ValueInt64:
		s := make([]int64, n)
		for i := range s {
			s[i] = int64(le.Uint64(raw[8*i:]))
		}
		return s, nil
	case ValueFloat64:
		s := make([]float64, n)
		for i := range s {
			s[i] = math.Float64frombits(le.Uint64(raw[8*i:]))
		}
		return s, nil
	}
	return nil, fmt.Errorf("value type %s", t)
}

func parse(r io.ReaderAt, size int64, name string) (*File, error) {
	d := &decoder{br: bufio.NewReaderSize(io.NewSectionReader(r, 0, size), 1<<16), size: size, name: name}
	magic, err := d.read(4)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: not a GGUF file (%d bytes)", ErrFormat, name, size)
	}
	if string(magic) != Magic {
		return nil, fmt.Errorf("%w: %s: not a GGUF file (magic %q)", ErrFormat, name, magic)
	}
	version, err := d.u32()
	if err != nil {
		return nil, err
	}
	switch {
	case version == 2 || version == 3:
	case version == 1:
		return nil, d.errf(ErrUnsupported, "GGUF version 1 (re-convert the model)")
	case version&0xffff == 0 && version>>16 != 0:
		return nil, d.errf(ErrUnsupported, "big-endian GGUF (version %d byte-swapped); only little-endian files are supported", bswap32(version))
	default:
		return nil, d.errf(ErrUnsupported, "GGUF version %d", version)
	}
	nTensors, err := d.u64()
	if err != nil {
		return nil, err
	}
	nKV, err := d.u64()
	if err != nil {
		return nil, err
	}
	// A KV takes at least 13 bytes (key length, type, one byte); a tensor info at least 32.
	if nKV > uint64(d.left())/13 {
		return nil, d.errf(ErrTooLarge, "%d metadata entries cannot fit in %d bytes", nKV, d.left())
	}
	if nTensors > uint64(d.left())/32 {
		return nil, d.errf(ErrTooLarge, "%d tensors cannot fit in %d bytes", nTensors, d.left())
	}
	f := &File{Name: name, Version: version, Meta: NewMetadata(), Size: size, r: r, byName: map[string]int{}}
	for i := uint64(0); i < nKV; i++ {
		key, err := d.str()
		if err != nil {
			return nil, err
		}
		if _, dup := f.Meta.Get(key); dup {
			return nil, d.errf(ErrFormat, "duplicate metadata key %q", key)
		}
		t, err := d.u32()
		if err != nil {
			return nil, err
		}
		v, err := d.value(ValueType(t), 0)
		if err != nil {
			return nil, fmt.Errorf("%w (key %q)", err, key)
		}
		f.Meta.Set(key, v)
	}
	f.Alignment = DefaultAlignment
	if v, ok := f.Meta.Get(KeyAlignment); ok {
		a, isU32 := v.Any().(uint32)
		if !isU32 || a == 0 || a&(a-1) != 0 {
			return nil, fmt.Errorf("%w: %s: %s must be a UINT32 power of two, got %s %v", ErrFormat, name, KeyAlignment, v.Type(), v)
		}
		f.Alignment = int64(a)
	}
	f.Tensors = make([]TensorInfo, nTensors)
	for i := range f.Tensors {
		t, err := d.tensorInfo()
		if err != nil {
			return nil, err
		}
		if _, dup := f.byName[t.Name]; dup {
			return nil, d.errf(ErrFormat, "duplicate tensor name %q", t.Name)
		}
		f.byName[t.Name] = i
		f.Tensors[i] = t
	}
	f.DataOffset = alignUp(d.pos, f.Alignment)
	if len(f.Tensors) > 0 && f.DataOffset > size {
		return nil, fmt.Errorf("%w: %s: data section starts at %d, past the end of the file (%d bytes)", ErrFormat, name, f.DataOffset, size)
	}
	if err := f.checkLayout(); err != nil {
		return nil, err
	}
	return f, nil
}

func bswap32(v uint32) uint32 {
	return v>>24 | (v>>8)&0xff00 | (v<<8)&0xff0000 | v<<24
}

func (d *decoder) tensorInfo() (TensorInfo, error) {
	var t TensorInfo
	name, err := d.str()
	if err != nil {
		return t, err
	}
	t.Name = name
	if len(name) > maxNameLen {
		return t, d.errf(ErrFormat, "tensor name %q is longer than %d bytes", name, maxNameLen)
	}
	nd, err := d.u32()
	if err != nil {
		return t, err
	}
	if nd == 0 || nd > maxDims {
		return t, d.errf(ErrFormat, "tensor %q has %d dimensions (1 to %d allowed)", name, nd, maxDims)
	}
	t.Dims = make([]uint64, nd)
	n := uint64(1)
	for i := range t.Dims {
		if t.Dims[i], err = d.u64(); err != nil {
			return t, err
		}
		if t.Dims[i] > math.MaxInt64 || (t.Dims[i] != 0 && n > math.MaxInt64/t.Dims[i]) {
			return t, d.errf(ErrTooLarge, "tensor %q has dimensions %v", name, t.Dims[:i+1])
		}
		n *= t.Dims[i]
	}
	typ, err := d.u32()
	if err != nil {
		return t, err
	}
	t.Type = Type(typ)
	if !t.Type.Valid() {
		return t, d.errf(ErrUnsupported, "tensor %q has unknown type %d", name, typ)
	}
	if bs := uint64(t.Type.BlockSize()); t.Dims[0]%bs != 0 {
		return t, d.errf(ErrFormat, "tensor %q: row length %d is not a multiple of %s's block size %d", name, t.Dims[0], t.Type, bs)
	}
	if t.Offset, err = d.u64(); err != nil {
		return t, err
	}
	return t, nil
}

// checkLayout verifies that every tensor is aligned, inside the file and does not overlap another.
func (f *File) checkLayout() error {
	type span struct {
		start, end uint64
		i          int
	}
	spans := make([]span, 0, len(f.Tensors))
	dataLen := uint64(f.Size - f.DataOffset)
	for i, t := range f.Tensors {
		if t.Offset%uint64(f.Alignment) != 0 {
			return fmt.Errorf("%w: %s: tensor %q offset %d is not a multiple of the alignment %d", ErrFormat, f.Name, t.Name, t.Offset, f.Alignment)
		}
		n := uint64(t.Size())
		if n > dataLen || t.Offset > dataLen-n {
			return fmt.Errorf("%w: %s: tensor %q (%d bytes at data offset %d) extends past the end of the file", ErrFormat, f.Name, t.Name, n, t.Offset)
		}
		spans = append(spans, span{t.Offset, t.Offset + n, i})
	}
	sort.Slice(spans, func(a, b int) bool { return spans[a].start < spans[b].start })
	for k := 1; k < len(spans); k++ {
		if spans[k].start < spans[k-1].end {
			return fmt.Errorf("%w: %s: tensors %q and %q overlap", ErrFormat, f.Name, f.Tensors[spans[k-1].i].Name, f.Tensors[spans[k].i].Name)
		}
	}
	return nil
}

func alignUp(n, a int64) int64 { return (n + a - 1) / a * a }
