package quantize

// Q3_K: super-blocks of 256 values in 16 groups of 16; 6-bit signed group scales (scaled by the
// fp16 d), 3-bit quants (2 low bits in qs, high bit in hmask), x = d*(sc-32)*(q-4).
// Reimplemented from quantize_row_q3_K_ref, quantize_row_q3_K_impl and dequantize_row_q3_K in
// ggml/src/ggml-quants.c (ggml, MIT license).

import "github.com/ggufy/ggufy/gguf"

const blockQ3K = qkK/8 + qkK/4 + 12 + 2

func init() {
	register(gguf.TypeQ3_K, &codec{quantizeRow: quantizeRowQ3K, quantizeRowAsm: quantizeRowQ3KAsm, dequantizeRow: dequantizeRowQ3K})
}

// quantizeRowQ3K is the pure-Go encoder (the fallback, and the reference of the lane kernels).
func quantizeRowQ3K(dst []byte, src, imatrix []float32) {
	var L [qkK]int8
	for i := 0; i < len(src)/qkK; i++ {
		x := src[i*qkK : (i+1)*qkK]
		y := dst[i*blockQ3K : (i+1)*blockQ3K]
		if imatrix != nil {
			q3KScalesWeighted(y, x, imatrix[i*qkK:(i+1)*qkK], &L)
		} else {
			q3KScalesRef(y, x, &L)
		}
		requantizeQ3K(y, x, &L)
		packQ3K(y, &L)
	}
}

// putScaleQ3K stores the 6-bit scale l (0..63) of group j in the 12 scale bytes.
func putScaleQ3K(sc []byte, j int, l int8) {
	if j < 8 {
		sc[j] = uint8(l & 0xf)
	} else {
		sc[j-8] |= uint8(l&0xf) << 4
	}
	l >>= 4
	sc[j%4+8] |= uint8(l) << (2 * (j / 4))
}

// scaleQ3K returns the signed scale of group j (-32..31).
func scaleQ3K(sc []byte, j int) int8 {
	var s int8
	if j < 8 {
		s = int8(sc[j] & 0xf)
	} else {
		s = int8(sc[j-8] >> 4)
	}
	return (s | int8((sc[8+j%4]>>(2*(j/4))&3)<<4)) - 32
}

// requantizeQ3K recomputes the quants of the groups with a non-zero scale from the stored
// scales. The other groups keep the levels of the search; kept has their bits set.
func requantizeQ3K(y []byte, x []float32, L *[qkK]int8) (kept uint16) {
	sc := y[qkK/8+qkK/4 : qkK/8+qkK/4+12]
	dAll := getF16(y[blockQ3K-2:])
	for j := 0; j < qkK/16; j++ {
		d := dAll * float32(scaleQ3K(sc, j))
		if d == 0 {
			kept |= 1 << j
			continue
		}
		for ii := 0; ii < 16; ii++ {
			l := clampInt(nearestInt(x[16*j+ii]/d), -4, 3)
			L[16*j+ii] = int8(l + 4)
		}
	}
	return kept
}

// packQ3K stores the 3-bit quants (0..7): the high bits in hmask, the 2 low bits in qs. Value
// 32*b+m has its high bit in bit b of hmask[m] (the branch-free form of ggml's L > 3 test:
// levels are 0..7, so that is bit 2, and L - 4 is L & 3).
func packQ3K(y []byte, L *[qkK]int8) {
	hmask := y[:qkK/8]
	for m := range hmask {
		var h uint8
		for b := 0; b < 8; b++ {
			h |= uint8(L[32*b+m]) >> 2 << b
		}
		hmask[m] = h
	}
	qs := y[qkK/8 : qkK/8+qkK/4]
	for j := 0; j < qkK; j += 128 {
		for l := 0; l < 32; l++ {
			qs[j/4+l] = uint8(L[j+l]&3 | (L[j+l+32]&3)<<2 | (L[j+l+64]&3)<<4 | (L[j+l+96]&3)<<6)
		}
	}
}

// q3KScalesRef is the reference (no importance matrix) scale search of Q3_K: make_q3_quants per
// group of 16, then the group scales quantized to 6 bits against the largest one.
func q3KScalesRef(y []byte, x []float32, L *[qkK]int8) {
	var scales [qkK / 16]float32
	for j := 0; j < qkK/16; j++ {
		scales[j] = makeQ3Quants(x[16*j:16*j+16], 4, L[16*j:16*j+16], true)
	}
	q3KPutScalesRef(y, &scales)
}

// q3KPutScalesRef quantizes the group scales of the reference search to 6 bits against the
// largest one and stores them with d.
func q3KPutScalesRef(y []byte, scales *[qkK / 16]float32) {
	var maxScale, amax float32
	for j := range scales {
		if s := absf(scales[j]); s > amax {
			amax, maxScale = s, scales[j]
		}
	}
	sc := y[qkK/8+qkK/4 : qkK/8+qkK/4+12]
	clear(sc)
	if maxScale != 0 {
		iscale := -32 / maxScale
		for j := 0; j < qkK/16; j++ {
			l := int8(nearestInt(iscale * scales[j]))
			l = int8(clampInt(int(l), -32, 31) + 32)
			putScaleQ3K(sc, j, l)
		}
		putF16(y[blockQ3K-2:], 1/iscale)
	} else {
		putF16(y[blockQ3K-2:], 0)
	}
}

// q3KScalesWeighted is the importance-weighted scale search of Q3_K (quantize_row_q3_K_impl):
// make_qx_quants per group with weights qw*sqrt(sigma2 + x²), then make_qx_quants for the
// group scales weighted by the groups' weight sums.
func q3KScalesWeighted(y []byte, x, qw []float32, L *[qkK]int8) {
	var scales, sw [qkK / 16]float32
	var weight [16]float32
	sigma2 := float32(2 * sumSquares(x) / qkK)
	for j := 0; j < qkK/16; j++ {
		xj := x[16*j : 16*j+16]
		for l, v := range xj {
			weight[l] = qw[16*j+l] * sqrtf(sigma2+float32(v*v))
		}
		var sumw float32
		for _, w := range weight {
			sumw += w
		}
		sw[j] = sumw
		scales[j] = makeQxQuants(xj, 4, L[16*j:16*j+16], 1, weight[:])
	}
	q3KPutScalesWeighted(y, &scales, &sw)
}

// q3KPutScalesWeighted quantizes the group scales of the weighted search to 6 bits with
// make_qx_quants (weighted by sw) and stores them with d.
func q3KPutScalesWeighted(y []byte, scales, sw *[qkK / 16]float32) {
	var Ls [qkK / 16]int8
	sc := y[qkK/8+qkK/4 : qkK/8+qkK/4+12]
	clear(sc)
	dBlock := makeQxQuants(scales[:], 32, Ls[:], 1, sw[:])
	for j := 0; j < qkK/16; j++ {
		putScaleQ3K(sc, j, Ls[j])
	}
	putF16(y[blockQ3K-2:], dBlock)
}

func dequantizeRowQ3K(dst []float32, src []byte) {
	for i := 0; i < len(dst)/qkK; i++ {
		x := src[i*blockQ3K : (i+1)*blockQ3K]
		y := dst[i*qkK : (i+1)*qkK]
		dAll := getF16(x[blockQ3K-2:])
		hm := x[:qkK/8]
		q := x[qkK/8 : qkK/8+qkK/4]
		sc := x[qkK/8+qkK/4 : qkK/8+qkK/4+12]
		is, k := 0, 0
		m := uint8(1)
		for n := 0; n < qkK; n += 128 {
			for shift := 0; shift < 8; shift += 2 {
				for half := 0; half < 32; half += 16 {
					dl := dAll * float32(int(scaleQ3K(sc, is)))
					is++
					for l := half; l < half+16; l++ {
						v := int(q[l] >> shift & 3)
						if hm[l]&m == 0 {
							v -= 4
						}
						y[k] = dl * float32(v)
						k++
					}
				}
				m <<= 1
			}
			q = q[32:]
		}
	}
}
