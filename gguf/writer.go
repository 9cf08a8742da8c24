package gguf

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"math"
)

// Layout computes the offsets of a GGUF file from its metadata and tensor infos: each tensor's
// Offset is set to its place in the data section, in the given order, padded to the alignment.
// It returns the data section offset and the total file size.
func Layout(meta *Metadata, tensors []TensorInfo) (dataOffset, fileSize int64, err error) {
	align, err := alignmentOf(meta)
	if err != nil {
		return 0, 0, err
	}
	hdr, err := headerSize(meta, tensors)
	if err != nil {
		return 0, 0, err
	}
	dataOffset = alignUp(hdr, align)
	var off int64
	for i := range tensors {
		tensors[i].Offset = uint64(off)
		off = alignUp(off+tensors[i].Size(), align)
	}
	return dataOffset, dataOffset + off, nil
}

func alignmentOf(meta *Metadata) (int64, error) {
	v, ok := meta.Get(KeyAlignment)
	if !ok {
		return DefaultAlignment, nil
	}
	a, isU32 := v.Any().(uint32)
	if !isU32 || a == 0 || a&(a-1) != 0 {
		return 0, fmt.Errorf("%w: %s must be a UINT32 power of two", ErrFormat, KeyAlignment)
	}
	return int64(a), nil
}

func headerSize(meta *Metadata, tensors []TensorInfo) (int64, error) {
	n := int64(4 + 4 + 8 + 8)
	for _, kv := range meta.KVs() {
		s, err := valueSize(kv.Value.typ, kv.Value.v, 0)
		if err != nil {
			return 0, fmt.Errorf("gguf: key %q: %w", kv.Key, err)
		}
		n += 8 + int64(len(kv.Key)) + 4 + s
	}
	for _, t := range tensors {
		if err := checkTensorInfo(t); err != nil {
			return 0, err
		}
		n += 8 + int64(len(t.Name)) + 4 + 8*int64(len(t.Dims)) + 4 + 8
	}
	return n, nil
}

func checkTensorInfo(t TensorInfo) error {
	switch {
	case len(t.Name) == 0 || len(t.Name) > maxNameLen:
		return fmt.Errorf("%w: tensor name %q must be 1 to %d bytes", ErrFormat, t.Name, maxNameLen)
	case len(t.Dims) == 0 || len(t.Dims) > maxDims:
		return fmt.Errorf("%w: tensor %q has %d dimensions", ErrFormat, t.Name, len(t.Dims))
	case !t.Type.Valid():
		return fmt.Errorf("%w: tensor %q has type %d", ErrUnsupported, t.Name, uint32(t.Type))
	case t.Dims[0]%uint64(t.Type.BlockSize()) != 0:
		return fmt.Errorf("%w: tensor %q: row length %d is not a multiple of %s's block size %d", ErrFormat, t.Name, t.Dims[0], t.Type, t.Type.BlockSize())
	}
	return nil
}

func valueSize(t ValueType, v any, depth int) (int64, error) {
	switch x := v.(type) {
	case string:
		return 8 + int64(len(x)), nil
	case Array:
		if err := x.check(depth); err != nil {
			return 0, err
		}
		n := int64(4 + 8)
		switch s := x.Values.(type) {
		case []string:
			for _, e := range s {
				n += 8 + int64(len(e))
			}
		case []Array:
			for _, e := range s {
				m, err := valueSize(ValueArray, e, depth+1)
				if err != nil {
					return 0, err
				}
				n += m
			}
		default:
			n += int64(x.Len()) * int64(x.Elem.size())
		}
		return n, nil
	}
	if t.size() == 0 || v == nil {
		return 0, fmt.Errorf("%w: value of type %s", ErrUnsupported, t)
	}
	return int64(t.size()), nil
}

// Writer streams a GGUF file: NewWriter writes the header, then tensor data is written in the
// order of the tensor infos, with padding inserted automatically between tensors.
type Writer struct {
	bw      *bufio.Writer
	tensors []TensorInfo
	align   int64
	cur     int   // index of the tensor being written
	left    int64 // bytes of the current tensor still expected
	written int64
	err     error
}

// NewWriter computes the layout (see Layout; tensor offsets are overwritten) and writes the
// header to w. Tensor data must follow through Write or WriteTensor, then Close.
func NewWriter(w io.Writer, meta *Metadata, tensors []TensorInfo) (*Writer, error) {
	ts := make([]TensorInfo, len(tensors))
	copy(ts, tensors)
	dataOffset, _, err := Layout(meta, ts)
	if err != nil {
		return nil, err
	}
	align, _ := alignmentOf(meta)
	gw := &Writer{bw: bufio.NewWriterSize(w, 1<<20), tensors: ts, align: align}
	e := encoder{w: gw.bw}
	e.raw([]byte(Magic))
	e.u32(3)
	e.u64(uint64(len(ts)))
	e.u64(uint64(meta.Len()))
	for _, kv := range meta.KVs() {
		e.str(kv.Key)
		e.u32(uint32(kv.Value.typ))
		e.value(kv.Value.v)
	}
	for _, t := range ts {
		e.str(t.Name)
		e.u32(uint32(len(t.Dims)))
		for _, d := range t.Dims {
			e.u64(d)
		}
		e.u32(uint32(t.Type))
		e.u64(t.Offset)
	}
	if e.err != nil {
		return nil, fmt.Errorf("gguf: writing header: %w", e.err)
	}
	if pad := dataOffset - e.n; pad > 0 {
		e.raw(make([]byte, pad))
	}
	if e.err != nil {
		return nil, fmt.Errorf("gguf: writing header: %w", e.err)
	}
	gw.written = e.n
	if len(ts) > 0 {
		gw.left = ts[0].Size()
	}
	gw.advance()
	return gw, gw.err
}

// Tensors returns the tensor infos with their computed offsets.
func (w *Writer) Tensors() []TensorInfo { return w.tensors }

// Current returns the index of the tensor whose data is expected next (len(Tensors) when done).
func (w *Writer) Current() int { return w.cur }

// advance pads and moves past every complete tensor (including empty ones).
func (w *Writer) advance() {
	for w.err == nil && w.cur < len(w.tensors) && w.left == 0 {
		w.pad(w.tensors[w.cur].Size())
		w.cur++
		if w.cur < len(w.tensors) {
			w.left = w.tensors[w.cur].Size()
		}
	}
}

func (w *Writer) pad(size int64) {
	// Every tensor is padded, the last one too, as gguf.cpp and gguf-py do.
	n := alignUp(size, w.align) - size
	if n > 0 {
		var zeros [256]byte
		for n > 0 {
			k := min(n, int64(len(zeros)))
			if _, err := w.bw.Write(zeros[:k]); err != nil {
				w.err = err
				return
			}
			n -= k
			w.written += k
		}
	}
}

// Write appends tensor data; p may span several tensors. Writing more bytes than the tensors
// hold is an error.
func (w *Writer) Write(p []byte) (int, error) {
	total := 0
	for len(p) > 0 && w.err == nil {
		if w.cur >= len(w.tensors) {
			w.err = fmt.Errorf("gguf: %d bytes written past the last tensor", len(p))
			break
		}
		k := int64(len(p))
		if k > w.left {
			k = w.left
		}
		n, err := w.bw.Write(p[:k])
		total += n
		w.written += int64(n)
		w.left -= int64(n)
		p = p[n:]
		if err != nil {
			w.err = err
			break
		}
		w.advance()
	}
	return total, w.err
}

// WriteTensor writes the whole data of the next tensor, which must be named name.
func (w *Writer) WriteTensor(name string, data []byte) error {
	if w.err != nil {
		return w.err
	}
	if w.cur >= len(w.tensors) {
		return fmt.Errorf("gguf: tensor %q written after the last tensor", name)
	}
	t := w.tensors[w.cur]
	if t.Name != name {
		return fmt.Errorf("gguf: tensor %q written where %q is expected", name, t.Name)
	}
	if w.left != t.Size() || int64(len(data)) != t.Size() {
		return fmt.Errorf("gguf: tensor %q: %d bytes given, %d expected", name, len(data), t.Size())
	}
	_, err := w.Write(data)
	return err
}

// Close flushes the data and checks that every tensor was written in full. It does not close
// the underlying writer.
func (w *Writer) Close() error {
	if w.err != nil {
		return w.err
	}
	if w.cur < len(w.tensors) {
		return fmt.Errorf("gguf: closed before tensor %q was written (%d of %d tensors done)", w.tensors[w.cur].Name, w.cur, len(w.tensors))
	}
	return w.bw.Flush()
}

type encoder struct {
	w   io.Writer
	n   int64
	err error
	buf [8]byte
}

func (e *encoder) raw(b []byte) {
	if e.err != nil {
		return
	}
	n, err := e.w.Write(b)
	e.n += int64(n)
	e.err = err
}

func (e *encoder) u32(v uint32) { binary.LittleEndian.PutUint32(e.buf[:4], v); e.raw(e.buf[:4]) }
func (e *encoder) u64(v uint64) { binary.LittleEndian.PutUint64(e.buf[:8], v); e.raw(e.buf[:8]) }
func (e *encoder) u16(v uint16) { binary.LittleEndian.PutUint16(e.buf[:2], v); e.raw(e.buf[:2]) }

func (e *encoder) str(s string) {
	e.u64(uint64(len(s)))
	if e.err == nil {
		n, err := io.WriteString(e.w, s)
		e.n += int64(n)
		e.err = err
	}
}

func (e *encoder) value(v any) {
	switch x := v.(type) {
	case uint8:
		e.raw([]byte{x})
	case int8:
		e.raw([]byte{byte(x)})
	case bool:
		b := byte(0)
		if x {
			b = 1
		}
		e.raw([]byte{b})
	case uint16:
		e.u16(x)
	case int16:
		e.u16(uint16(x))
	case uint32:
		e.u32(x)
	case int32:
		e.u32(uint32(x))
	case float32:
		e.u32(math.Float32bits(x))
	case uint64:
		e.u64(x)
	case int64:
		e.u64(uint64(x))
	case float64:
		e.u64(math.Float64bits(x))
	case string:
		e.str(x)
	case Array:
		e.u32(uint32(x.Elem))
		e.u64(uint64(x.Len()))
		switch s := x.Values.(type) {
		case []uint8:
			e.raw(s)
		case []string:
			for _, el := range s {
				e.str(el)
			}
		case []float32:
			for _, el := range s {
				e.u32(math.Float32bits(el))
			}
		case []int32:
			for _, el := range s {
				e.u32(uint32(el))
			}
		case []Array:
			for _, el := range s {
				e.value(el)
			}
		default:
			for i := 0; i < x.Len(); i++ {
				e.value(x.Index(i).v)
			}
		}
	default:
		if e.err == nil {
			e.err = fmt.Errorf("%w: value %T", ErrUnsupported, v)
		}
	}
}

// EncodeValue writes a value's payload as it is stored in a file (without the leading type
// tag): a scalar's bytes, a string's length and bytes, or an array's element type, count and
// elements.
func EncodeValue(w io.Writer, v Value) error {
	e := encoder{w: w}
	e.value(v.v)
	return e.err
}
