package quantize

// Q2_0: blocks of 64 values with an fp16 scale d (the absolute maximum) and 2-bit codes
// q = clamp(round(x/d)+1, 0, 3), x = d*(q-1).
// Reimplemented from quantize_row_q2_0_ref and dequantize_row_q2_0 in ggml/src/ggml-quants.c
// (ggml, MIT license).

import "github.com/ggufy/ggufy/gguf"

const (
	qk2_0     = 64
	blockQ2_0 = 2 + qk2_0/4
)

func init() {
	register(gguf.TypeQ2_0, &codec{quantizeRow: quantizeRowQ2_0, dequantizeRow: dequantizeRowQ2_0})
}

func quantizeRowQ2_0(dst []byte, src, _ []float32) {
	for ib := 0; ib < len(src)/qk2_0; ib++ {
		x := src[ib*qk2_0 : (ib+1)*qk2_0]
		y := dst[ib*blockQ2_0 : (ib+1)*blockQ2_0]
		var amax float32
		for _, v := range x {
			if a := absf(v); a > amax {
				amax = a
			}
		}
		d := amax
		var id float32
		if d > 0 {
			id = 1 / d
		}
		putF16(y, d)
		qs := y[2:]
		clear(qs)
		for j, v := range x {
			q := int(roundInt32(v*id)) + 1
			q = clampInt(q, 0, 3)
			qs[j/4] |= uint8(q) << (j % 4 * 2)
		}
	}
}

func dequantizeRowQ2_0(dst []float32, src []byte) {
	for ib := 0; ib < len(dst)/qk2_0; ib++ {
		x := src[ib*blockQ2_0 : (ib+1)*blockQ2_0]
		y := dst[ib*qk2_0 : (ib+1)*qk2_0]
		d := getF16(x)
		for j := range y {
			y[j] = float32(int(x[2+j/4]>>(j%4*2)&3)-1) * d
		}
	}
}
