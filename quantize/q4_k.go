package quantize

// Q4_K: super-blocks of 256 values in 8 groups of 32; 6-bit group scales and mins (scaled by
// the fp16 d and dmin), 4-bit quants, x = d*sc*q - dmin*m.
// Reimplemented from quantize_row_q4_K_ref, quantize_row_q4_K_impl and dequantize_row_q4_K in
// ggml/src/ggml-quants.c (ggml, MIT license).

import "github.com/ggufy/ggufy/gguf"

const blockQ4K = 4 + 12 + qkK/2

func init() {
	register(gguf.TypeQ4_K, &codec{quantizeRow: quantizeRowQ4K, quantizeRowAsm: quantizeRowQ4KAsm, dequantizeRow: dequantizeRowQ4K})
}

// putScaleMinK4 stores the 6-bit scale ls and min lm of group j in the 12 scale bytes of Q4_K and
// Q5_K; groups 0..3 must be stored before groups 4..7.
func putScaleMinK4(sc []byte, j int, ls, lm uint8) {
	if j < 4 {
		sc[j] = ls
		sc[j+4] = lm
	} else {
		sc[j+4] = ls&0xf | (lm&0xf)<<4
		sc[j-4] |= ls >> 4 << 6
		sc[j] |= lm >> 4 << 6
	}
}

// scaleMinK4 is ggml's get_scale_min_k4.
func scaleMinK4(j int, q []byte) (d, m uint8) {
	if j < 4 {
		return q[j] & 63, q[j+4] & 63
	}
	return q[j+4]&0xf | q[j-4]>>6<<4, q[j+4]>>4 | q[j]>>6<<4
}

// kScalesRef is the reference (no importance matrix) scale search of Q4_K and Q5_K: a weighted
// make_qkx2_quants per group of 32, then the group scales and mins quantized to 6 bits.
func kScalesRef(y []byte, x []float32, L *[qkK]uint8, nmax int, rmin, rdelta float32, nstep int) {
	var Laux [32]uint8
	var weights [32]float32
	var mins, scales [qkK / 32]float32
	for j := 0; j < qkK/32; j++ {
		xj := x[32*j : 32*j+32]
		avX := sqrtf(sumSquares(xj) / 32)
		for l, v := range xj {
			weights[l] = avX + absf(v)
		}
		scales[j] = makeQkx2Quants(xj, nmax, weights[:], L[32*j:32*j+32], Laux[:], &mins[j], rmin, rdelta, nstep, false)
	}
	kPutScalesRef(y, &scales, &mins)
}

// kPutScalesRef quantizes the group scales and mins of the reference search to 6 bits against
// their maxima and stores them with d and dmin.
func kPutScalesRef(y []byte, scales, mins *[qkK / 32]float32) {
	var maxScale, maxMin float32
	for j := 0; j < qkK/32; j++ {
		if scales[j] > maxScale {
			maxScale = scales[j]
		}
		if mins[j] > maxMin {
			maxMin = mins[j]
		}
	}
	var invScale, invMin float32
	if maxScale > 0 {
		invScale = 63 / maxScale
	}
	if maxMin > 0 {
		invMin = 63 / maxMin
	}
	sc := y[4:16]
	for j := 0; j < qkK/32; j++ {
		ls := min(63, uint8(nearestInt(invScale*scales[j])))
		lm := min(63, uint8(nearestInt(invMin*mins[j])))
		putScaleMinK4(sc, j, ls, lm)
	}
	putF16(y, maxScale/63)
	putF16(y[2:], maxMin/63)
}

// kScalesWeighted is the importance-weighted scale search of Q4_K and Q5_K: make_qkx3_quants per
// group, then make_qp_quants for the group scales and mins. clamp63 applies Q5_K's MIN(63, ·).
func kScalesWeighted(y []byte, x, qw []float32, L *[qkK]uint8, nmax int, clamp63 bool) {
	var Laux [32]uint8
	var weights [32]float32
	var mins, scales, sw [qkK / 32]float32
	sigma2 := float32(2 * sumSquares(x) / qkK)
	avX := sqrtf(sigma2)
	for j := 0; j < qkK/32; j++ {
		xj := x[32*j : 32*j+32]
		if qw != nil {
			for l, v := range xj {
				weights[l] = qw[32*j+l] * sqrtf(sigma2+float32(v*v))
			}
		} else {
			for l, v := range xj {
				weights[l] = avX + absf(v)
			}
		}
		var sumw float32
		for _, w := range weights {
			sumw += w
		}
		sw[j] = sumw
		scales[j] = makeQkx3Quants(xj, nmax, weights[:], L[32*j:32*j+32], Laux[:], &mins[j], -0.9, 0.05, 36, false)
	}
	kPutScalesWeighted(y, &scales, &mins, &sw, clamp63)
}

// kPutScalesWeighted quantizes the group scales and mins of the weighted search with
// make_qp_quants (weighted by the groups' weight sums sw) and stores them with d and dmin.
func kPutScalesWeighted(y []byte, scales, mins, sw *[qkK / 32]float32, clamp63 bool) {
	var Ls, Lm [qkK / 32]uint8
	dBlock := makeQpQuants(scales[:], 63, Ls[:], sw[:])
	mBlock := makeQpQuants(mins[:], 63, Lm[:], sw[:])
	sc := y[4:16]
	for j := 0; j < qkK/32; j++ {
		ls, lm := Ls[j], Lm[j]
		if clamp63 {
			ls, lm = min(63, ls), min(63, lm)
		}
		putScaleMinK4(sc, j, ls, lm)
	}
	putF16(y, dBlock)
	putF16(y[2:], mBlock)
}

// kRequantize recomputes the quants of the groups with a non-zero scale from the stored scales.
// The other groups keep the levels of the search; kept has their bits set.
func kRequantize(y []byte, x []float32, L *[qkK]uint8, nmax int) (kept uint8) {
	sc := y[4:16]
	d, dmin := getF16(y), getF16(y[2:])
	for j := 0; j < qkK/32; j++ {
		s, m := scaleMinK4(j, sc)
		dl := d * float32(s)
		if dl == 0 {
			kept |= 1 << j
			continue
		}
		dm := float32(dmin * float32(m))
		for ii := 0; ii < 32; ii++ {
			L[32*j+ii] = uint8(clampInt(nearestInt((x[32*j+ii]+dm)/dl), 0, nmax))
		}
	}
	return kept
}

// quantizeRowQ4K is the pure-Go encoder (the fallback, and the reference of the lane kernels).
func quantizeRowQ4K(dst []byte, src, imatrix []float32) {
	var L [qkK]uint8
	for i := 0; i < len(src)/qkK; i++ {
		x := src[i*qkK : (i+1)*qkK]
		y := dst[i*blockQ4K : (i+1)*blockQ4K]
		if imatrix != nil {
			kScalesWeighted(y, x, imatrix[i*qkK:(i+1)*qkK], &L, 15, false)
		} else {
			kScalesRef(y, x, &L, 15, -1, 0.1, 20)
		}
		kRequantize(y, x, &L, 15)
		packQ4K(y, &L)
	}
}

// packQ4K stores the 4-bit quants: byte l of each 32-byte run holds values l and l+32 of its 64.
func packQ4K(y []byte, L *[qkK]uint8) {
	q := y[16:]
	for j := 0; j < qkK; j += 64 {
		for l := 0; l < 32; l++ {
			q[l] = L[j+l] | L[j+l+32]<<4
		}
		q = q[32:]
	}
}

func dequantizeRowQ4K(dst []float32, src []byte) {
	for i := 0; i < len(dst)/qkK; i++ {
		x := src[i*blockQ4K : (i+1)*blockQ4K]
		y := dst[i*qkK : (i+1)*qkK]
		d, dmin := getF16(x), getF16(x[2:])
		sc, q := x[4:16], x[16:]
		is := 0
		for j := 0; j < qkK; j += 64 {
			s, m := scaleMinK4(is, sc)
			d1, m1 := d*float32(s), float32(dmin*float32(m))
			s, m = scaleMinK4(is+1, sc)
			d2, m2 := d*float32(s), float32(dmin*float32(m))
			for l := 0; l < 32; l++ {
				y[j+l] = float32(d1*float32(q[l]&0xf)) - m1
				y[j+32+l] = float32(d2*float32(q[l]>>4)) - m2
			}
			q = q[32:]
			is += 2
		}
	}
}
