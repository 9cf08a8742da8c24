package quantize

// Q5_0: blocks of 32 values, fp16 scale d and 5-bit quants q (low nibbles in qs, fifth bits in
// qh), x = d*(q-16). Reimplemented from quantize_row_q5_0_ref, quantize_row_q5_0_impl and
// dequantize_row_q5_0 in ggml/src/ggml-quants.c (ggml, MIT license).

import (
	"encoding/binary"

	"github.com/ggufy/ggufy/gguf"
)

const (
	qk5_0     = 32
	blockQ5_0 = 2 + 4 + qk5_0/2
)

func init() {
	register(gguf.TypeQ5_0, &codec{quantizeRow: quantizeRowQ5_0, dequantizeRow: dequantizeRowQ5_0})
}

// pack5 stores 32 5-bit quants as ggml's Q5 blocks do: nibbles of q[j] and q[j+16] in qs[j],
// fifth bits in the little-endian 32-bit qh.
func pack5(qh, qs []byte, q *[32]uint8) {
	var h uint32
	for j := 0; j < 16; j++ {
		x0, x1 := q[j], q[j+16]
		qs[j] = x0&0x0f | (x1&0x0f)<<4
		h |= uint32(x0&0x10) >> 4 << j
		h |= uint32(x1&0x10) >> 4 << (j + 16)
	}
	binary.LittleEndian.PutUint32(qh, h)
}

func quantizeRowQ5_0(dst []byte, src, imatrix []float32) {
	if imatrix != nil {
		quantizeRowQ5_0Weighted(dst, src, imatrix)
		return
	}
	var q [qk5_0]uint8
	for ib := 0; ib < len(src)/qk5_0; ib++ {
		x := src[ib*qk5_0 : (ib+1)*qk5_0]
		y := dst[ib*blockQ5_0 : (ib+1)*blockQ5_0]
		var amax, max float32
		for _, v := range x {
			if av := absf(v); amax < av {
				amax, max = av, v
			}
		}
		d := max / -16
		var id float32
		if d != 0 {
			id = 1 / d
		}
		putF16(y, d)
		for j, v := range x {
			q[j] = uint8(min(31, int8(cInt32(float32(v*id)+16.5))))
		}
		pack5(y[2:6], y[6:], &q)
	}
}

func quantizeRowQ5_0Weighted(dst []byte, src, qw []float32) {
	sigma2 := rowSigma2(src)
	var weight [qk5_0]float32
	var L [qk5_0]int8
	var q [qk5_0]uint8
	for ib := 0; ib < len(src)/qk5_0; ib++ {
		x := src[ib*qk5_0 : (ib+1)*qk5_0]
		w := qw[ib*qk5_0 : (ib+1)*qk5_0]
		y := dst[ib*blockQ5_0 : (ib+1)*blockQ5_0]
		for j, v := range x {
			weight[j] = w[j] * sqrtf(sigma2+float32(v*v))
		}
		d := makeQxQuants(x, 16, L[:], 1, weight[:])
		putF16(y, d)
		for j := range q {
			q[j] = uint8(L[j])
		}
		pack5(y[2:6], y[6:], &q)
	}
}

// unpack5 returns the 5-bit quant j (0..31) of a Q5 block.
func unpack5(h uint32, qs []byte, j int) (int, int) {
	x0 := int(qs[j]&0x0f) | int(h>>j<<4&0x10)
	x1 := int(qs[j]>>4) | int(h>>(j+12)&0x10)
	return x0, x1
}

func dequantizeRowQ5_0(dst []float32, src []byte) {
	for ib := 0; ib < len(dst)/qk5_0; ib++ {
		y := dst[ib*qk5_0 : (ib+1)*qk5_0]
		x := src[ib*blockQ5_0 : (ib+1)*blockQ5_0]
		d := getF16(x)
		h := binary.LittleEndian.Uint32(x[2:])
		for j := 0; j < qk5_0/2; j++ {
			x0, x1 := unpack5(h, x[6:], j)
			y[j] = float32(x0-16) * d
			y[j+qk5_0/2] = float32(x1-16) * d
		}
	}
}
