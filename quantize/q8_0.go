package quantize

// Q8_0 (and Q8_1, which adds d*sum(q)): blocks of 32 values, fp16 scale d and int8 quants,
// x = d*q. Reimplemented from quantize_row_q8_0_ref, quantize_row_q8_1_ref and
// dequantize_row_q8_0 in ggml/src/ggml-quants.c (ggml, MIT license). ggml has no Q8_1
// dequantizer; ours is the obvious one.

import "github.com/ggufy/ggufy/gguf"

const (
	qk8_0     = 32
	blockQ8_0 = 2 + qk8_0
	blockQ8_1 = 4 + qk8_0
)

func init() {
	register(gguf.TypeQ8_0, &codec{quantizeRow: quantizeRowQ8_0, dequantizeRow: dequantizeRowQ8_0})
	register(gguf.TypeQ8_1, &codec{quantizeRow: quantizeRowQ8_1, dequantizeRow: dequantizeRowQ8_1})
}

// absMax is ggml's amax = MAX(amax, fabsf(v)) loop, where MAX(a, b) is a > b ? a : b: a NaN is
// kept until a later value replaces it.
func absMax(x []float32) float32 {
	var amax float32
	for _, v := range x {
		if av := absf(v); !(amax > av) {
			amax = av
		}
	}
	return amax
}

// quantizeQ8Block writes round(x/d) for the 32 values of x into q and returns d and sum(q).
func quantizeQ8Block(q []byte, x []float32) (d float32, sum int) {
	d = absMax(x) / 127
	var id float32
	if d != 0 {
		id = 1 / d
	}
	q = q[:len(x)]
	for j, v := range x {
		qj := int8(roundInt32(v * id))
		q[j] = byte(qj)
		sum += int(qj)
	}
	return d, sum
}

func quantizeRowQ8_0(dst []byte, src, _ []float32) {
	for ib := 0; ib < len(src)/qk8_0; ib++ {
		y := dst[ib*blockQ8_0 : (ib+1)*blockQ8_0]
		d, _ := quantizeQ8Block(y[2:], src[ib*qk8_0:(ib+1)*qk8_0])
		putF16(y, d)
	}
}

func quantizeRowQ8_1(dst []byte, src, _ []float32) {
	for ib := 0; ib < len(src)/qk8_0; ib++ {
		y := dst[ib*blockQ8_1 : (ib+1)*blockQ8_1]
		d, sum := quantizeQ8Block(y[4:], src[ib*qk8_0:(ib+1)*qk8_0])
		putF16(y, d)
		putF16(y[2:], float32(sum)*d)
	}
}

func dequantizeRowQ8_0(dst []float32, src []byte) {
	for ib := 0; ib < len(dst)/qk8_0; ib++ {
		y := dst[ib*qk8_0 : (ib+1)*qk8_0]
		x := src[ib*blockQ8_0 : (ib+1)*blockQ8_0]
		d := getF16(x)
		for j := range y {
			y[j] = float32(int8(x[2+j])) * d
		}
	}
}

func dequantizeRowQ8_1(dst []float32, src []byte) {
	for ib := 0; ib < len(dst)/qk8_0; ib++ {
		y := dst[ib*qk8_0 : (ib+1)*qk8_0]
		x := src[ib*blockQ8_1 : (ib+1)*blockQ8_1]
		d := getF16(x)
		for j := range y {
			y[j] = float32(int8(x[4+j])) * d
		}
	}
}
