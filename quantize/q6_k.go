package quantize

// Q6_K: super-blocks of 256 values in 16 groups of 16; int8 group scales (scaled by the fp16 d),
// 6-bit quants (low nibbles in ql, 2 high bits in qh), x = d*sc*(q-32).
// Reimplemented from quantize_row_q6_K_ref, quantize_row_q6_K_impl and dequantize_row_q6_K in
// ggml/src/ggml-quants.c (ggml, MIT license).

import "github.com/ggufy/ggufy/gguf"

const blockQ6K = qkK/2 + qkK/4 + qkK/16 + 2

func init() {
	register(gguf.TypeQ6_K, &codec{quantizeRow: quantizeRowQ6K, quantizeRowAsm: quantizeRowQ6KAsm, dequantizeRow: dequantizeRowQ6K})
}

// quantizeRowQ6K is the pure-Go encoder (the fallback, and the reference of the lane kernels).
func quantizeRowQ6K(dst []byte, src, imatrix []float32) {
	var L [qkK]int8
	var scales [qkK / 16]float32
	for i := 0; i < len(src)/qkK; i++ {
		x := src[i*qkK : (i+1)*qkK]
		y := dst[i*blockQ6K : (i+1)*blockQ6K]
		for ib := 0; ib < qkK/16; ib++ {
			var qw []float32
			if imatrix != nil {
				qw = imatrix[i*qkK+16*ib : i*qkK+16*ib+16]
			}
			scales[ib] = makeQxQuants(x[16*ib:16*ib+16], 32, L[16*ib:16*ib+16], 1, qw)
		}
		if _, ok := q6KRequantize(y, x, &L, &scales); ok {
			packQ6K(y, &L)
		}
	}
}

// q6KRequantize quantizes the group scales to int8 against the largest one, stores them with d,
// and recomputes the quants of the groups with a non-zero scale; the other groups keep the levels
// of the search (kept has their bits set). A block whose scales are all zero is stored as zeros
// and ok is false: nothing is left to pack.
func q6KRequantize(y []byte, x []float32, L *[qkK]int8, scales *[qkK / 16]float32) (kept uint16, ok bool) {
	var maxScale, maxAbsScale float32
	for _, scale := range scales {
		if as := absf(scale); as > maxAbsScale {
			maxAbsScale, maxScale = as, scale
		}
	}
	if maxAbsScale < groupMaxEps {
		clear(y)
		putF16(y[blockQ6K-2:], 0)
		return 0, false
	}
	iscale := -128 / maxScale
	putF16(y[blockQ6K-2:], 1/iscale)
	sc := y[qkK/2+qkK/4 : qkK/2+qkK/4+qkK/16]
	for ib := range sc {
		sc[ib] = uint8(int8(min(127, nearestInt(iscale*scales[ib]))))
	}
	d := getF16(y[blockQ6K-2:])
	for j := 0; j < qkK/16; j++ {
		dl := d * float32(int8(sc[j]))
		if dl == 0 {
			kept |= 1 << j
			continue
		}
		for ii := 0; ii < 16; ii++ {
			l := clampInt(nearestInt(x[16*j+ii]/dl), -32, 31)
			L[16*j+ii] = int8(l + 32)
		}
	}
	return kept, true
}

// packQ6K stores the 6-bit quants: low nibbles in ql, two high bits in qh.
func packQ6K(y []byte, L *[qkK]int8) {
	ql, qh := y[:qkK/2], y[qkK/2:qkK/2+qkK/4]
	for j := 0; j < qkK; j += 128 {
		for l := 0; l < 32; l++ {
			q1, q2 := uint8(L[j+l])&0xf, uint8(L[j+l+32])&0xf
			q3, q4 := uint8(L[j+l+64])&0xf, uint8(L[j+l+96])&0xf
			ql[l] = q1 | q3<<4
			ql[l+32] = q2 | q4<<4
			qh[l] = uint8(L[j+l]>>4 | L[j+l+32]>>4<<2 | L[j+l+64]>>4<<4 | L[j+l+96]>>4<<6)
		}
		ql = ql[64:]
		qh = qh[32:]
	}
}

func dequantizeRowQ6K(dst []float32, src []byte) {
	for i := 0; i < len(dst)/qkK; i++ {
		x := src[i*blockQ6K : (i+1)*blockQ6K]
		y := dst[i*qkK : (i+1)*qkK]
		d := getF16(x[blockQ6K-2:])
		ql, qh, sc := x[:qkK/2], x[qkK/2:qkK/2+qkK/4], x[qkK/2+qkK/4:qkK/2+qkK/4+qkK/16]
		for n := 0; n < qkK; n += 128 {
			for l := 0; l < 32; l++ {
				is := l / 16
				q1 := int8(ql[l]&0xf|(qh[l]>>0&3)<<4) - 32
				q2 := int8(ql[l+32]&0xf|(qh[l]>>2&3)<<4) - 32
				q3 := int8(ql[l]>>4|(qh[l]>>4&3)<<4) - 32
				q4 := int8(ql[l+32]>>4|(qh[l]>>6&3)<<4) - 32
				y[n+l] = d * float32(int8(sc[is])) * float32(q1)
				y[n+l+32] = d * float32(int8(sc[is+2])) * float32(q2)
				y[n+l+64] = d * float32(int8(sc[is+4])) * float32(q3)
				y[n+l+96] = d * float32(int8(sc[is+6])) * float32(q4)
			}
			ql = ql[64:]
			qh = qh[32:]
			sc = sc[8:]
		}
	}
}
