package quantize

// TQ2_0: ternary super-blocks of 256 values, 2 bits per value, fp16 scale d, x = d*(q-1).
// Reimplemented from quantize_row_tq2_0_ref and dequantize_row_tq2_0 in ggml/src/ggml-quants.c
// (ggml, MIT license).

import "github.com/ggufy/ggufy/gguf"

const blockTQ20 = qkK/4 + 2

func init() {
	register(gguf.TypeTQ2_0, &codec{quantizeRow: quantizeRowTQ2_0, dequantizeRow: dequantizeRowTQ2_0})
}

func quantizeRowTQ2_0(dst []byte, src, _ []float32) {
	for i := 0; i < len(src)/qkK; i++ {
		x := src[i*qkK : (i+1)*qkK]
		y := dst[i*blockTQ20 : (i+1)*blockTQ20]
		d := absMax(x)
		var id float32
		if d != 0 {
			id = 1 / d
		}
		putF16(y[blockTQ20-2:], d)
		for j := 0; j < qkK/4; j += 32 {
			for m := 0; m < 32; m++ {
				var q uint8
				for n := 0; n < 4; n++ {
					q += (trit(x[m+n*32], id) & 3) << (2 * n)
				}
				y[j+m] = q
			}
			x = x[4*32:]
		}
	}
}

func dequantizeRowTQ2_0(dst []float32, src []byte) {
	for i := 0; i < len(dst)/qkK; i++ {
		x := src[i*blockTQ20 : (i+1)*blockTQ20]
		y := dst[i*qkK : (i+1)*qkK]
		d := getF16(x[blockTQ20-2:])
		k := 0
		for j := 0; j < qkK/4; j += 32 {
			for l := 0; l < 4; l++ {
				for m := 0; m < 32; m++ {
					y[k] = float32(int(x[j+m]>>(2*l)&3)-1) * d
					k++
				}
			}
		}
	}
}
