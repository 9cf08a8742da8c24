// Package torchbin reads the tensors of a pytorch_model.bin (torch.save of a state dict,
// PyTorch >= 1.6 zip format) without Python and without executing the pickle.
//
// The archive's data.pkl is interpreted by a small pickle machine that knows only what
// torch.save emits for a state dict of tensors: containers, numbers, strings,
// collections.OrderedDict, torch._utils._rebuild_tensor_v2 (and _rebuild_parameter), and
// storages (torch.FloatStorage, torch.BFloat16Storage, ...) through persistent ids. Any other
// global is refused with an error naming it (ErrUnsafe): a pickle can run arbitrary code.
//
// Tensors are not read: each one is a dtype (safetensors names), a shape, and the place of
// its bytes in the file (the zip stores torch's storages uncompressed), checked to be
// contiguous and inside its storage.
package torchbin

import (
	"archive/zip"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"
)

// Errors callers can branch on.
var (
	// ErrUnsafe: the pickle names a global outside the tensor subset (os.system, builtins.eval,
	// any class): the file is refused, nothing is executed.
	ErrUnsafe = errors.New("torchbin: refused pickle global")
	// ErrFormat: not a torch zip checkpoint, or a malformed one.
	ErrFormat = errors.New("torchbin: bad checkpoint")
	// ErrUnsupported: a valid checkpoint this package does not read (legacy format,
	// non-contiguous tensors, big-endian data, compressed entries).
	ErrUnsupported = errors.New("torchbin: unsupported checkpoint")
)

// maxPickle bounds data.pkl: a state dict's pickle is a few bytes per tensor.
const maxPickle = 256 << 20

// Tensor is one tensor of the state dict.
type Tensor struct {
	Name   string
	DType  string  // safetensors dtype name: "F32", "F16", "BF16", "F64", "I64", "I32", "I16", "I8", "U8", "BOOL", ...
	Shape  []int64 // row-major; empty for a scalar
	R      io.ReaderAt
	Offset int64 // first byte of the tensor in R
	Size   int64 // bytes: elements × dtype size
}

// Section returns a reader over the tensor's bytes (little-endian, row-major).
func (t *Tensor) Section() *io.SectionReader { return io.NewSectionReader(t.R, t.Offset, t.Size) }

// NumElements is the product of the shape.
func (t *Tensor) NumElements() int64 {
	n := int64(1)
	for _, d := range t.Shape {
		n *= d
	}
	return n
}

// File is an opened checkpoint.
type File struct {
	Tensors []Tensor // in the order of the state dict
	index   map[string]int
	closer  io.Closer
}

// Tensor returns the tensor with that name.
func (f *File) Tensor(name string) (*Tensor, bool) {
	i, ok := f.index[name]
	if !ok {
		return nil, false
	}
	return &f.Tensors[i], true
}

// Close closes the underlying file (Open only).
func (f *File) Close() error {
	if f.closer != nil {
		return f.closer.Close()
	}
	return nil
}

// Open reads the tensor table of a pytorch_model.bin.
func Open(name string) (*File, error) {
	fh, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	st, err := fh.Stat()
	if err != nil {
		fh.Close()
		return nil, err
	}
	f, err := NewReader(fh, st.Size())
	if err != nil {
		fh.Close()
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	f.closer = fh
	return f, nil
}

// NewReader reads the tensor table of a checkpoint of size bytes held in r.
func NewReader(r io.ReaderAt, size int64) (*File, error) {
	var magic [4]byte
	if _, err := r.ReadAt(magic[:], 0); err != nil {
		return nil, fmt.Errorf("%w: too short to be a checkpoint", ErrFormat)
	}
	if magic[0] == 0x80 && magic[1] <= 5 {
		return nil, fmt.Errorf("%w: legacy (PyTorch < 1.6) serialization; load and re-save it with a recent torch.save, or use the repo's safetensors", ErrUnsupported)
	}
	if string(magic[:]) != "PK\x03\x04" {
		return nil, fmt.Errorf("%w: not a zip archive", ErrFormat)
	}
	zr, err := zip.NewReader(r, size)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrFormat, err)
	}
	// torch.save writes {prefix}/data.pkl, {prefix}/data/{key}, {prefix}/version, and since
	// 2.x {prefix}/byteorder.
	var pkl *zip.File
	entries := map[string]*zip.File{}
	for _, zf := range zr.File {
		entries[zf.Name] = zf
		if path.Base(zf.Name) == "data.pkl" && strings.Count(zf.Name, "/") == 1 {
			if pkl != nil {
				return nil, fmt.Errorf("%w: two data.pkl entries", ErrFormat)
			}
			pkl = zf
		}
	}
	if pkl == nil {
		if _, ok := entries[firstDir(zr)+"constants.pkl"]; ok {
			return nil, fmt.Errorf("%w: a TorchScript archive, not a state dict", ErrUnsupported)
		}
		return nil, fmt.Errorf("%w: no data.pkl in the archive", ErrFormat)
	}
	prefix := strings.TrimSuffix(pkl.Name, "data.pkl")
	if bo, ok := entries[prefix+"byteorder"]; ok {
		b, err := readEntry(bo, 16)
		if err != nil {
			return nil, err
		}
		if s := strings.TrimSpace(string(b)); s != "little" {
			return nil, fmt.Errorf("%w: byte order %q", ErrUnsupported, s)
		}
	}
	data, err := readEntry(pkl, maxPickle)
	if err != nil {
		return nil, err
	}
	root, err := unpickle(data)
	if err != nil {
		return nil, err
	}
	return tensorTable(root, r, size, prefix, entries)
}

func firstDir(zr *zip.Reader) string {
	if len(zr.File) == 0 {
		return ""
	}
	if i := strings.IndexByte(zr.File[0].Name, '/'); i >= 0 {
		return zr.File[0].Name[:i+1]
	}
	return ""
}

// readEntry reads a small entry, at most limit bytes. torch.save stores every entry
// uncompressed; a compressed one is refused, so no entry can inflate past the file's size.
func readEntry(zf *zip.File, limit int64) ([]byte, error) {
	if zf.Method != zip.Store {
		return nil, fmt.Errorf("%w: %s is compressed (torch.save stores entries)", ErrUnsupported, zf.Name)
	}
	rc, err := zf.Open()
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrFormat, zf.Name, err)
	}
	defer rc.Close()
	var buf bytes.Buffer
	n, err := io.Copy(&buf, io.LimitReader(rc, limit+1))
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrFormat, zf.Name, err)
	}
	if n > limit {
		return nil, fmt.Errorf("%w: %s is larger than %d bytes", ErrFormat, zf.Name, limit)
	}
	return buf.Bytes(), nil
}

// dtypes maps torch storage classes to safetensors dtype names and element sizes.
var dtypes = map[string]struct {
	name string
	size int64
}{
	"DoubleStorage":        {"F64", 8},
	"FloatStorage":         {"F32", 4},
	"HalfStorage":          {"F16", 2},
	"BFloat16Storage":      {"BF16", 2},
	"Float8_e4m3fnStorage": {"F8_E4M3", 1},
	"Float8_e5m2Storage":   {"F8_E5M2", 1},
	"LongStorage":          {"I64", 8},
	"IntStorage":           {"I32", 4},
	"ShortStorage":         {"I16", 2},
	"CharStorage":          {"I8", 1},
	"ByteStorage":          {"U8", 1},
	"BoolStorage":          {"BOOL", 1},
	"UInt16Storage":        {"U16", 2},
	"UInt32Storage":        {"U32", 4},
	"UInt64Storage":        {"U64", 8},
}

// tensorTable turns the unpickled state dict into tensors located in the archive.
func tensorTable(root any, r io.ReaderAt, size int64, prefix string, entries map[string]*zip.File) (*File, error) {
	d, ok := root.(*pyDict)
	if !ok {
		return nil, fmt.Errorf("%w: the pickle holds a %s, not a state dict", ErrFormat, typeName(root))
	}
	f := &File{index: map[string]int{}}
	storages := map[string]storageSpan{}
	for i, k := range d.keys {
		name, ok := k.(string)
		if !ok {
			return nil, fmt.Errorf("%w: state dict key %d is a %s, not a string", ErrFormat, i, typeName(k))
		}
		v := d.vals[i]
		if v == nil {
			continue // None entries (e.g. unused buffers) carry no data
		}
		t, ok := v.(*tensorRef)
		if !ok {
			return nil, fmt.Errorf("%w: state dict entry %q is a %s, not a tensor", ErrUnsupported, name, typeName(v))
		}
		if _, dup := f.index[name]; dup {
			return nil, fmt.Errorf("%w: tensor %q appears twice", ErrFormat, name)
		}
		span, ok := storages[t.storage.key]
		if !ok {
			zf := entries[prefix+"data/"+t.storage.key]
			if zf == nil {
				return nil, fmt.Errorf("%w: tensor %q: storage %q is not in the archive", ErrFormat, name, t.storage.key)
			}
			if zf.Method != zip.Store || zf.CompressedSize64 != zf.UncompressedSize64 {
				return nil, fmt.Errorf("%w: tensor %q: storage %q is compressed", ErrUnsupported, name, t.storage.key)
			}
			off, err := zf.DataOffset()
			if err != nil {
				return nil, fmt.Errorf("%w: storage %q: %v", ErrFormat, t.storage.key, err)
			}
			n := int64(zf.UncompressedSize64)
			if n < 0 || off < 0 || off > size || n > size-off {
				return nil, fmt.Errorf("%w: storage %q lies outside the file", ErrFormat, t.storage.key)
			}
			span = storageSpan{off, n}
			storages[t.storage.key] = span
		}
		tt, err := locate(name, t, span)
		if err != nil {
			return nil, err
		}
		tt.R = r
		f.index[name] = len(f.Tensors)
		f.Tensors = append(f.Tensors, tt)
	}
	return f, nil
}

type storageSpan struct{ off, size int64 }

// locate checks a tensor's view (contiguous, inside its storage) and returns its bytes' place.
func locate(name string, t *tensorRef, span storageSpan) (Tensor, error) {
	dt, ok := dtypes[t.storage.typ]
	if !ok {
		return Tensor{}, fmt.Errorf("%w: tensor %q: storage type torch.%s", ErrUnsupported, name, t.storage.typ)
	}
	if len(t.stride) != len(t.shape) {
		return Tensor{}, fmt.Errorf("%w: tensor %q: %d strides for %d dimensions", ErrFormat, name, len(t.stride), len(t.shape))
	}
	const limit = int64(1) << 62
	numel := int64(1)
	for _, d := range t.shape {
		if d < 0 {
			return Tensor{}, fmt.Errorf("%w: tensor %q: negative dimension in %v", ErrFormat, name, t.shape)
		}
		if d != 0 && numel > limit/d {
			return Tensor{}, fmt.Errorf("%w: tensor %q: shape %v is too large", ErrFormat, name, t.shape)
		}
		numel *= d
	}
	if numel > 0 {
		want := int64(1)
		for i := len(t.shape) - 1; i >= 0; i-- {
			if t.shape[i] != 1 && t.stride[i] != want {
				return Tensor{}, fmt.Errorf("%w: tensor %q is a non-contiguous view (shape %v, strides %v); call .contiguous() before saving",
					ErrUnsupported, name, t.shape, t.stride)
			}
			want *= t.shape[i]
		}
	}
	if t.offset < 0 || numel > limit/dt.size || t.offset > limit/dt.size {
		return Tensor{}, fmt.Errorf("%w: tensor %q: bad storage offset %d", ErrFormat, name, t.offset)
	}
	start, n := t.offset*dt.size, numel*dt.size
	if start > span.size || n > span.size-start {
		return Tensor{}, fmt.Errorf("%w: tensor %q: bytes %d..%d lie outside its storage %q of %d bytes", ErrFormat, name, start, start+n, t.storage.key, span.size)
	}
	return Tensor{Name: name, DType: dt.name, Shape: append([]int64{}, t.shape...), Offset: span.off + start, Size: n}, nil
}
