package quantize

// Q5_K: super-blocks of 256 values in 8 groups of 32; 6-bit group scales and mins (scaled by
// the fp16 d and dmin), 5-bit quants (low nibbles in qs, fifth bits in qh), x = d*sc*q - dmin*m.
// Reimplemented from quantize_row_q5_K_ref, quantize_row_q5_K_impl and dequantize_row_q5_K in
// ggml/src/ggml-quants.c (ggml, MIT license).

import "github.com/ggufy/ggufy/gguf"

const blockQ5K = 4 + 12 + qkK/8 + qkK/2

func init() {
	register(gguf.TypeQ5_K, &codec{quantizeRow: quantizeRowQ5K, quantizeRowAsm: quantizeRowQ5KAsm, dequantizeRow: dequantizeRowQ5K})
}

// quantizeRowQ5K is the pure-Go encoder (the fallback, and the reference of the lane kernels).
func quantizeRowQ5K(dst []byte, src, imatrix []float32) {
	var L [qkK]uint8
	for i := 0; i < len(src)/qkK; i++ {
		x := src[i*qkK : (i+1)*qkK]
		y := dst[i*blockQ5K : (i+1)*blockQ5K]
		if imatrix != nil {
			kScalesWeighted(y, x, imatrix[i*qkK:(i+1)*qkK], &L, 31, true)
		} else {
			kScalesRef(y, x, &L, 31, -0.5, 0.1, 15)
		}
		kRequantize(y, x, &L, 31)
		packQ5K(y, &L)
	}
}

// packQ5K stores the 5-bit quants: the low nibbles as Q4_K does, the fifth bits in qh.
func packQ5K(y []byte, L *[qkK]uint8) {
	qh := y[16 : 16+qkK/8]
	ql := y[16+qkK/8:]
	clear(qh)
	// levels are 0..31: bit 4 is the fifth bit (branch-free form of ggml's l > 15 test)
	for n, shift := 0, 0; n < qkK; n, shift = n+64, shift+2 {
		for j := 0; j < 32; j++ {
			l1, l2 := L[n+j], L[n+j+32]
			ql[j] = l1&15 | l2<<4
			qh[j] |= (l1>>4 | l2>>4<<1) << shift
		}
		ql = ql[32:]
	}
}

func dequantizeRowQ5K(dst []float32, src []byte) {
	for i := 0; i < len(dst)/qkK; i++ {
		x := src[i*blockQ5K : (i+1)*blockQ5K]
		y := dst[i*qkK : (i+1)*qkK]
		d, dmin := getF16(x), getF16(x[2:])
		sc, qh, ql := x[4:16], x[16:16+qkK/8], x[16+qkK/8:]
		is := 0
		u1, u2 := uint8(1), uint8(2)
		for j := 0; j < qkK; j += 64 {
			s, m := scaleMinK4(is, sc)
			d1, m1 := d*float32(s), float32(dmin*float32(m))
			s, m = scaleMinK4(is+1, sc)
			d2, m2 := d*float32(s), float32(dmin*float32(m))
			for l := 0; l < 32; l++ {
				v1, v2 := int(ql[l]&0xf), int(ql[l]>>4)
				if qh[l]&u1 != 0 {
					v1 += 16
				}
				if qh[l]&u2 != 0 {
					v2 += 16
				}
				y[j+l] = float32(d1*float32(v1)) - m1
				y[j+32+l] = float32(d2*float32(v2)) - m2
			}
			ql = ql[32:]
			is += 2
			u1 <<= 2
			u2 <<= 2
		}
	}
}
