package quantize

// IQ4_XS: super-blocks of 256 values in 8 groups of 32; 6-bit group scales (scaled by the fp16
// d) and 4-bit indices into kvalues_iq4nl, x = d*(sc-32)*grid[q].
// Reimplemented from quantize_iq4_xs and dequantize_row_iq4_xs in ggml/src/ggml-quants.c (ggml,
// MIT license); the search is quantizeIQ4Impl in iq4_nl.go.

import (
	"encoding/binary"

	"github.com/ggufy/ggufy/gguf"
)

const blockIQ4XS = 2 + 2 + qkK/64 + qkK/2

func init() {
	register(gguf.TypeIQ4_XS, &codec{quantizeRow: quantizeRowIQ4XS, dequantizeRow: dequantizeRowIQ4XS})
}

func quantizeRowIQ4XS(dst []byte, src, imatrix []float32) {
	for ibl := 0; ibl < len(src)/qkK; ibl++ {
		y := dst[ibl*blockIQ4XS : (ibl+1)*blockIQ4XS]
		var qw []float32
		if imatrix != nil {
			qw = imatrix[ibl*qkK : (ibl+1)*qkK]
		}
		quantizeIQ4Impl(src[ibl*qkK:(ibl+1)*qkK], qw, y[:2], y[8:], y[2:4], y[4:8], iq4NTry)
	}
}

func dequantizeRowIQ4XS(dst []float32, src []byte) {
	for i := 0; i < len(dst)/qkK; i++ {
		x := src[i*blockIQ4XS : (i+1)*blockIQ4XS]
		y := dst[i*qkK : (i+1)*qkK]
		d := getF16(x)
		sh := binary.LittleEndian.Uint16(x[2:])
		sl, qs := x[4:8], x[8:]
		for ib := 0; ib < qkK/32; ib++ {
			ls := int(sl[ib/2]>>(4*(ib%2))&0xf) | int(sh>>(2*ib)&3)<<4
			dl := d * float32(ls-32)
			for j := 0; j < 16; j++ {
				y[32*ib+j] = dl * float32(kvaluesIQ4NL[qs[j]&0xf])
				y[32*ib+j+16] = dl * float32(kvaluesIQ4NL[qs[j]>>4])
			}
			qs = qs[16:]
		}
	}
}
