package quantize

// Q4_1: blocks of 32 values, fp16 scale d and minimum m, 4-bit quants q, x = d*q + m.
// Reimplemented from quantize_row_q4_1_ref, quantize_row_q4_1_impl and dequantize_row_q4_1 in
// ggml/src/ggml-quants.c (ggml, MIT license).

import "github.com/ggufy/ggufy/gguf"

const (
	qk4_1     = 32
	blockQ4_1 = 4 + qk4_1/2
)

func init() {
	register(gguf.TypeQ4_1, &codec{quantizeRow: quantizeRowQ4_1, dequantizeRow: dequantizeRowQ4_1})
}

// blockMinMax returns the minimum and maximum of x as ggml's legacy quantizers find them
// (starting from ±FLT_MAX, so NaNs are skipped, and the first of equal zeros is kept). Go's
// min and max builtins are branch-free but propagate NaN and order -0 below +0, so their results
// are used only when they cannot differ: not NaN, not zero.
func blockMinMax(x []float32) (lo, hi float32) {
	lo, hi = float32Max, -float32Max
	if len(x)%4 == 0 { // four independent chains; the order does not matter to min and max
		lo0, lo1, lo2, lo3 := lo, lo, lo, lo
		hi0, hi1, hi2, hi3 := hi, hi, hi, hi
		for i := 0; i+4 <= len(x); i += 4 {
			v := x[i : i+4 : i+4]
			lo0, lo1, lo2, lo3 = min(lo0, v[0]), min(lo1, v[1]), min(lo2, v[2]), min(lo3, v[3])
			hi0, hi1, hi2, hi3 = max(hi0, v[0]), max(hi1, v[1]), max(hi2, v[2]), max(hi3, v[3])
		}
		lo, hi = min(lo0, lo1, lo2, lo3), max(hi0, hi1, hi2, hi3)
	} else {
		for _, v := range x {
			lo, hi = min(lo, v), max(hi, v)
		}
	}
	if lo != lo || hi != hi || lo == 0 || hi == 0 {
		lo, hi = float32Max, -float32Max
		for _, v := range x {
			if v < lo {
				lo = v
			}
			if v > hi {
				hi = v
			}
		}
	}
	return lo, hi
}

func quantizeRowQ4_1(dst []byte, src, imatrix []float32) {
	if imatrix != nil {
		quantizeRowQ4_1Weighted(dst, src, imatrix)
		return
	}
	for ib := 0; ib < len(src)/qk4_1; ib++ {
		x := src[ib*qk4_1 : (ib+1)*qk4_1]
		y := dst[ib*blockQ4_1 : (ib+1)*blockQ4_1]
		lo, hi := blockMinMax(x)
		d := (hi - lo) / 15
		var id float32
		if d != 0 {
			id = 1 / d
		}
		putF16(y, d)
		putF16(y[2:], lo)
		for j := 0; j < qk4_1/2; j++ {
			xi0 := min(15, int8(cInt32(float32((x[j]-lo)*id)+0.5)))
			xi1 := min(15, int8(cInt32(float32((x[j+qk4_1/2]-lo)*id)+0.5)))
			y[4+j] = uint8(xi0) | uint8(xi1)<<4
		}
	}
}

func quantizeRowQ4_1Weighted(dst []byte, src, qw []float32) {
	sigma2 := rowSigma2(src)
	var weight [qk4_1]float32
	var L, Laux [qk4_1]uint8
	for ib := 0; ib < len(src)/qk4_1; ib++ {
		x := src[ib*qk4_1 : (ib+1)*qk4_1]
		w := qw[ib*qk4_1 : (ib+1)*qk4_1]
		y := dst[ib*blockQ4_1 : (ib+1)*blockQ4_1]
		for j, v := range x {
			weight[j] = w[j] * sqrtf(sigma2+float32(v*v))
		}
		var mn float32
		d := makeQkx3Quants(x, 15, weight[:], L[:], Laux[:], &mn, -0.9, 0.05, 36, false)
		putF16(y, d)
		putF16(y[2:], -mn)
		for j := 0; j < 16; j++ {
			y[4+j] = L[j] | L[j+16]<<4
		}
	}
}

func dequantizeRowQ4_1(dst []float32, src []byte) {
	for ib := 0; ib < len(dst)/qk4_1; ib++ {
		y := dst[ib*qk4_1 : (ib+1)*qk4_1]
		x := src[ib*blockQ4_1 : (ib+1)*blockQ4_1]
		d, m := getF16(x), getF16(x[2:])
		for j := 0; j < qk4_1/2; j++ {
			q := x[4+j]
			y[j] = float32(float32(q&0x0f)*d) + m
			y[j+qk4_1/2] = float32(float32(q>>4)*d) + m
		}
	}
}
