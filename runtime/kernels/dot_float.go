package kernels

import (
	"encoding/binary"
	"math"

	"github.com/ggufy/ggufy/internal/half"
)

// Pure-Go dot products of the unquantized types (ggml-cpu/vec.cpp ggml_vec_dot_f32/_f16/_bf16,
// MIT). Both rows have the weight type; products are summed in float32 over four partial sums.

func dotF32(n int, w, a []byte) float32 {
	w, a = w[:4*n], a[:4*n]
	var s [4]float32
	i := 0
	for ; i+4 <= n; i += 4 {
		for j := range 4 {
			o := 4 * (i + j)
			s[j] += float32(math.Float32frombits(binary.LittleEndian.Uint32(w[o:])) *
				math.Float32frombits(binary.LittleEndian.Uint32(a[o:])))
		}
	}
	for ; i < n; i++ {
		s[0] += float32(math.Float32frombits(binary.LittleEndian.Uint32(w[4*i:])) *
			math.Float32frombits(binary.LittleEndian.Uint32(a[4*i:])))
	}
	return (s[0] + s[2]) + (s[1] + s[3])
}

func dotF16(n int, w, a []byte) float32 {
	w, a = w[:2*n], a[:2*n]
	var s [4]float32
	i := 0
	for ; i+4 <= n; i += 4 {
		for j := range 4 {
			o := 2 * (i + j)
			s[j] += float32(half.F16ToF32(binary.LittleEndian.Uint16(w[o:])) *
				half.F16ToF32(binary.LittleEndian.Uint16(a[o:])))
		}
	}
	for ; i < n; i++ {
		s[0] += float32(half.F16ToF32(binary.LittleEndian.Uint16(w[2*i:])) *
			half.F16ToF32(binary.LittleEndian.Uint16(a[2*i:])))
	}
	return (s[0] + s[2]) + (s[1] + s[3])
}

func dotBF16(n int, w, a []byte) float32 {
	w, a = w[:2*n], a[:2*n]
	var s [4]float32
	i := 0
	for ; i+4 <= n; i += 4 {
		for j := range 4 {
			o := 2 * (i + j)
			s[j] += float32(half.BF16ToF32(binary.LittleEndian.Uint16(w[o:])) *
				half.BF16ToF32(binary.LittleEndian.Uint16(a[o:])))
		}
	}
	for ; i < n; i++ {
		s[0] += float32(half.BF16ToF32(binary.LittleEndian.Uint16(w[2*i:])) *
			half.BF16ToF32(binary.LittleEndian.Uint16(a[2*i:])))
	}
	return (s[0] + s[2]) + (s[1] + s[3])
}
