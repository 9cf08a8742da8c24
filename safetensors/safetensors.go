// Package safetensors reads Hugging Face checkpoints: memory-mapped safetensors files, sharded
// checkpoints with model.safetensors.index.json, and decoding of every stored dtype to float32.
//
// Headers are validated before any tensor is touched: the header length, every tensor's data
// offsets inside the file, no overlaps, and byte lengths equal to shape × dtype size.
package safetensors

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"sort"
	"strings"

	"github.com/ggufy/ggufy/internal/mmap"
)

// ErrFormat means a file is not a well-formed safetensors file or checkpoint.
var ErrFormat = errors.New("safetensors: malformed")

// ErrUnsupported means a dtype or layout this package does not decode.
var ErrUnsupported = errors.New("safetensors: unsupported")

// maxHeader bounds the JSON header, as the reference implementation does (100 MB).
const maxHeader = 100_000_000

// DType is a safetensors element type name ("F32", "BF16", "F8_E4M3", ...).
type DType string

// The dtypes safetensors defines.
const (
	F64     DType = "F64"
	F32     DType = "F32"
	F16     DType = "F16"
	BF16    DType = "BF16"
	F8E4M3  DType = "F8_E4M3"
	F8E5M2  DType = "F8_E5M2"
	I64     DType = "I64"
	I32     DType = "I32"
	I16     DType = "I16"
	I8      DType = "I8"
	U64     DType = "U64"
	U32     DType = "U32"
	U16     DType = "U16"
	U8      DType = "U8"
	Bool    DType = "BOOL"
	invalid DType = ""
)

// Size returns the bytes per element, or 0 for an unknown dtype.
func (d DType) Size() int {
	switch d {
	case F64, I64, U64:
		return 8
	case F32, I32, U32:
		return 4
	case F16, BF16, I16, U16:
		return 2
	case F8E4M3, F8E5M2, I8, U8, Bool:
		return 1
	}
	return 0
}

// IsFloat reports whether d is a floating-point type.
func (d DType) IsFloat() bool {
	switch d {
	case F64, F32, F16, BF16, F8E4M3, F8E5M2:
		return true
	}
	return false
}

// Tensor is one tensor of a checkpoint: its name, dtype, shape (PyTorch order) and bytes.
type Tensor struct {
	Name  string
	DType DType
	Shape []int64
	File  string // the file that holds it

	data []byte // view into the file's memory map
	file *File
}

// NumElements returns the product of the shape.
func (t *Tensor) NumElements() int64 {
	n := int64(1)
	for _, d := range t.Shape {
		n *= d
	}
	return n
}

// Bytes returns the raw little-endian bytes (a view into the memory map).
func (t *Tensor) Bytes() []byte { return t.data }

// Floats decodes elements [start, start+len(dst)) of the tensor (in row-major order) to float32.
func (t *Tensor) Floats(dst []float32, start int64) error {
	n := int64(len(dst))
	if start < 0 || start+n > t.NumElements() {
		return fmt.Errorf("safetensors: tensor %q: elements [%d, %d) out of range (%d)", t.Name, start, start+n, t.NumElements())
	}
	sz := int64(t.DType.Size())
	src := t.data[start*sz : (start+n)*sz]
	err := Decode(t.DType, dst, src)
	if f := t.file; f != nil && f.releaseAfterRead && f.m != nil {
		f.m.Release(src)
	}
	return err
}

// File is one memory-mapped safetensors file.
type File struct {
	Path     string
	Metadata map[string]string // the header's __metadata__
	Tensors  []*Tensor         // in data-offset order
	m        *mmap.Map
	// releaseAfterRead: Floats drops the pages it decoded from the resident set.
	releaseAfterRead bool
}

// Open maps and validates a safetensors file.
func Open(path string) (*File, error) {
	m, err := mmap.Open(path)
	if err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	f, err := parse(path, m.Data())
	if err != nil {
		m.Close()
		return nil, err
	}
	f.m = m
	return f, nil
}

// Parse validates an in-memory safetensors file; the tensors are views into b.
func Parse(name string, b []byte) (*File, error) { return parse(name, b) }

// Close unmaps the file; its tensors' bytes must not be used afterwards.
func (f *File) Close() error {
	if f.m == nil {
		return nil
	}
	err := f.m.Close()
	f.m = nil
	return err
}

type rawInfo struct {
	DType   DType    `json:"dtype"`
	Shape   []int64  `json:"shape"`
	Offsets []uint64 `json:"data_offsets"`
}

func parse(name string, b []byte) (*File, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s: %s", ErrFormat, name, fmt.Sprintf(format, args...))
	}
	if len(b) < 8 {
		return nil, bad("file of %d bytes has no header", len(b))
	}
	n := binary.LittleEndian.Uint64(b)
	if n > maxHeader {
		return nil, bad("header length %d exceeds %d", n, maxHeader)
	}
	if n > uint64(len(b)-8) {
		return nil, bad("header length %d is past the end of the file (%d bytes)", n, len(b))
	}
	hdr := b[8 : 8+n]
	if len(hdr) == 0 || hdr[0] != '{' {
		return nil, bad("header is not a JSON object")
	}
	var raw map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(hdr))
	if err := dec.Decode(&raw); err != nil {
		return nil, bad("header JSON: %v", err)
	}
	f := &File{Path: name}
	data := b[8+n:]
	type span struct {
		start, end uint64
		t          *Tensor
	}
	var spans []span
	for key, msg := range raw {
		if key == "__metadata__" {
			if err := json.Unmarshal(msg, &f.Metadata); err != nil {
				return nil, bad("__metadata__ must map strings to strings: %v", err)
			}
			continue
		}
		var info rawInfo
		d := json.NewDecoder(bytes.NewReader(msg))
		d.DisallowUnknownFields()
		if err := d.Decode(&info); err != nil {
			return nil, bad("tensor %q: %v", key, err)
		}
		size := info.DType.Size()
		if size == 0 {
			return nil, fmt.Errorf("%w: %s: tensor %q has dtype %q", ErrUnsupported, name, key, info.DType)
		}
		if len(info.Offsets) != 2 {
			return nil, bad("tensor %q: data_offsets must have 2 values", key)
		}
		count := uint64(1)
		for _, dim := range info.Shape {
			if dim < 0 || (dim > 0 && count > math.MaxInt64/uint64(dim)) {
				return nil, bad("tensor %q: shape %v", key, info.Shape)
			}
			count *= uint64(dim)
		}
		s, e := info.Offsets[0], info.Offsets[1]
		if e < s || e > uint64(len(data)) {
			return nil, bad("tensor %q: data_offsets [%d, %d] outside the data (%d bytes)", key, s, e, len(data))
		}
		if count > math.MaxInt64/uint64(size) || e-s != count*uint64(size) {
			return nil, bad("tensor %q: %d bytes for shape %v of %s (want %d)", key, e-s, info.Shape, info.DType, count*uint64(size))
		}
		t := &Tensor{Name: key, DType: info.DType, Shape: info.Shape, File: name, data: data[s:e:e], file: f}
		spans = append(spans, span{s, e, t})
	}
	sort.Slice(spans, func(i, j int) bool {
		if spans[i].start != spans[j].start {
			return spans[i].start < spans[j].start
		}
		return spans[i].end < spans[j].end
	})
	for i, s := range spans {
		if i > 0 && s.start < spans[i-1].end {
			return nil, bad("tensors %q and %q overlap", spans[i-1].t.Name, s.t.Name)
		}
		f.Tensors = append(f.Tensors, s.t)
	}
	return f, nil
}

// Decode converts little-endian elements of dtype d in src to float32 in dst (len(dst) elements).
func Decode(d DType, dst []float32, src []byte) error {
	if len(src) != len(dst)*d.Size() || d.Size() == 0 {
		return fmt.Errorf("%w: decoding %d bytes of %q into %d floats", ErrUnsupported, len(src), d, len(dst))
	}
	le := binary.LittleEndian
	switch d {
	case F32:
		for i := range dst {
			dst[i] = math.Float32frombits(le.Uint32(src[4*i:]))
		}
	case F64:
		for i := range dst {
			dst[i] = float32(math.Float64frombits(le.Uint64(src[8*i:])))
		}
	case F16:
		for i := range dst {
			dst[i] = f16(le.Uint16(src[2*i:]))
		}
	case BF16:
		for i := range dst {
			dst[i] = math.Float32frombits(uint32(le.Uint16(src[2*i:])) << 16)
		}
	case F8E4M3:
		for i := range dst {
			dst[i] = f8e4m3Table[src[i]]
		}
	case F8E5M2:
		for i := range dst {
			dst[i] = f16(uint16(src[i]) << 8) // E5M2 is the top byte of an IEEE half
		}
	case I64:
		for i := range dst {
			dst[i] = float32(int64(le.Uint64(src[8*i:])))
		}
	case I32:
		for i := range dst {
			dst[i] = float32(int32(le.Uint32(src[4*i:])))
		}
	case I16:
		for i := range dst {
			dst[i] = float32(int16(le.Uint16(src[2*i:])))
		}
	case I8:
		for i := range dst {
			dst[i] = float32(int8(src[i]))
		}
	case U64:
		for i := range dst {
			dst[i] = float32(le.Uint64(src[8*i:]))
		}
	case U32:
		for i := range dst {
			dst[i] = float32(le.Uint32(src[4*i:]))
		}
	case U16:
		for i := range dst {
			dst[i] = float32(le.Uint16(src[2*i:]))
		}
	case U8, Bool:
		for i := range dst {
			dst[i] = float32(src[i])
		}
	default:
		return fmt.Errorf("%w: dtype %q", ErrUnsupported, d)
	}
	return nil
}

// f8e4m3Table decodes float8 E4M3FN (the "fn" variant torch uses: no infinities, 0x7f and 0xff
// are NaN, bias 7, subnormals).
var f8e4m3Table = func() (t [256]float32) {
	for i := range t {
		sign := float32(1)
		if i&0x80 != 0 {
			sign = -1
		}
		exp := (i >> 3) & 0xf
		mant := i & 7
		switch {
		case exp == 0xf && mant == 7:
			t[i] = float32(math.NaN())
		case exp == 0:
			t[i] = sign * float32(mant) / 8 * float32(math.Ldexp(1, -6))
		default:
			t[i] = sign * (1 + float32(mant)/8) * float32(math.Ldexp(1, exp-7))
		}
	}
	return t
}()

func f16(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	mant := uint32(h) & 0x3ff
	switch {
	case exp == 0x1f:
		return math.Float32frombits(sign | 0x7f800000 | mant<<13)
	case exp == 0 && mant == 0:
		return math.Float32frombits(sign)
	case exp == 0:
		f := float32(mant) * (1.0 / (1 << 24))
		if sign != 0 {
			return -f
		}
		return f
	}
	return math.Float32frombits(sign | (exp+112)<<23 | mant<<13)
}

// Checkpoint is a Hugging Face model directory's weights: one safetensors file, or several
// shards listed by model.safetensors.index.json.
type Checkpoint struct {
	Dir     string
	Files   []*File
	Tensors []*Tensor // file order (shards in name order), then data-offset order within a file
	byName  map[string]*Tensor
}

// IndexFile is the name of a sharded checkpoint's index.
const IndexFile = "model.safetensors.index.json"

// OpenDir opens the safetensors weights of a checkpoint directory. With an index file, the
// shards it names are opened and the index must agree with them exactly; without, every
// "model*.safetensors" (or "consolidated*.safetensors") file is used.
func OpenDir(dir string) (*Checkpoint, error) {
	var names []string
	var weightMap map[string]string
	if b, err := os.ReadFile(dir + "/" + IndexFile); err == nil {
		var idx struct {
			WeightMap map[string]string `json:"weight_map"`
		}
		if err := json.Unmarshal(b, &idx); err != nil {
			return nil, fmt.Errorf("%w: %s/%s: %v", ErrFormat, dir, IndexFile, err)
		}
		if len(idx.WeightMap) == 0 {
			return nil, fmt.Errorf("%w: %s/%s: empty weight_map", ErrFormat, dir, IndexFile)
		}
		weightMap = idx.WeightMap
		seen := map[string]bool{}
		for _, f := range idx.WeightMap {
			if strings.ContainsAny(f, `/\`) || f == ".." {
				return nil, fmt.Errorf("%w: %s/%s: shard name %q", ErrFormat, dir, IndexFile, f)
			}
			if !seen[f] {
				seen[f] = true
				names = append(names, f)
			}
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("safetensors: %w", err)
	} else {
		ents, err := os.ReadDir(dir)
		if err != nil {
			return nil, fmt.Errorf("safetensors: %w", err)
		}
		for _, e := range ents {
			n := e.Name()
			if strings.HasSuffix(n, ".safetensors") && (strings.HasPrefix(n, "model") || strings.HasPrefix(n, "consolidated")) {
				names = append(names, n)
			}
		}
		if len(names) == 0 {
			return nil, fmt.Errorf("%w: %s: no model*.safetensors files", os.ErrNotExist, dir)
		}
	}
	sort.Strings(names)
	c := &Checkpoint{Dir: dir, byName: map[string]*Tensor{}}
	for _, n := range names {
		f, err := Open(dir + "/" + n)
		if err != nil {
			c.Close()
			return nil, err
		}
		c.Files = append(c.Files, f)
		for _, t := range f.Tensors {
			if prev, dup := c.byName[t.Name]; dup {
				c.Close()
				return nil, fmt.Errorf("%w: %s: tensor %q is in both %s and %s", ErrFormat, dir, t.Name, prev.File, t.File)
			}
			if weightMap != nil && weightMap[t.Name] != n {
				c.Close()
				return nil, fmt.Errorf("%w: %s: tensor %q is in %s but the index says %q", ErrFormat, dir, t.Name, n, weightMap[t.Name])
			}
			c.byName[t.Name] = t
			c.Tensors = append(c.Tensors, t)
		}
	}
	for name, file := range weightMap {
		if _, ok := c.byName[name]; !ok {
			c.Close()
			return nil, fmt.Errorf("%w: %s: the index lists tensor %q in %s, which does not hold it", ErrFormat, dir, name, file)
		}
	}
	return c, nil
}

// Tensor returns the named tensor, or nil.
func (c *Checkpoint) Tensor(name string) *Tensor { return c.byName[name] }

// ReleaseAfterRead makes Floats hand the file pages it has decoded back to the kernel
// (mmap.Map.Release), for readers that stream through the checkpoint about once: the process's
// resident memory then stays at the pieces being decoded instead of growing to the size of the
// checkpoint. Reading a piece again stays correct (its pages fault back in from the page cache).
// Call it before reading.
func (c *Checkpoint) ReleaseAfterRead() {
	if c == nil {
		return
	}
	for _, f := range c.Files {
		f.releaseAfterRead = true
	}
}

// Close unmaps every file.
func (c *Checkpoint) Close() error {
	var errs []error
	for _, f := range c.Files {
		errs = append(errs, f.Close())
	}
	return errors.Join(errs...)
}
