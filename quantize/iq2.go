package quantize

// IQ2_XXS, IQ2_XS and IQ2_S: 2-bit quants on the E8-like lattices of ggml, 8 values per grid
// point with separately stored signs. The encoders reimplement quantize_row_iq2_xxs_impl,
// quantize_row_iq2_xs_impl and quantize_row_iq2_s_impl, the decoders dequantize_row_iq2_*, all
// from ggml/src/ggml-quants.c (ggml, MIT license), with ggml's float32 evaluation order: every
// product that C rounds before an addition is converted to float32 explicitly so that no
// compiler may fuse it into an FMA.

import (
	"math"

	"github.com/ggufy/ggufy/gguf"
	"github.com/ggufy/ggufy/internal/half"
	"github.com/ggufy/ggufy/internal/iqgrid"
)

func init() {
	register(gguf.TypeIQ2_XXS, &codec{quantizeRow: quantizeRowIQ2XXS, dequantizeRow: dequantizeRowIQ2XXS, needsImatrix: true})
	register(gguf.TypeIQ2_XS, &codec{quantizeRow: quantizeRowIQ2XS, dequantizeRow: dequantizeRowIQ2XS, needsImatrix: true})
	register(gguf.TypeIQ2_S, &codec{quantizeRow: quantizeRowIQ2S, dequantizeRow: dequantizeRowIQ2S})
}

const (
	iq2xxsBlockBytes = 66 // d, qs[32] uint16
	iq2xsBlockBytes  = 74 // d, qs[32] uint16, scales[8]
	iq2sBlockBytes   = 82 // d, qs[64] (grid low bits, then signs), qh[8], scales[8]
)

// iq2BestNeighbour is ggml's iq2_find_best_neighbour: among the neighbours of the off-grid key
// whose kmap entry is m, the point closest to xval at the given scale in the waux-weighted
// squared distance (first one on ties). It writes the point's levels to L and returns its index.
// Where ggml would abort (no finite distance, only for NaN/Inf input) it takes the first neighbour.
func iq2BestNeighbour(lat *iqLattice, m int32, xval, waux *[8]float32, scale float32, L *[8]int8) int {
	list := lat.neighbours(m)
	if len(list) == 0 {
		*L = [8]int8{}
		return 0
	}
	var gi int
	if len(list) < 8 {
		gi = iq2ScanDirect(lat.level8, list, xval, waux, scale)
	} else {
		gi = iq2ScanTable(lat.packed, list, xval, waux, scale)
	}
	*L = lat.level8[gi]
	return gi
}

// iq2ScanDirect returns the first point of list with the smallest Σ waux·(scale·q - x)², summed
// in ggml's order; list[0] where no distance is below FLT_MAX (ggml aborts there). The three
// products scale·q, q = 2l+1, are computed once.
func iq2ScanDirect(levels [][8]int8, list []uint16, xval, waux *[8]float32, scale float32) int {
	sq := [4]float32{float32(scale * 1), float32(scale * 3), float32(scale * 5)}
	x0, x1, x2, x3, x4, x5, x6, x7 := xval[0], xval[1], xval[2], xval[3], xval[4], xval[5], xval[6], xval[7]
	best := float32(math.MaxFloat32)
	gi := int(list[0])
	for _, j := range list {
		lv := &levels[j]
		diff := sq[lv[0]&3] - x0
		d2 := float32(waux[0] * diff * diff)
		diff = sq[lv[1]&3] - x1
		d2 += float32(waux[1] * diff * diff)
		diff = sq[lv[2]&3] - x2
		d2 += float32(waux[2] * diff * diff)
		diff = sq[lv[3]&3] - x3
		d2 += float32(waux[3] * diff * diff)
		diff = sq[lv[4]&3] - x4
		d2 += float32(waux[4] * diff * diff)
		diff = sq[lv[5]&3] - x5
		d2 += float32(waux[5] * diff * diff)
		diff = sq[lv[6]&3] - x6
		d2 += float32(waux[6] * diff * diff)
		diff = sq[lv[7]&3] - x7
		d2 += float32(waux[7] * diff * diff)
		if d2 < best {
			best, gi = d2, int(j)
		}
	}
	return gi
}

// iq2ScanTable is iq2ScanDirect for long lists: a term waux·(scale·q - x)² depends only on the
// coordinate and its level (three per coordinate), so the terms are computed once, each with
// ggml's operations, and every point adds up its eight in ggml's order.
func iq2ScanTable(packed []uint16, list []uint16, xval, waux *[8]float32, scale float32) int {
	var t [8][4]float32
	for l := 0; l < 3; l++ {
		sq := float32(scale * float32(2*l+1))
		for k := 0; k < 8; k++ {
			diff := sq - xval[k]
			t[k][l] = float32(waux[k] * diff * diff)
		}
	}
	return iqScan8(&t, packed, list)
}

// iq2Key packs 8 levels of 2 bits into a kmap key, as ggml's uint16_t u does.
func iq2Key(L *[8]int8) int {
	var u uint16
	for i := 0; i < 8; i++ {
		u |= uint16(int(L[i]) << (2 * i))
	}
	return int(u)
}

// iq2Levels sets L to the levels nearest_int(0.5*(id*x-1)) clamped to [0, 2] and returns its key.
func iq2Levels(id float32, xval *[8]float32, L *[8]int8) int {
	var u int
	for i := 0; i < 8; i++ {
		l := iqClamp(iqNearestInt(0.5*(float32(id*xval[i])-1)), 0, 2)
		L[i] = int8(l)
		u |= l << (2 * i)
	}
	return u
}

// iq2GridIndex returns the grid index of the levels L, which are on the grid unless the input
// held NaN or Inf (where ggml aborts); then it returns 0.
func iq2GridIndex(lat *iqLattice, L *[8]int8) int {
	gi := lat.lookup(iq2Key(L))
	if gi < 0 {
		return 0
	}
	return int(gi)
}

// iq2SumQ returns the weighted sums Σ w·x·q and Σ w·q² with q = 2L+1, in ggml's order.
func iq2SumQ(w, xval []float32, L []int8) (sumqx, sumq2 float32) {
	for i := range w {
		q := float32(2*int(L[i]) + 1)
		sumqx += float32(w[i] * xval[i] * q)
		sumq2 += float32(w[i] * q * q)
	}
	return sumqx, sumq2
}

// quantizeRowIQ2XXS reimplements quantize_row_iq2_xxs_impl (ggml-quants.c, ggml, MIT).
func quantizeRowIQ2XXS(dst []byte, x, qw []float32) {
	lat := iq2xxsLattice()
	const kMaxQ = 3
	for ibl := 0; ibl < len(x)/iqQK; ibl++ {
		blk := dst[ibl*iq2xxsBlockBytes : (ibl+1)*iq2xxsBlockBytes]
		xbl := x[iqQK*ibl : iqQK*(ibl+1)]
		var q2 [16]uint32
		var scales [8]float32
		var maxScale float32
		sigma2 := float32(sumSquares(xbl) / iqQK)

		for ib := 0; ib < 8; ib++ {
			xb := (*[32]float32)(xbl[32*ib:])
			qwb := (*[32]float32)(qw[iqQK*ibl+32*ib:])
			var weight, waux, xval [32]float32
			var L, Laux [32]int8
			var signs [4]uint8
			for i := 0; i < 32; i++ {
				weight[i] = qwb[i] * iqSqrt(sigma2+float32(xb[i]*xb[i]))
			}
			for i := 0; i < 32; i++ {
				waux[i] = iqSqrt(weight[i])
			}
			for k := 0; k < 4; k++ {
				signs[k] = iqSignsEven((*[8]float32)(xb[8*k:]), (*[8]float32)(weight[8*k:]), (*[8]float32)(xval[8*k:]))
			}
			vmax := xval[0]
			for i := 1; i < 32; i++ {
				vmax = iqMax(vmax, xval[i])
			}
			if vmax < 1e-15 { // GROUP_MAX_EPS
				scales[ib] = 0
				continue
			}
			var Lqp [32]uint8
			scale := iqMakeQPQuants(kMaxQ+1, &xval, &Lqp, &weight)
			for i := range L {
				L[i] = int8(Lqp[i])
			}
			effMax := scale * kMaxQ
			if effMax <= 0 {
				scales[ib] = 0
				continue
			}
			var best float32
			for is := -6; is <= 6; is++ {
				id := (2*kMaxQ - 1 + float32(0.1*float32(is))) / effMax
				thisScale := 1 / id
				for k := 0; k < 4; k++ {
					la := (*[8]int8)(Laux[8*k:])
					xv := (*[8]float32)(xval[8*k:])
					if gi := lat.lookup(iq2Levels(id, xv, la)); gi < 0 {
						iq2BestNeighbour(lat, gi, xv, (*[8]float32)(waux[8*k:]), thisScale, la)
					}
				}
				sumqx, sumq2 := iq2SumQ(weight[:], xval[:], Laux[:])
				if sumq2 > 0 && sumqx*sumqx > best*sumq2 {
					scale = sumqx / sumq2
					best = scale * sumqx
					L = Laux
				}
			}
			if scale > 0 {
				id := 1 / scale
				for k := 0; k < 4; k++ {
					lk := (*[8]int8)(L[8*k:])
					xv := (*[8]float32)(xval[8*k:])
					var tmp [8]int8
					gi := lat.lookup(iq2Levels(id, xv, &tmp))
					if gi < 0 {
						gi = int32(iq2BestNeighbour(lat, gi, xv, (*[8]float32)(waux[8*k:]), scale, lk))
					}
					*lk = lat.level8[gi]
				}
				sumqx, sumq2 := iq2SumQ(weight[:], xval[:], L[:])
				if sumq2 > 0 {
					scale = sumqx / sumq2
				}
			}
			if scale < 0 {
				// ggml: should never happen; flip the scale and the signs with it.
				scale = -scale
				for k := range signs {
					signs[k] = ^signs[k] & 127
				}
			}
			for k := 0; k < 4; k++ {
				gi := iq2GridIndex(lat, (*[8]int8)(L[8*k:]))
				q2[2*ib] |= uint32(gi) << (8 * k)
				q2[2*ib+1] |= uint32(signs[k]) << (7 * k)
			}
			scales[ib] = scale
			maxScale = iqMax(maxScale, scale)
		}

		if maxScale == 0 {
			clear(blk)
			continue
		}
		d := maxScale / 31
		iqPutU16(blk, half.F32ToF16(d))
		id := 1 / d
		for ib := 0; ib < 8; ib++ {
			l := iqClamp(iqNearestInt(0.5*(float32(id*scales[ib])-1)), 0, 15)
			q2[2*ib+1] |= uint32(l) << 28
		}
		for i, v := range q2 {
			iqPutU32(blk[2+4*i:], v)
		}
	}
}

// quantizeRowIQ2XS reimplements quantize_row_iq2_xs_impl (ggml-quants.c, ggml, MIT).
func quantizeRowIQ2XS(dst []byte, x, qw []float32) {
	lat := iq2xsLattice()
	for ibl := 0; ibl < len(x)/iqQK; ibl++ {
		blk := dst[ibl*iq2xsBlockBytes : (ibl+1)*iq2xsBlockBytes]
		xbl := x[iqQK*ibl : iqQK*(ibl+1)]
		var q2 [32]uint16
		var scales [16]float32
		var maxScale float32
		sigma2 := float32(sumSquares(xbl) / iqQK)

		for ib := 0; ib < 16; ib++ {
			xb := (*[16]float32)(xbl[16*ib:])
			qwb := (*[16]float32)(qw[iqQK*ibl+16*ib:])
			var weight, waux, xval [16]float32
			var L [16]int8
			var signs [2]uint8
			for i := 0; i < 16; i++ {
				weight[i] = qwb[i] * iqSqrt(sigma2+float32(xb[i]*xb[i]))
			}
			for i := 0; i < 16; i++ {
				waux[i] = iqSqrt(weight[i])
			}
			for k := 0; k < 2; k++ {
				signs[k] = iqSignsEven((*[8]float32)(xb[8*k:]), (*[8]float32)(weight[8*k:]), (*[8]float32)(xval[8*k:]))
			}
			vmax := xval[0]
			for i := 1; i < 16; i++ {
				vmax = iqMax(vmax, xval[i])
			}
			if vmax < 1e-15 { // GROUP_MAX_EPS
				scales[ib] = 0
				continue
			}
			scale := iq2Search16(lat, &weight, &waux, &xval, vmax, &L)
			if scale < 0 {
				scale = -scale
				for k := range signs {
					signs[k] = ^signs[k] & 127
				}
			}
			for k := 0; k < 2; k++ {
				gi := iq2GridIndex(lat, (*[8]int8)(L[8*k:]))
				q2[2*ib+k] = uint16(gi) | uint16(signs[k])<<9
			}
			scales[ib] = scale
			maxScale = iqMax(maxScale, scale)
		}

		clear(blk)
		if maxScale == 0 {
			continue
		}
		d := maxScale / 31
		iqPutU16(blk, half.F32ToF16(d))
		id := 1 / d
		for ib := 0; ib < 16; ib++ {
			l := iqClamp(iqNearestInt(0.5*(float32(id*scales[ib])-1)), 0, 15)
			blk[66+ib/2] |= byte(l) << (4 * (ib % 2))
		}
		for i, v := range q2 {
			iqPutU16(blk[2+2*i:], v)
		}
	}
}

// quantizeRowIQ2S reimplements quantize_row_iq2_s_impl (ggml-quants.c, ggml, MIT); without an
// importance matrix the weights are sigma2/4 + x².
func quantizeRowIQ2S(dst []byte, x, qw []float32) {
	lat := iq2sLattice()
	for ibl := 0; ibl < len(x)/iqQK; ibl++ {
		blk := dst[ibl*iq2sBlockBytes : (ibl+1)*iq2sBlockBytes]
		clear(blk)
		qs, qh, bscales := blk[2:66], blk[66:74], blk[74:82]
		xbl := x[iqQK*ibl : iqQK*(ibl+1)]
		var scales [16]float32
		var maxScale float32
		sigma2 := float32(2 * sumSquares(xbl) / iqQK)

		for ib := 0; ib < 16; ib++ {
			xb := (*[16]float32)(xbl[16*ib:])
			var weight, waux, xval [16]float32
			var L [16]int8
			var signs [2]uint8
			if qw != nil {
				qwb := (*[16]float32)(qw[iqQK*ibl+16*ib:])
				for i := 0; i < 16; i++ {
					weight[i] = qwb[i] * iqSqrt(sigma2+float32(xb[i]*xb[i]))
				}
			} else {
				for i := 0; i < 16; i++ {
					weight[i] = float32(0.25*sigma2) + float32(xb[i]*xb[i])
				}
			}
			for i := 0; i < 16; i++ {
				waux[i] = iqSqrt(weight[i])
			}
			for k := 0; k < 2; k++ {
				var s uint8
				for i := 0; i < 8; i++ {
					if v := xb[8*k+i]; v >= 0 {
						xval[8*k+i] = v
					} else {
						xval[8*k+i] = -v
						s |= 1 << i
					}
				}
				signs[k] = s
			}
			vmax := xval[0]
			for i := 1; i < 16; i++ {
				vmax = iqMax(vmax, xval[i])
			}
			if vmax < 1e-8 { // GROUP_MAX_EPS_IQ2_S
				scales[ib] = 0
				continue
			}
			scale := iq2Search16(lat, &weight, &waux, &xval, vmax, &L)
			if scale < 0 {
				scale = -scale
				signs[0], signs[1] = ^signs[0], ^signs[1]
			}
			for k := 0; k < 2; k++ {
				gi := iq2GridIndex(lat, (*[8]int8)(L[8*k:]))
				i8 := 2*ib + k
				qs[i8] = byte(gi)
				qh[i8/4] |= byte(gi>>8) << (2 * (i8 % 4))
				qs[32+i8] = signs[k]
			}
			scales[ib] = scale
			maxScale = iqMax(maxScale, scale)
		}

		if maxScale == 0 {
			continue
		}
		d := maxScale / 31
		iqPutU16(blk, half.F32ToF16(d*0.9875))
		id := 1 / d
		for ib := 0; ib < 16; ib++ {
			l := iqClamp(iqNearestInt(0.5*(float32(id*scales[ib])-1)), 0, 15)
			bscales[ib/2] |= byte(l) << (4 * (ib % 2))
		}
	}
}

// iq2Search16 is the scale search that quantize_row_iq2_xs_impl and quantize_row_iq2_s_impl
// write out alike for a block of 16 magnitudes xval (two groups of 8) with weights weight, waux
// their square roots and vmax the largest: 19 trial scales around vmax/(2*kMaxQ-1), each group
// put on the grid or on its best neighbour, the best weighted fit kept; the groups that were off
// the grid at that scale are then redone at it and the scale refitted. It returns the scale
// (negative when the fit comes out so) and the levels in L.
func iq2Search16(lat *iqLattice, weight, waux, xval *[16]float32, vmax float32, L *[16]int8) float32 {
	const kMaxQ = 3
	var Laux [16]int8
	var best float32
	scale := vmax / (2*kMaxQ - 1)
	onGrid := [2]bool{true, true}
	for is := -9; is <= 9; is++ {
		id := (2*kMaxQ - 1 + float32(0.1*float32(is))) / vmax
		thisScale := 1 / id
		var onGridAux [2]bool
		for k := 0; k < 2; k++ {
			la := (*[8]int8)(Laux[8*k:])
			xv := (*[8]float32)(xval[8*k:])
			gi := lat.lookup(iq2Levels(id, xv, la))
			onGridAux[k] = gi >= 0
			if gi < 0 {
				iq2BestNeighbour(lat, gi, xv, (*[8]float32)(waux[8*k:]), thisScale, la)
			}
		}
		sumqx, sumq2 := iq2SumQ(weight[:], xval[:], Laux[:])
		if sumq2 > 0 && sumqx*sumqx > best*sumq2 {
			scale = sumqx / sumq2
			best = scale * sumqx
			*L = Laux
			onGrid = onGridAux
		}
	}
	if (!onGrid[0] || !onGrid[1]) && scale > 0 {
		id := 1 / scale
		for k := 0; k < 2; k++ {
			if onGrid[k] {
				continue
			}
			lk := (*[8]int8)(L[8*k:])
			xv := (*[8]float32)(xval[8*k:])
			if gi := lat.lookup(iq2Levels(id, xv, lk)); gi < 0 {
				iq2BestNeighbour(lat, gi, xv, (*[8]float32)(waux[8*k:]), scale, lk)
			}
		}
		sumqx, sumq2 := iq2SumQ(weight[:], xval[:], L[:])
		if sumq2 > 0 {
			scale = sumqx / sumq2
		}
	}
	return scale
}

// iq2Put writes the 8 values of grid point g (one unsigned byte each) times db, negated where
// the sign bit is set. ggml writes db*grid*(±1.f); its compiler turns the multiplication by -1
// into a negation, which flips the sign of a NaN too, so the sign bit is flipped here (without
// a branch: the signs are random).
func iq2Put(y []float32, db float32, g uint64, signs uint8) {
	y = y[:8]
	s := uint32(signs)
	for j := 0; j < 8; j++ {
		v := math.Float32bits(db * float32(uint8(g>>(8*j))))
		y[j] = math.Float32frombits(v ^ (s>>j&1)<<31)
	}
}

// dequantizeRowIQ2XXS reimplements dequantize_row_iq2_xxs (ggml-quants.c, ggml, MIT).
func dequantizeRowIQ2XXS(y []float32, src []byte) {
	for i := 0; i < len(y)/iqQK; i++ {
		blk := src[i*iq2xxsBlockBytes : (i+1)*iq2xxsBlockBytes]
		d := half.F16ToF32(iqU16(blk))
		for ib := 0; ib < 8; ib++ {
			a0 := iqU32(blk[2+8*ib:])
			a1 := iqU32(blk[6+8*ib:])
			db := d * (0.5 + float32(a1>>28)) * 0.25
			for l := 0; l < 4; l++ {
				iq2Put(y[iqQK*i+32*ib+8*l:], db, iqgrid.IQ2XXS[uint8(a0>>(8*l))], iqgrid.KSigns[(a1>>(7*l))&127])
			}
		}
	}
}

// dequantizeRowIQ2XS reimplements dequantize_row_iq2_xs (ggml-quants.c, ggml, MIT).
func dequantizeRowIQ2XS(y []float32, src []byte) {
	for i := 0; i < len(y)/iqQK; i++ {
		blk := src[i*iq2xsBlockBytes : (i+1)*iq2xsBlockBytes]
		d := half.F16ToF32(iqU16(blk))
		for ib := 0; ib < 8; ib++ {
			sc := blk[66+ib]
			db := [2]float32{d * (0.5 + float32(sc&0xf)) * 0.25, d * (0.5 + float32(sc>>4)) * 0.25}
			for l := 0; l < 4; l++ {
				q := iqU16(blk[2+2*(4*ib+l):])
				iq2Put(y[iqQK*i+32*ib+8*l:], db[l/2], iqgrid.IQ2XS[q&511], iqgrid.KSigns[q>>9])
			}
		}
	}
}

// dequantizeRowIQ2S reimplements dequantize_row_iq2_s (ggml-quants.c, ggml, MIT).
func dequantizeRowIQ2S(y []float32, src []byte) {
	for i := 0; i < len(y)/iqQK; i++ {
		blk := src[i*iq2sBlockBytes : (i+1)*iq2sBlockBytes]
		d := half.F16ToF32(iqU16(blk))
		qs, signs, qh, sc := blk[2:34], blk[34:66], blk[66:74], blk[74:82]
		for ib := 0; ib < 8; ib++ {
			db := [2]float32{d * (0.5 + float32(sc[ib]&0xf)) * 0.25, d * (0.5 + float32(sc[ib]>>4)) * 0.25}
			for l := 0; l < 4; l++ {
				idx := int(qs[4*ib+l]) | int(qh[ib])<<(8-2*l)&0x300
				iq2Put(y[iqQK*i+32*ib+8*l:], db[l/2], iqgrid.IQ2S[idx], signs[4*ib+l])
			}
		}
	}
}
