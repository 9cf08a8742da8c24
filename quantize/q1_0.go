package quantize

// Q1_0: blocks of 128 signs with an fp16 scale d (the mean absolute value), x = ±d.
// Reimplemented from quantize_row_q1_0_ref and dequantize_row_q1_0 in ggml/src/ggml-quants.c
// (ggml, MIT license).

import "github.com/ggufy/ggufy/gguf"

const (
	qk1_0     = 128
	blockQ1_0 = 2 + qk1_0/8
)

func init() {
	register(gguf.TypeQ1_0, &codec{quantizeRow: quantizeRowQ1_0, dequantizeRow: dequantizeRowQ1_0})
}

func quantizeRowQ1_0(dst []byte, src, _ []float32) {
	for ib := 0; ib < len(src)/qk1_0; ib++ {
		x := src[ib*qk1_0 : (ib+1)*qk1_0]
		y := dst[ib*blockQ1_0 : (ib+1)*blockQ1_0]
		var sumAbs float32
		for _, v := range x {
			sumAbs += absf(v)
		}
		putF16(y, sumAbs/qk1_0)
		qs := y[2:]
		clear(qs)
		for j, v := range x {
			if v >= 0 {
				qs[j/8] |= 1 << (j % 8)
			}
		}
	}
}

func dequantizeRowQ1_0(dst []float32, src []byte) {
	for ib := 0; ib < len(dst)/qk1_0; ib++ {
		x := src[ib*blockQ1_0 : (ib+1)*blockQ1_0]
		y := dst[ib*qk1_0 : (ib+1)*qk1_0]
		d := getF16(x)
		for j := range y {
			if x[2+j/8]>>(j%8)&1 != 0 {
				y[j] = d
			} else {
				y[j] = -d
			}
		}
	}
}
