package kernels

import "math"

// The exponentials of ggml-cpu's vector code (ggml/src/ggml-cpu/vec.h ggml_v_expf, ggml_v_silu,
// and vec.cpp ggml_vec_soft_max_f32, ggml_vec_swiglu_f32 of llama.cpp v0.5.0, MIT License):
// blocks of eight values go through ggml's polynomial exp (AVX2 assembly in vexp_amd64.s, from
// _gen/vexp), the tail through expf, as the AVX2 build does. The pure-Go versions below compute
// the same values lane by lane and are the fallback and the tests' reference.

// SoftMaxExp sets y[i] = exp(x[i] - mx) as ggml_vec_soft_max_f32 does and returns the sum of
// y in double: each block of eight summed in float in the order of AVX2's horizontal add, the
// blocks and the tail (expf) added in double. len(y) must be at least len(x).
func SoftMaxExp(y, x []float32, mx float32) float64 {
	n := len(x)
	y = y[:n]
	nb := n / 8
	var sum float64
	if nb > 0 {
		if useAsm {
			sum = softMaxExpAVX2(&y[0], &x[0], nb, mx)
		} else {
			sum = softMaxExpGo(y[:8*nb], x[:8*nb], mx)
		}
	}
	for i := 8 * nb; i < n; i++ {
		v := float32(math.Exp(float64(x[i] - mx)))
		sum += float64(v)
		y[i] = v
	}
	return sum
}

// SwiGLU sets y = silu(x) * g as ggml_vec_swiglu_f32 does: ggml_v_silu for blocks of eight,
// x/(1+expf(-x)) for the tail. g and y must be at least as long as x.
func SwiGLU(y, x, g []float32) {
	n := len(x)
	y, g = y[:n], g[:n]
	nb := n / 8
	if nb > 0 {
		if useAsm {
			swigluAVX2(&y[0], &x[0], &g[0], nb)
		} else {
			for i := range 8 * nb {
				y[i] = x[i] / (1 + VExpf(-x[i])) * g[i]
			}
		}
	}
	for i := 8 * nb; i < n; i++ {
		y[i] = x[i] / (1 + float32(math.Exp(float64(-x[i])))) * g[i]
	}
}

func softMaxExpGo(y, x []float32, mx float32) float64 {
	var sum float64
	for i := 0; i+8 <= len(x); i += 8 {
		var v [8]float32
		for l := range 8 {
			v[l] = VExpf(x[i+l] - mx)
			y[i+l] = v[l]
		}
		a0, a1, a2, a3 := v[0]+v[4], v[1]+v[5], v[2]+v[6], v[3]+v[7]
		sum += float64((a0 + a2) + (a1 + a3))
	}
	return sum
}

func fmaf(a, b, c float32) float32 { return float32(math.FMA(float64(a), float64(b), float64(c))) }

// VExpf is one lane of ggml_v_expf, ggml's vectorized expf (an ARM optimized-routines
// polynomial; at most 1.45358 + 0.5 ulp from exp).
func VExpf(x float32) float32 {
	const r = 0x1.8p23
	z := fmaf(x, 0x1.715476p+0, r)
	n := z - r
	b := fmaf(-n, 0x1.7f7d1cp-20, fmaf(-n, 0x1.62e4p-1, x))
	e := math.Float32bits(z) << 23
	k := math.Float32frombits(e + math.Float32bits(1))
	an := math.Float32frombits(math.Float32bits(n) &^ (1 << 31))
	u := b * b
	j := fmaf(fmaf(fmaf(0x1.0e4020p-7, b, 0x1.573e2ep-5), u, fmaf(0x1.555e66p-3, b, 0x1.fffdb6p-2)), u, 0x1.ffffecp-1*b)
	if !(an > 126) {
		return fmaf(j, k, k)
	}
	var g uint32
	if n <= 0 {
		g = 0x82000000
	}
	s1 := math.Float32frombits(g + 0x7f000000)
	s2 := math.Float32frombits(e - g)
	if an > 192 {
		return s1 * s1
	}
	return fmaf(s2, j, s2) * s1
}
