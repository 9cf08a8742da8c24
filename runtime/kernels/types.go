package kernels

import (
	"errors"
	"fmt"

	"github.com/ggufy/ggufy/gguf"
)

// ErrUnsupported is returned for a weight type that has no kernel.
var ErrUnsupported = errors.New("kernels: unsupported weight type")

// ErrShape is returned when buffer sizes do not match the shapes given.
var ErrShape = errors.New("kernels: buffer size does not match shape")

// Block layouts mirrored from ggml/src/ggml-common.h (block_* structs): values per block (qk*)
// and bytes per block (size*).
const (
	qk32  = 32  // QK4_0, QK4_1, QK5_0, QK5_1, QK8_0, QK8_1, QK4_NL, QK_MXFP4
	qkK   = 256 // QK_K
	qkF32 = 1

	sizeQ4_0   = 18  // block_q4_0: d, qs[16]
	sizeQ4_1   = 20  // block_q4_1: d, m, qs[16]
	sizeQ5_0   = 22  // block_q5_0: d, qh[4], qs[16]
	sizeQ5_1   = 24  // block_q5_1: d, m, qh[4], qs[16]
	sizeQ8_0   = 34  // block_q8_0: d, qs[32]
	sizeQ8_1   = 36  // block_q8_1: d, s, qs[32]
	sizeIQ4NL  = 18  // block_iq4_nl: d, qs[16]
	sizeMXFP4  = 17  // block_mxfp4: e, qs[16]
	sizeQ2K    = 84  // block_q2_K: scales[16], qs[64], d, dmin
	sizeQ3K    = 110 // block_q3_K: hmask[32], qs[64], scales[12], d
	sizeQ4K    = 144 // block_q4_K: d, dmin, scales[12], qs[128]
	sizeQ5K    = 176 // block_q5_K: d, dmin, scales[12], qh[32], qs[128]
	sizeQ6K    = 210 // block_q6_K: ql[128], qh[64], scales[16], d
	sizeQ8K    = 292 // block_q8_K: d (float32), qs[256], bsums[16] (int16)
	sizeIQ4XS  = 136 // block_iq4_xs: d, scales_h, scales_l[4], qs[128]
	sizeIQ2XXS = 66  // block_iq2_xxs: d, qs[32] (uint16)
	sizeIQ2XS  = 74  // block_iq2_xs: d, qs[32] (uint16), scales[8]
	sizeIQ2S   = 82  // block_iq2_s: d, qs[64], qh[8], scales[8]
	sizeIQ3XXS = 98  // block_iq3_xxs: d, qs[96]
	sizeIQ3S   = 110 // block_iq3_s: d, qs[64], qh[8], signs[32], scales[4]
	sizeIQ1S   = 50  // block_iq1_s: d, qs[32], qh[8] (uint16)
	sizeIQ1M   = 56  // block_iq1_m: qs[32], qh[16], scales[8]
	sizeTQ1_0  = 54  // block_tq1_0: qs[48], qh[4], d
	sizeTQ2_0  = 66  // block_tq2_0: qs[64], d
)

// dotFunc computes the dot product of n values: one weight row w against one activation row a.
// Both slices hold at least the bytes n values take; n is a multiple of the block size.
type dotFunc func(n int, w, a []byte) float32

// dot4Func computes four dot products of one weight row w against the activation rows a[0:],
// a[stride:], a[2*stride:] and a[3*stride:], into out.
type dot4Func func(n int, w, a []byte, stride int, out *[4]float32)

// panelFunc computes four dot products of one weight row of nb blocks against a panel of four
// interleaved activation rows (see buildPanel) into out.
type panelFunc func(nb int, w, p []byte, out *[4]float32)

// kernel describes the kernels of one weight type.
type kernel struct {
	act    gguf.Type // vec_dot_type: the activation format (type_traits_cpu[t].vec_dot_type)
	block  int       // values per weight block (the row length must be a multiple)
	wbytes int       // bytes of one weight block
	abytes int       // bytes of the activations of one weight block
	ref    dotFunc   // pure-Go reference, always present
	fast   dotFunc   // assembly, nil when there is none (set by the amd64 dispatch file)
	fast4  dot4Func  // assembly for four activation columns, nil when there is none
	panel4 panelFunc // assembly for four activation columns interleaved in a panel (panel.go)

	// Types whose blocks are costly to decode (the lattice i-quants) decode a weight row once
	// into dsize bytes per block with decode, then run dot4d over it for each column group.
	decode func(nb int, w, dst []byte)
	dsize  int
	dot4d  dot4Func
}

// kernelTable holds the kernels of each supported weight type, nil for the others. The pure-Go
// entries are filled here; the amd64 dispatch file adds the assembly ones.
var kernelTable = func() (tab [gguf.TypeCount]*kernel) {
	for t, k := range kernelList {
		k.wbytes = t.TypeSize()
		k.abytes = k.act.TypeSize() * k.block / k.act.BlockSize()
		tab[t] = k
	}
	return tab
}()

var kernelList = map[gguf.Type]*kernel{
	gguf.TypeF32:     {act: gguf.TypeF32, block: 1, ref: dotF32},
	gguf.TypeF16:     {act: gguf.TypeF16, block: 1, ref: dotF16},
	gguf.TypeBF16:    {act: gguf.TypeBF16, block: 1, ref: dotBF16},
	gguf.TypeQ4_0:    {act: gguf.TypeQ8_0, block: qk32, ref: dotQ4_0},
	gguf.TypeQ4_1:    {act: gguf.TypeQ8_1, block: qk32, ref: dotQ4_1},
	gguf.TypeQ5_0:    {act: gguf.TypeQ8_0, block: qk32, ref: dotQ5_0},
	gguf.TypeQ5_1:    {act: gguf.TypeQ8_1, block: qk32, ref: dotQ5_1},
	gguf.TypeQ8_0:    {act: gguf.TypeQ8_0, block: qk32, ref: dotQ8_0},
	gguf.TypeIQ4_NL:  {act: gguf.TypeQ8_0, block: qk32, ref: dotIQ4NL},
	gguf.TypeMXFP4:   {act: gguf.TypeQ8_0, block: qk32, ref: dotMXFP4},
	gguf.TypeQ2_K:    {act: gguf.TypeQ8_K, block: qkK, ref: dotQ2K},
	gguf.TypeQ3_K:    {act: gguf.TypeQ8_K, block: qkK, ref: dotQ3K},
	gguf.TypeQ4_K:    {act: gguf.TypeQ8_K, block: qkK, ref: dotQ4K},
	gguf.TypeQ5_K:    {act: gguf.TypeQ8_K, block: qkK, ref: dotQ5K},
	gguf.TypeQ6_K:    {act: gguf.TypeQ8_K, block: qkK, ref: dotQ6K},
	gguf.TypeIQ4_XS:  {act: gguf.TypeQ8_K, block: qkK, ref: dotIQ4XS},
	gguf.TypeIQ2_XXS: {act: gguf.TypeQ8_K, block: qkK, ref: dotIQ2XXS},
	gguf.TypeIQ2_XS:  {act: gguf.TypeQ8_K, block: qkK, ref: dotIQ2XS},
	gguf.TypeIQ2_S:   {act: gguf.TypeQ8_K, block: qkK, ref: dotIQ2S},
	gguf.TypeIQ3_XXS: {act: gguf.TypeQ8_K, block: qkK, ref: dotIQ3XXS},
	gguf.TypeIQ3_S:   {act: gguf.TypeQ8_K, block: qkK, ref: dotIQ3S},
	gguf.TypeIQ1_S:   {act: gguf.TypeQ8_K, block: qkK, ref: dotIQ1S},
	gguf.TypeIQ1_M:   {act: gguf.TypeQ8_K, block: qkK, ref: dotIQ1M},
	gguf.TypeTQ1_0:   {act: gguf.TypeQ8_K, block: qkK, ref: dotTQ1_0},
	gguf.TypeTQ2_0:   {act: gguf.TypeQ8_K, block: qkK, ref: dotTQ2_0},
}

// Types returns the weight types that have kernels, in ggml enum order.
func Types() []gguf.Type {
	var ts []gguf.Type
	for _, t := range gguf.Types() {
		if lookup(t) != nil {
			ts = append(ts, t)
		}
	}
	return ts
}

// lookup returns the kernels of t, or nil.
func lookup(t gguf.Type) *kernel {
	if t >= gguf.TypeCount {
		return nil
	}
	return kernelTable[t]
}

// Supported reports whether weights of type t can be multiplied.
func Supported(t gguf.Type) bool { return lookup(t) != nil }

// ActivationType returns the format activations take for a product with weights of type t
// (ggml's vec_dot_type): f32, f16, bf16, q8_0, q8_1 or q8_K.
func ActivationType(t gguf.Type) (gguf.Type, error) {
	k := lookup(t)
	if k == nil {
		return 0, fmt.Errorf("%w: %s", ErrUnsupported, t)
	}
	return k.act, nil
}

// RowSizes returns the bytes one row of n values takes as weights of type t and as the matching
// activations, or an error if t has no kernel or n is not a whole number of blocks of both.
func RowSizes(t gguf.Type, n int) (weight, act int, err error) {
	k := lookup(t)
	if k == nil {
		return 0, 0, fmt.Errorf("%w: %s", ErrUnsupported, t)
	}
	ws, err := t.RowSize(int64(n))
	if err != nil {
		return 0, 0, fmt.Errorf("kernels: %s row of %d: %w", t, n, err)
	}
	as, err := k.act.RowSize(int64(n))
	if err != nil {
		return 0, 0, fmt.Errorf("kernels: %s activations of %d: %w", k.act, n, err)
	}
	return int(ws), int(as), nil
}

// ActivationRowSize returns the bytes one row of n activations takes for weights of type t.
func ActivationRowSize(t gguf.Type, n int) (int, error) {
	_, as, err := RowSizes(t, n)
	return as, err
}
