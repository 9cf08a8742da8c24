package archmap

import (
	"fmt"
	"sync"

	"github.com/ggufy/ggufy/internal/half"
	"github.com/ggufy/ggufy/safetensors"
)

// Tensor is one output tensor of a conversion: its GGUF name and shape, and a way to produce its
// values row by row (a row is the innermost dimension, ggml's ne[0]) without materializing the
// whole tensor. Values are float32, as the converter sees them after its dtype handling.
type Tensor struct {
	Name  string
	Shape []int64 // PyTorch order: Shape[len-1] is the row length

	// SrcName is the Hugging Face name the tensor came from (for per-family type rules), Bid
	// its block number or -1.
	SrcName string
	Bid     int

	// Half reports that the values are float16 numbers (a float16 source kept as float16 by
	// the converter); transforms that compute round their results to float16 too.
	Half bool
	// SrcDType is the dtype of the source tensor ("" for generated tensors).
	SrcDType safetensors.DType

	rows func(dst []float32, r0, n int) error
}

// RowLen returns the number of elements per row.
func (t *Tensor) RowLen() int {
	if len(t.Shape) == 0 {
		return 1
	}
	return int(t.Shape[len(t.Shape)-1])
}

// NumRows returns the number of rows.
func (t *Tensor) NumRows() int {
	n := 1
	for _, d := range t.Shape[:max(len(t.Shape)-1, 0)] {
		n *= int(d)
	}
	return n
}

// NumElements returns the product of the shape.
func (t *Tensor) NumElements() int64 {
	n := int64(1)
	for _, d := range t.Shape {
		n *= d
	}
	return n
}

// Dims returns the shape in ggml order (Dims[0] is the row length).
func (t *Tensor) Dims() []uint64 {
	d := make([]uint64, len(t.Shape))
	for i, s := range t.Shape {
		d[len(d)-1-i] = uint64(s)
	}
	if len(d) == 0 {
		d = []uint64{1}
	}
	return d
}

// ReadRows writes rows [r0, r0+n) into dst (n*RowLen values).
func (t *Tensor) ReadRows(dst []float32, r0, n int) error {
	if r0 < 0 || n < 0 || r0+n > t.NumRows() || len(dst) != n*t.RowLen() {
		return fmt.Errorf("archmap: tensor %q: rows [%d, %d) of %d into %d values", t.Name, r0, r0+n, t.NumRows(), len(dst))
	}
	if n == 0 {
		return nil
	}
	if err := t.rows(dst, r0, n); err != nil {
		return fmt.Errorf("archmap: tensor %q: %w", t.Name, err)
	}
	return nil
}

// fromSource wraps a checkpoint tensor.
func fromSource(st *safetensors.Tensor) *Tensor {
	t := &Tensor{Name: st.Name, Shape: append([]int64(nil), st.Shape...), SrcName: st.Name, Bid: -1, Half: st.DType == safetensors.F16, SrcDType: st.DType}
	rowLen := int64(t.RowLen())
	t.rows = func(dst []float32, r0, n int) error {
		return st.Floats(dst, int64(r0)*rowLen)
	}
	return t
}

// Generated returns a tensor whose values are given (e.g. rope_freqs).
func Generated(name string, shape []int64, values []float32) *Tensor {
	t := &Tensor{Name: name, Shape: shape, Bid: -1}
	rowLen := t.RowLen()
	t.rows = func(dst []float32, r0, n int) error {
		copy(dst, values[r0*rowLen:(r0+n)*rowLen])
		return nil
	}
	return t
}

// derive returns a copy of t with a new name and shape and a new row function.
func (t *Tensor) derive(name string, shape []int64, rows func(dst []float32, r0, n int) error) *Tensor {
	c := *t
	c.Name = name
	c.Shape = shape
	c.rows = rows
	return &c
}

// Renamed returns t under another name.
func (t *Tensor) Renamed(name string) *Tensor {
	c := *t
	c.Name = name
	return &c
}

// Reshaped returns t with another shape of the same row length and element count (e.g. the
// squeeze of leading 1s).
func (t *Tensor) Reshaped(shape []int64) (*Tensor, error) {
	c := *t
	c.Shape = shape
	if c.NumElements() != t.NumElements() || c.RowLen() != t.RowLen() {
		return nil, fmt.Errorf("archmap: tensor %q: cannot reshape %v to %v", t.Name, t.Shape, shape)
	}
	return &c, nil
}

// Map applies f to every element. With a float16 tensor the result is rounded to float16, as
// torch computes float16 arithmetic.
func (t *Tensor) Map(f func(float32) float32) *Tensor {
	src := t.rows
	h := t.Half
	return t.derive(t.Name, t.Shape, func(dst []float32, r0, n int) error {
		if err := src(dst, r0, n); err != nil {
			return err
		}
		for i, v := range dst {
			v = f(v)
			if h {
				v = half.RoundF16(v)
			}
			dst[i] = v
		}
		return nil
	})
}

// RowSlice returns rows [start, start+count) of the outermost dimension: for a 2-D tensor the
// rows themselves (e.g. one part of a fused qkv weight), for a 1-D tensor the elements.
func (t *Tensor) RowSlice(name string, start, count int64) (*Tensor, error) {
	if len(t.Shape) == 0 || start < 0 || count < 0 || start+count > t.Shape[0] {
		return nil, fmt.Errorf("archmap: tensor %q: slice [%d, %d) of dimension 0 (%d)", t.Name, start, start+count, t.Shape[0])
	}
	shape := append([]int64{count}, t.Shape[1:]...)
	src := t.rows
	if len(t.Shape) == 1 {
		return t.derive(name, shape, func(dst []float32, r0, n int) error {
			all := make([]float32, t.Shape[0])
			if err := src(all, 0, 1); err != nil {
				return err
			}
			copy(dst, all[start:start+count])
			return nil
		}), nil
	}
	per := int(t.NumRows() / int(t.Shape[0])) // rows per outer index
	off := int(start) * per
	return t.derive(name, shape, func(dst []float32, r0, n int) error {
		return src(dst, off+r0, n)
	}), nil
}

// PermuteOuter reorders the outermost dimension: out[i] = in[perm(i)]. For a 1-D tensor it
// permutes elements.
func (t *Tensor) PermuteOuter(perm func(i int) int) *Tensor {
	src := t.rows
	if len(t.Shape) == 1 {
		n0 := int(t.Shape[0])
		return t.derive(t.Name, t.Shape, func(dst []float32, r0, n int) error {
			all := make([]float32, n0)
			if err := src(all, 0, 1); err != nil {
				return err
			}
			for i := range dst {
				dst[i] = all[perm(i)]
			}
			return nil
		})
	}
	per := t.NumRows() / int(t.Shape[0])
	rowLen := t.RowLen()
	return t.derive(t.Name, t.Shape, func(dst []float32, r0, n int) error {
		from := func(r int) int { return perm(r/per)*per + r%per }
		lo, hi := from(r0), from(r0)
		for r := r0 + 1; r < r0+n; r++ {
			s := from(r)
			lo, hi = min(lo, s), max(hi, s)
		}
		if span := hi - lo + 1; span <= 2*n {
			// The rows come from a window of the source about the chunk's size (a permutation
			// within heads): read it in one pass, in file order, then place the rows. Reading
			// row by row in permuted order would fault neighbouring rows of a memory-mapped
			// source back into the resident set after they were released.
			bp := permBufs.Get().(*[]float32)
			if cap(*bp) < span*rowLen {
				*bp = make([]float32, span*rowLen)
			}
			buf := (*bp)[:span*rowLen]
			defer permBufs.Put(bp)
			if err := src(buf, lo, span); err != nil {
				return err
			}
			for r := r0; r < r0+n; r++ {
				s := from(r) - lo
				copy(dst[(r-r0)*rowLen:(r-r0+1)*rowLen], buf[s*rowLen:(s+1)*rowLen])
			}
			return nil
		}
		for r := r0; r < r0+n; r++ {
			if err := src(dst[(r-r0)*rowLen:(r-r0+1)*rowLen], from(r), 1); err != nil {
				return err
			}
		}
		return nil
	})
}

// permBufs holds PermuteOuter's read windows.
var permBufs = sync.Pool{New: func() any { return new([]float32) }}

// Stack stacks tensors of equal shape along a new outermost dimension (torch.stack(dim=0)).
func Stack(name string, parts []*Tensor) (*Tensor, error) {
	if len(parts) == 0 {
		return nil, fmt.Errorf("archmap: stack %q of no tensors", name)
	}
	first := parts[0]
	for _, p := range parts[1:] {
		if fmt.Sprint(p.Shape) != fmt.Sprint(first.Shape) {
			return nil, fmt.Errorf("archmap: stack %q: %s has shape %v, %s has %v", name, first.Name, first.Shape, p.Name, p.Shape)
		}
	}
	return concatRows(name, append([]int64{int64(len(parts))}, first.Shape...), parts), nil
}

// Concat concatenates tensors along the outermost dimension (torch.cat(dim=0)).
func Concat(name string, parts []*Tensor) (*Tensor, error) {
	if len(parts) == 0 {
		return nil, fmt.Errorf("archmap: concat %q of no tensors", name)
	}
	shape := append([]int64(nil), parts[0].Shape...)
	for _, p := range parts[1:] {
		if len(p.Shape) != len(shape) || fmt.Sprint(p.Shape[1:]) != fmt.Sprint(shape[1:]) {
			return nil, fmt.Errorf("archmap: concat %q: shapes %v and %v", name, parts[0].Shape, p.Shape)
		}
		shape[0] += p.Shape[0]
	}
	if len(shape) == 1 {
		// 1-D: one row made of the parts' elements.
		t := parts[0].derive(name, shape, func(dst []float32, r0, n int) error {
			off := 0
			for _, p := range parts {
				if err := p.rows(dst[off:off+p.RowLen()], 0, 1); err != nil {
					return err
				}
				off += p.RowLen()
			}
			return nil
		})
		return t, nil
	}
	return concatRows(name, shape, parts), nil
}

func concatRows(name string, shape []int64, parts []*Tensor) *Tensor {
	first := parts[0]
	rowLen := first.RowLen()
	starts := make([]int, len(parts)+1)
	for i, p := range parts {
		starts[i+1] = starts[i] + p.NumRows()
	}
	c := first.derive(name, shape, func(dst []float32, r0, n int) error {
		for i, p := range parts {
			lo, hi := max(r0, starts[i]), min(r0+n, starts[i+1])
			if lo >= hi {
				continue
			}
			if err := p.rows(dst[(lo-r0)*rowLen:(hi-r0)*rowLen], lo-starts[i], hi-lo); err != nil {
				return err
			}
		}
		return nil
	})
	for _, p := range parts {
		c.Half = c.Half && p.Half
	}
	return c
}

// Transpose2D returns the transpose of a 2-D tensor (e.g. GPT-2's Conv1D weights). Each output
// row gathers one column of the source.
func (t *Tensor) Transpose2D() (*Tensor, error) {
	if len(t.Shape) != 2 {
		return nil, fmt.Errorf("archmap: tensor %q: transpose of shape %v", t.Name, t.Shape)
	}
	rows, cols := int(t.Shape[0]), int(t.Shape[1])
	src := t.rows
	return t.derive(t.Name, []int64{int64(cols), int64(rows)}, func(dst []float32, r0, n int) error {
		// Read the source in row blocks and scatter the requested columns.
		const blk = 64
		buf := make([]float32, blk*cols)
		for s := 0; s < rows; s += blk {
			k := min(blk, rows-s)
			if err := src(buf[:k*cols], s, k); err != nil {
				return err
			}
			for c := r0; c < r0+n; c++ {
				out := dst[(c-r0)*rows:]
				for i := 0; i < k; i++ {
					out[s+i] = buf[i*cols+c]
				}
			}
		}
		return nil
	}), nil
}

// llamaPermute returns the row permutation that llama.cpp's converter applies to Q and K
// projections (LlamaModel.permute: reshape(n_head, 2, d/n_head/2, ...).swapaxes(1, 2)), which
// turns Hugging Face's rotate-half layout into ggml's interleaved RoPE layout.
func llamaPermute(rows, nHead int) func(int) int {
	per := rows / nHead // rows per head
	half := per / 2
	return func(o int) int {
		h, r := o/per, o%per
		i, j := r/2, r%2
		return h*per + j*half + i
	}
}
