package quantize

// Q2_K: super-blocks of 256 values in 16 groups of 16; each group has 4-bit scale and min
// (scaled by the fp16 d and dmin), 2-bit quants, x = d*sc*q - dmin*m.
// Reimplemented from quantize_row_q2_K_ref, quantize_row_q2_K_impl and dequantize_row_q2_K in
// ggml/src/ggml-quants.c (ggml, MIT license).

import "github.com/ggufy/ggufy/gguf"

const (
	qkK      = gguf.QK_K
	blockQ2K = qkK/16 + qkK/4 + 4
)

func init() {
	register(gguf.TypeQ2_K, &codec{quantizeRow: quantizeRowQ2K, quantizeRowAsm: quantizeRowQ2KAsm, dequantizeRow: dequantizeRowQ2K})
}

// pack2 packs 256 2-bit quants the way Q2_K and Q3_K store them: byte l of each 32-byte half
// holds values l, l+32, l+64, l+96 of its 128 values.
func pack2(qs []byte, L []uint8) {
	for j := 0; j < qkK; j += 128 {
		for l := 0; l < 32; l++ {
			qs[j/4+l] = L[j+l] | L[j+l+32]<<2 | L[j+l+64]<<4 | L[j+l+96]<<6
		}
	}
}

// quantizeRowQ2K is the pure-Go encoder (the fallback, and the reference of the lane kernels).
func quantizeRowQ2K(dst []byte, src, imatrix []float32) {
	var L [qkK]uint8
	for i := 0; i < len(src)/qkK; i++ {
		x := src[i*qkK : (i+1)*qkK]
		y := dst[i*blockQ2K : (i+1)*blockQ2K]
		if imatrix != nil {
			q2KScalesWeighted(y, x, imatrix[i*qkK:(i+1)*qkK], &L)
		} else {
			q2KScalesRef(y, x, &L)
		}
		requantizeQ2K(y, x, &L)
		pack2(y[qkK/16:], L[:])
	}
}

// requantizeQ2K recomputes the 2-bit quants of the groups with a non-zero scale from the
// stored (rounded) scales, as ggml does after fixing the block scales. The other groups keep
// the levels of the search; kept has their bits set.
func requantizeQ2K(y []byte, x []float32, L *[qkK]uint8) (kept uint16) {
	scales := y[:qkK/16]
	d, dmin := getF16(y[blockQ2K-4:]), getF16(y[blockQ2K-2:])
	for j := 0; j < qkK/16; j++ {
		dl := d * float32(scales[j]&0xf)
		if dl == 0 {
			kept |= 1 << j
			continue
		}
		ml := float32(dmin * float32(scales[j]>>4))
		for ii := 0; ii < 16; ii++ {
			L[16*j+ii] = uint8(clampInt(nearestInt((x[16*j+ii]+ml)/dl), 0, 3))
		}
	}
	return kept
}

// q2KScalesRef is the reference (no importance matrix) scale search of Q2_K: make_qkx2_quants
// (MAD, |x| weights) per group of 16, then the group scales and mins quantized to 4 bits.
func q2KScalesRef(y []byte, x []float32, L *[qkK]uint8) {
	var Laux [16]uint8
	var weights [16]float32
	var mins, scales [qkK / 16]float32
	for j := 0; j < qkK/16; j++ {
		xj := x[16*j : 16*j+16]
		for l, v := range xj {
			weights[l] = absf(v)
		}
		scales[j] = makeQkx2Quants(xj, 3, weights[:], L[16*j:16*j+16], Laux[:], &mins[j], -0.5, 0.1, 15, true)
	}
	q2KPutScalesRef(y, &scales, &mins)
}

// q2KPutScalesRef quantizes the group scales and mins of the reference search to 4 bits against
// their maxima and stores them with d and dmin.
func q2KPutScalesRef(y []byte, scales, mins *[qkK / 16]float32) {
	const q4scale = 15
	var maxScale, maxMin float32
	for j := 0; j < qkK/16; j++ {
		if scales[j] > maxScale {
			maxScale = scales[j]
		}
		if mins[j] > maxMin {
			maxMin = mins[j]
		}
	}
	sc := y[:qkK/16]
	if maxScale > 0 {
		iscale := q4scale / maxScale
		for j := range sc {
			sc[j] = uint8(nearestInt(iscale * scales[j]))
		}
		putF16(y[blockQ2K-4:], maxScale/q4scale)
	} else {
		clear(sc)
		putF16(y[blockQ2K-4:], 0)
	}
	if maxMin > 0 {
		iscale := q4scale / maxMin
		for j := range sc {
			sc[j] |= uint8(nearestInt(iscale*mins[j]) << 4)
		}
		putF16(y[blockQ2K-2:], maxMin/q4scale)
	} else {
		putF16(y[blockQ2K-2:], 0)
	}
}

// q2KScalesWeighted is the importance-weighted scale search of Q2_K (quantize_row_q2_K_impl):
// make_qkx3_quants per group with weights qw*sqrt(sigma2 + x²), then make_qp_quants for the
// group scales and mins.
func q2KScalesWeighted(y []byte, x, qw []float32, L *[qkK]uint8) {
	var Laux [16]uint8
	var weight [16]float32
	var mins, scales, sw [qkK / 16]float32
	sigma2 := float32(sumSquares(x) / qkK)
	for j := 0; j < qkK/16; j++ {
		xj := x[16*j : 16*j+16]
		for l, v := range xj {
			weight[l] = qw[16*j+l] * sqrtf(sigma2+float32(v*v))
		}
		var s float32
		for _, w := range weight {
			s += w
		}
		sw[j] = s
		scales[j] = makeQkx3Quants(xj, 3, weight[:], L[16*j:16*j+16], Laux[:], &mins[j], -0.9, 0.05, 36, false)
	}
	q2KPutScalesWeighted(y, &scales, &mins, &sw)
}

// q2KPutScalesWeighted quantizes the group scales and mins of the weighted search with
// make_qp_quants (weighted by the groups' weight sums sw) and stores them with d and dmin.
func q2KPutScalesWeighted(y []byte, scales, mins, sw *[qkK / 16]float32) {
	var Ls, Lm [qkK / 16]uint8
	dm := makeQpQuants(scales[:], 15, Ls[:], sw[:])
	mm := makeQpQuants(mins[:], 15, Lm[:], sw[:])
	putF16(y[blockQ2K-4:], dm)
	putF16(y[blockQ2K-2:], mm)
	sc := y[:qkK/16]
	for j := range sc {
		sc[j] = Ls[j] | Lm[j]<<4
	}
}

func dequantizeRowQ2K(dst []float32, src []byte) {
	for i := 0; i < len(dst)/qkK; i++ {
		x := src[i*blockQ2K : (i+1)*blockQ2K]
		y := dst[i*qkK : (i+1)*qkK]
		d, dmin := getF16(x[blockQ2K-4:]), getF16(x[blockQ2K-2:])
		scales, q := x[:16], x[16:]
		is, k := 0, 0
		for n := 0; n < qkK; n += 128 {
			for shift := 0; shift < 8; shift += 2 {
				for half := 0; half < 32; half += 16 {
					sc := scales[is]
					is++
					dl, ml := d*float32(sc&0xf), float32(dmin*float32(sc>>4))
					for l := 0; l < 16; l++ {
						y[k] = float32(dl*float32(q[half+l]>>shift&3)) - ml
						k++
					}
				}
			}
			q = q[32:]
		}
	}
}
