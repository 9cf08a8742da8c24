package runtime

import (
	"math"
	"sync"

	"github.com/ggufy/ggufy/internal/half"
	"github.com/ggufy/ggufy/runtime/kernels"
)

// Element-wise and row operations as ggml-cpu computes them on an AVX2/FMA machine
// (ggml/src/ggml-cpu/vec.h, vec.cpp, ops.cpp of llama.cpp v0.5.0, MIT License): the float32
// arithmetic, the places where ggml accumulates in double, its vectorized expf and its fp16 GELU
// table are reproduced so that results agree with llama.cpp to the last bits where it matters.

// expf is C's expf (correctly rounded float exp, as glibc's is in practice).
func expf(x float32) float32 { return float32(math.Exp(float64(x))) }

// fmaf is a float32 fused multiply-add.
func fmaf(a, b, c float32) float32 {
	return float32(math.FMA(float64(a), float64(b), float64(c)))
}

// siluf is ggml_silu_f32, the scalar tail: x / (1 + expf(-x)).
func siluf(x float32) float32 { return x / (1 + expf(-x)) }

// swigluRow is ggml_vec_swiglu_f32: y = silu(x) * g, ggml_v_silu for blocks of 8, the tail
// scalar.
func swigluRow(y, x, g []float32) { kernels.SwiGLU(y, x, g) }

// softMaxRow is ggml_vec_soft_max_f32: y = exp(x - max) with the vectorized expf for blocks of
// 8 (each block summed in float in the order of the AVX2 horizontal add, then added in double),
// expf for the tail. It returns the double sum.
func softMaxRow(y, x []float32, mx float32) float64 { return kernels.SoftMaxExp(y, x, mx) }

// softMax is ggml's soft_max op on one row without mask or scale: max, exp, 1/sum in double,
// scale.
func softMax(y, x []float32) {
	mx := float32(math.Inf(-1))
	for _, v := range x {
		mx = max(mx, v)
	}
	sum := softMaxRow(y, x, mx)
	inv := float32(1.0 / sum)
	for i := range y {
		y[i] *= inv
	}
}

// ggml's GELU constants (ggml-cpu/vec.h).
const (
	geluCoefA     = float32(0.044715)
	sqrt2OverPi   = float32(0.79788456080286535587989211986876)
	geluTableSize = 1 << 16
)

// geluf is ggml_gelu_f32, the tanh approximation in float.
func geluf(x float32) float32 {
	inner := sqrt2OverPi * x * (1 + geluCoefA*x*x)
	return 0.5 * x * (1 + tanhf(inner))
}

var (
	geluOnce  sync.Once
	geluTable []float32 // ggml_table_gelu_f16, already converted back to float32
)

// geluTab returns ggml's GELU lookup table: for every fp16 input, gelu rounded to fp16 (built
// in ggml_cpu_init), stored as the float32 values ggml reads back.
func geluTab() []float32 {
	geluOnce.Do(func() {
		geluTable = make([]float32, geluTableSize)
		for i := range geluTableSize {
			f := half.F16ToF32(uint16(i))
			geluTable[i] = half.F16ToF32(half.F32ToF16(geluf(f)))
		}
	})
	return geluTable
}

// geluRow is ggml_vec_gelu_f32 as built (GGML_GELU_FP16): inputs are rounded to fp16 and looked
// up, except beyond ±10.
func geluRow(y, x []float32) {
	tab := geluTab()
	for i, v := range x {
		switch {
		case v <= -10:
			y[i] = 0
		case v >= 10:
			y[i] = v
		default:
			y[i] = tab[half.F32ToF16(v)]
		}
	}
}

// gegluRow is ggml_vec_geglu_f32 as built (GGML_GELU_FP16): y = gelu(x) * g with the fp16 table.
func gegluRow(y, x, g []float32) {
	tab := geluTab()
	for i, v := range x {
		switch {
		case v <= -10:
			y[i] = 0
		case v >= 10:
			y[i] = v * g[i]
		default:
			y[i] = tab[half.F32ToF16(v)] * g[i]
		}
	}
}

// rmsNorm is ggml_rms_norm followed by ggml_mul with w (nil: no weight): the sum of squares in
// double over float products, mean and scale in float.
func rmsNorm(y, x, w []float32, eps float32) {
	var sum float64
	for _, v := range x {
		sum += float64(v * v)
	}
	mean := float32(sum / float64(len(x)))
	scale := 1 / sqrtf(mean+eps)
	if w == nil {
		for i, v := range x {
			y[i] = v * scale
		}
		return
	}
	for i, v := range x {
		y[i] = (v * scale) * w[i]
	}
}

// layerNorm is ggml_norm followed by ggml_mul with w and ggml_add with b (either may be nil):
// the mean from a double sum, the variance as ggml_vec_cvar_f32 computes it with AVX2 (float
// squares of eight lanes summed in float, added in double).
func layerNorm(y, x, w, b []float32, eps float32) {
	n := len(x)
	var s float64
	for _, v := range x {
		s += float64(v)
	}
	mean := float32(s) / float32(n)
	var sum float64
	i := 0
	for ; i+7 < n; i += 8 {
		var v [8]float32
		for l := range 8 {
			d := x[i+l] - mean
			y[i+l] = d
			v[l] = d * d
		}
		a0, a1, a2, a3 := v[0]+v[4], v[1]+v[5], v[2]+v[6], v[3]+v[7]
		sum += float64((a0 + a2) + (a1 + a3))
	}
	for ; i < n; i++ {
		d := x[i] - mean
		y[i] = d
		sum += float64(d * d)
	}
	variance := float32(sum / float64(n))
	scale := 1 / sqrtf(variance+eps)
	for i := range y[:n] {
		v := y[i] * scale
		if w != nil {
			v *= w[i]
		}
		if b != nil {
			v += b[i]
		}
		y[i] = v
	}
}

// addTo adds b to a element-wise.
func addTo(a, b []float32) {
	b = b[:len(a)]
	for i := range a {
		a[i] += b[i]
	}
}

// scaleRow multiplies x by s (ggml_scale).
func scaleRow(x []float32, s float32) {
	for i := range x {
		x[i] *= s
	}
}

// softcap is ggml_scale(1/c), ggml_tanh, ggml_scale(c): c * tanh(x / c) with the scale computed
// in float first.
func softcap(x []float32, c float32) {
	inv := 1 / c
	for i, v := range x {
		x[i] = tanhf(v*inv) * c
	}
}
