package quantize

// Q4_0: blocks of 32 values, fp16 scale d and 4-bit quants q, x = d*(q-8).
// Reimplemented from quantize_row_q4_0_ref, quantize_row_q4_0_impl and dequantize_row_q4_0 in
// ggml/src/ggml-quants.c (ggml, MIT license).

import "github.com/ggufy/ggufy/gguf"

const (
	qk4_0     = 32
	blockQ4_0 = 2 + qk4_0/2
)

func init() {
	register(gguf.TypeQ4_0, &codec{quantizeRow: quantizeRowQ4_0, dequantizeRow: dequantizeRowQ4_0})
}

func quantizeRowQ4_0(dst []byte, src, imatrix []float32) {
	if imatrix != nil {
		quantizeRowQ4_0Weighted(dst, src, imatrix)
		return
	}
	for ib := 0; ib < len(src)/qk4_0; ib++ {
		x := src[ib*qk4_0 : (ib+1)*qk4_0]
		y := dst[ib*blockQ4_0 : (ib+1)*blockQ4_0]
		var amax, max float32
		for _, v := range x {
			if av := absf(v); amax < av {
				amax, max = av, v
			}
		}
		d := max / -8
		var id float32
		if d != 0 {
			id = 1 / d
		}
		putF16(y, d)
		for j := 0; j < qk4_0/2; j++ {
			xi0 := min(15, int8(cInt32(float32(x[j]*id)+8.5)))
			xi1 := min(15, int8(cInt32(float32(x[j+qk4_0/2]*id)+8.5)))
			y[2+j] = uint8(xi0) | uint8(xi1)<<4
		}
	}
}

// rowSigma2 is sum(x²)/len(x) accumulated in order, as the legacy _impl quantizers compute it
// over the whole row.
func rowSigma2(x []float32) float32 {
	return float32(sumSquares(x) / float32(len(x)))
}

func quantizeRowQ4_0Weighted(dst []byte, src, qw []float32) {
	sigma2 := rowSigma2(src)
	var weight [qk4_0]float32
	var L [qk4_0]int8
	for ib := 0; ib < len(src)/qk4_0; ib++ {
		x := src[ib*qk4_0 : (ib+1)*qk4_0]
		w := qw[ib*qk4_0 : (ib+1)*qk4_0]
		y := dst[ib*blockQ4_0 : (ib+1)*blockQ4_0]
		for j, v := range x {
			weight[j] = w[j] * sqrtf(sigma2+float32(v*v))
		}
		d := makeQxQuants(x, 8, L[:], 1, weight[:])
		putF16(y, d)
		for j := 0; j < 16; j++ {
			y[2+j] = uint8(L[j]) | uint8(L[j+16])<<4
		}
	}
}

func dequantizeRowQ4_0(dst []float32, src []byte) {
	for ib := 0; ib < len(dst)/qk4_0; ib++ {
		y := dst[ib*qk4_0 : (ib+1)*qk4_0]
		x := src[ib*blockQ4_0 : (ib+1)*blockQ4_0]
		d := getF16(x)
		for j := 0; j < qk4_0/2; j++ {
			q := x[2+j]
			y[j] = float32(int(q&0x0f)-8) * d
			y[j+qk4_0/2] = float32(int(q>>4)-8) * d
		}
	}
}
