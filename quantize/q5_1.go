package quantize

// Q5_1: blocks of 32 values, fp16 scale d and minimum m, 5-bit quants q, x = d*q + m.
// Reimplemented from quantize_row_q5_1_ref, quantize_row_q5_1_impl and dequantize_row_q5_1 in
// ggml/src/ggml-quants.c (ggml, MIT license).

import (
	"encoding/binary"

	"github.com/ggufy/ggufy/gguf"
)

const (
	qk5_1     = 32
	blockQ5_1 = 4 + 4 + qk5_1/2
)

func init() {
	register(gguf.TypeQ5_1, &codec{quantizeRow: quantizeRowQ5_1, dequantizeRow: dequantizeRowQ5_1})
}

func quantizeRowQ5_1(dst []byte, src, imatrix []float32) {
	if imatrix != nil {
		quantizeRowQ5_1Weighted(dst, src, imatrix)
		return
	}
	var q [qk5_1]uint8
	for ib := 0; ib < len(src)/qk5_1; ib++ {
		x := src[ib*qk5_1 : (ib+1)*qk5_1]
		y := dst[ib*blockQ5_1 : (ib+1)*blockQ5_1]
		lo, hi := blockMinMax(x)
		d := (hi - lo) / 31
		var id float32
		if d != 0 {
			id = 1 / d
		}
		putF16(y, d)
		putF16(y[2:], lo)
		for j, v := range x {
			q[j] = uint8(cInt32(float32((v-lo)*id) + 0.5))
		}
		pack5(y[4:8], y[8:], &q)
	}
}

func quantizeRowQ5_1Weighted(dst []byte, src, qw []float32) {
	sigma2 := rowSigma2(src)
	var weight [qk5_1]float32
	var L, Laux [qk5_1]uint8
	for ib := 0; ib < len(src)/qk5_1; ib++ {
		x := src[ib*qk5_1 : (ib+1)*qk5_1]
		w := qw[ib*qk5_1 : (ib+1)*qk5_1]
		y := dst[ib*blockQ5_1 : (ib+1)*blockQ5_1]
		for j, v := range x {
			weight[j] = w[j] * sqrtf(sigma2+float32(v*v))
		}
		var mn float32
		d := makeQkx3Quants(x, 31, weight[:], L[:], Laux[:], &mn, -0.9, 0.05, 36, false)
		putF16(y, d)
		putF16(y[2:], -mn)
		pack5(y[4:8], y[8:], &L)
	}
}

func dequantizeRowQ5_1(dst []float32, src []byte) {
	for ib := 0; ib < len(dst)/qk5_1; ib++ {
		y := dst[ib*qk5_1 : (ib+1)*qk5_1]
		x := src[ib*blockQ5_1 : (ib+1)*blockQ5_1]
		d, m := getF16(x), getF16(x[2:])
		h := binary.LittleEndian.Uint32(x[4:])
		for j := 0; j < qk5_1/2; j++ {
			x0, x1 := unpack5(h, x[8:], j)
			y[j] = float32(float32(x0)*d) + m
			y[j+qk5_1/2] = float32(float32(x1)*d) + m
		}
	}
}
