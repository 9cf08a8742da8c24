package quantize

// Q8_K: super-blocks of 256 values with a float32 scale d, int8 quants and int16 sums of each 16
// quants; the intermediate format of the k-quant dot products. Reimplemented from
// quantize_row_q8_K_ref and dequantize_row_q8_K in ggml/src/ggml-quants.c (ggml, MIT license).

import (
	"encoding/binary"
	"math"

	"github.com/ggufy/ggufy/gguf"
)

const blockQ8K = 4 + qkK + qkK/16*2

func init() {
	register(gguf.TypeQ8_K, &codec{quantizeRow: quantizeRowQ8K, dequantizeRow: dequantizeRowQ8K})
}

func quantizeRowQ8K(dst []byte, src, _ []float32) {
	for i := 0; i < len(src)/qkK; i++ {
		x := src[i*qkK : (i+1)*qkK]
		y := dst[i*blockQ8K : (i+1)*blockQ8K]
		var max, amax float32
		for _, v := range x {
			if ax := absf(v); ax > amax {
				amax, max = ax, v
			}
		}
		if amax == 0 {
			clear(y) // ggml leaves the sums untouched; we write zeros
			continue
		}
		iscale := -127 / max
		qs := y[4 : 4+qkK]
		for j, v := range x {
			qs[j] = uint8(int8(min(127, nearestInt(iscale*v))))
		}
		for j := 0; j < qkK/16; j++ {
			sum := 0
			for _, q := range qs[16*j : 16*j+16] {
				sum += int(int8(q))
			}
			binary.LittleEndian.PutUint16(y[4+qkK+2*j:], uint16(int16(sum)))
		}
		binary.LittleEndian.PutUint32(y, math.Float32bits(1/iscale))
	}
}

func dequantizeRowQ8K(dst []float32, src []byte) {
	for i := 0; i < len(dst)/qkK; i++ {
		x := src[i*blockQ8K : (i+1)*blockQ8K]
		y := dst[i*qkK : (i+1)*qkK]
		d := math.Float32frombits(binary.LittleEndian.Uint32(x))
		for j := range y {
			y[j] = d * float32(int8(x[4+j]))
		}
	}
}
