//go:build amd64 && !purego

package kernels

import (
	"encoding/binary"
	"math"

	"github.com/ggufy/ggufy/gguf"
	"github.com/ggufy/ggufy/internal/half"
	"golang.org/x/sys/cpu"
)

// Assembly dispatch for amd64: the avo-generated kernels (kernels_amd64.s, stubs in
// kernels_amd64.go, generator in _gen) run when the CPU has AVX2, FMA and F16C. The pure-Go
// build of this file is dispatch_other.go.

// haveAsm reports whether the CPU can run the assembly kernels.
var haveAsm = cpu.X86.HasAVX2 && cpu.X86.HasFMA && cpu.X86.HasF16C

// useAsm selects the assembly kernels when the CPU has them. It is a variable so that tests can
// force the pure-Go fallback and compare the two.
var useAsm = haveAsm

// dqBase is the decoded size of one lattice i-quant block (_gen/iq.go decodedLayout).
const dqBase = 800

func init() {
	if !haveAsm {
		return
	}
	type blockAsm struct {
		one  func(nb int, w, a *byte) float32
		four func(nb int, w, a *byte, stride int, out *[4]float32)
	}
	for t, f := range map[gguf.Type]blockAsm{
		gguf.TypeQ8_0:    {dotQ8_0AVX2, dot4Q8_0AVX2},
		gguf.TypeQ4_0:    {dotQ4_0AVX2, dot4Q4_0AVX2},
		gguf.TypeQ5_0:    {dotQ5_0AVX2, dot4Q5_0AVX2},
		gguf.TypeQ4_1:    {dotQ4_1AVX2, dot4Q4_1AVX2},
		gguf.TypeQ5_1:    {dotQ5_1AVX2, dot4Q5_1AVX2},
		gguf.TypeIQ4_NL:  {dotIQ4NLAVX2, dot4IQ4NLAVX2},
		gguf.TypeMXFP4:   {dotMXFP4AVX2, dot4MXFP4AVX2},
		gguf.TypeQ2_K:    {dotQ2KAVX2, dot4Q2KAVX2},
		gguf.TypeQ3_K:    {dotQ3KAVX2, dot4Q3KAVX2},
		gguf.TypeQ4_K:    {dotQ4KAVX2, dot4Q4KAVX2},
		gguf.TypeQ5_K:    {dotQ5KAVX2, dot4Q5KAVX2},
		gguf.TypeQ6_K:    {dotQ6KAVX2, dot4Q6KAVX2},
		gguf.TypeIQ4_XS:  {dotIQ4XSAVX2, dot4IQ4XSAVX2},
		gguf.TypeIQ2_XXS: {dotIQ2XXSAVX2, dot4IQ2XXSAVX2},
		gguf.TypeIQ2_XS:  {dotIQ2XSAVX2, dot4IQ2XSAVX2},
		gguf.TypeIQ2_S:   {dotIQ2SAVX2, dot4IQ2SAVX2},
		gguf.TypeIQ3_XXS: {dotIQ3XXSAVX2, dot4IQ3XXSAVX2},
		gguf.TypeIQ3_S:   {dotIQ3SAVX2, dot4IQ3SAVX2},
		gguf.TypeIQ1_S:   {dotIQ1SAVX2, dot4IQ1SAVX2},
		gguf.TypeIQ1_M:   {dotIQ1MAVX2, dot4IQ1MAVX2},
		gguf.TypeTQ1_0:   {dotTQ1_0AVX2, dot4TQ1_0AVX2},
		gguf.TypeTQ2_0:   {dotTQ2_0AVX2, dot4TQ2_0AVX2},
	} {
		k := kernelTable[t]
		one, four, bl := f.one, f.four, k.block
		k.fast = func(n int, w, a []byte) float32 { return one(n/bl, &w[0], &a[0]) }
		k.fast4 = func(n int, w, a []byte, stride int, out *[4]float32) {
			_ = a[3*stride] // the fourth column starts inside a
			four(n/bl, &w[0], &a[0], stride, out)
		}
	}
	for t, f := range map[gguf.Type]func(nb int, w, a *byte, out *[4]float32){
		gguf.TypeQ8_0:   dot4pQ8_0AVX2,
		gguf.TypeQ4_0:   dot4pQ4_0AVX2,
		gguf.TypeQ5_0:   dot4pQ5_0AVX2,
		gguf.TypeQ4_1:   dot4pQ4_1AVX2,
		gguf.TypeQ5_1:   dot4pQ5_1AVX2,
		gguf.TypeIQ4_NL: dot4pIQ4NLAVX2,
		gguf.TypeMXFP4:  dot4pMXFP4AVX2,
	} {
		k := kernelTable[t]
		pb := panelBlockSize(k.act)
		kern := f
		k.panel4 = func(nb int, w, p []byte, out *[4]float32) {
			_ = w[nb*k.wbytes-1]
			_ = p[nb*pb-1]
			kern(nb, &w[0], &p[0], out)
		}
	}
	// the lattice i-quants also run over rows decoded once per MatMul row (see _gen/iq.go)
	type decodedAsm struct {
		decode func(nb int, w, dst *byte)
		dot4d  func(nb int, d, a *byte, stride int, out *[4]float32)
		dsize  int
	}
	for t, f := range map[gguf.Type]decodedAsm{
		gguf.TypeIQ2_XXS: {decodeIQ2XXSAVX2, dot4dIQ2XXSAVX2, dqBase},
		gguf.TypeIQ2_XS:  {decodeIQ2XSAVX2, dot4dIQ2XSAVX2, dqBase},
		gguf.TypeIQ2_S:   {decodeIQ2SAVX2, dot4dIQ2SAVX2, dqBase},
		gguf.TypeIQ3_XXS: {decodeIQ3XXSAVX2, dot4dIQ3XXSAVX2, dqBase},
		gguf.TypeIQ3_S:   {decodeIQ3SAVX2, dot4dIQ3SAVX2, dqBase},
		gguf.TypeIQ1_S:   {decodeIQ1SAVX2, dot4dIQ1SAVX2, dqBase + 32},
		gguf.TypeIQ1_M:   {decodeIQ1MAVX2, dot4dIQ1MAVX2, dqBase + 8*32},
	} {
		k := kernelTable[t]
		f := f
		k.dsize = f.dsize
		k.decode = func(nb int, w, dst []byte) {
			_ = w[nb*k.wbytes-1]
			_ = dst[nb*f.dsize-1]
			f.decode(nb, &w[0], &dst[0])
		}
		k.dot4d = func(n int, d, a []byte, stride int, out *[4]float32) {
			_ = a[3*stride]
			f.dot4d(n/qkK, &d[0], &a[0], stride, out)
		}
	}
	setFloat(gguf.TypeF32, dotF32AVX2, dot4F32AVX2, tailF32)
	setFloat(gguf.TypeF16, dotF16AVX2, dot4F16AVX2, tailWide(half.F16ToF32))
	setFloat(gguf.TypeBF16, dotBF16AVX2, dot4BF16AVX2, tailWide(half.BF16ToF32))
}

// setFloat installs the kernels of a plain float type: the assembly covers steps of 32 values,
// tail adds the rest the way ggml's scalar loop does.
func setFloat(t gguf.Type, one func(nb int, w, a *byte) float32,
	four func(nb int, w, a *byte, stride int, out *[4]float32),
	tail func(s float32, w, a []byte, from, to int) float32) {
	k := kernelTable[t]
	k.fast = func(n int, w, a []byte) float32 {
		var s float32
		if n >= 32 {
			s = one(n/32, &w[0], &a[0])
		}
		return tail(s, w, a, n/32*32, n)
	}
	fast := k.fast
	k.fast4 = func(n int, w, a []byte, stride int, out *[4]float32) {
		if n%32 != 0 {
			for c := range out {
				out[c] = fast(n, w, a[c*stride:])
			}
			return
		}
		_ = a[3*stride]
		four(n/32, &w[0], &a[0], stride, out)
	}
}

// tailF32 is ggml_vec_dot_f32's leftover loop: sumf += x*y in float32, fused.
func tailF32(s float32, w, a []byte, from, to int) float32 {
	for i := from; i < to; i++ {
		x := math.Float32frombits(binary.LittleEndian.Uint32(w[4*i:]))
		y := math.Float32frombits(binary.LittleEndian.Uint32(a[4*i:]))
		s = float32(math.FMA(float64(x), float64(y), float64(s)))
	}
	return s
}

// tailWide is the leftover loop of ggml_vec_dot_f16/_bf16: products summed in double.
func tailWide(conv func(uint16) float32) func(s float32, w, a []byte, from, to int) float32 {
	return func(s float32, w, a []byte, from, to int) float32 {
		if from == to {
			return s
		}
		sum := float64(s)
		for i := from; i < to; i++ {
			sum += float64(float32(conv(binary.LittleEndian.Uint16(w[2*i:])) * conv(binary.LittleEndian.Uint16(a[2*i:]))))
		}
		return float32(sum)
	}
}

func quantizeRowQ8_0(dst []byte, src []float32) {
	if useAsm && len(src) >= qk32 {
		quantizeQ8_0AVX2(len(src)/qk32, &src[0], &dst[0])
		return
	}
	quantizeRowQ8_0Generic(dst, src)
}

func quantizeRowQ8_1(dst []byte, src []float32) {
	if useAsm && len(src) >= qk32 {
		quantizeQ8_1AVX2(len(src)/qk32, &src[0], &dst[0])
		return
	}
	quantizeRowQ8_1Generic(dst, src)
}

func quantizeRowBF16(dst []byte, src []float32) {
	n8 := len(src) / 8
	if useAsm && n8 > 0 {
		quantizeBF16AVX2(n8, &src[0], &dst[0])
		quantizeRowBF16Generic(dst[16*n8:], src[8*n8:])
		return
	}
	quantizeRowBF16Generic(dst, src)
}

func quantizeRowQ8K(dst []byte, src []float32) {
	if useAsm && len(src) >= qkK {
		quantizeQ8KAVX2(len(src)/qkK, &src[0], &dst[0])
		return
	}
	quantizeRowQ8KGeneric(dst, src)
}

func quantizeRowF16(dst []byte, src []float32) {
	n8 := len(src) / 8
	if useAsm && n8 > 0 {
		quantizeF16AVX2(n8, &src[0], &dst[0])
		quantizeRowF16Generic(dst[16*n8:], src[8*n8:])
		return
	}
	quantizeRowF16Generic(dst, src)
}
