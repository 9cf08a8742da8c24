package quantize

// IQ3_XXS and IQ3_S: 3-bit quants on ggml's D4-like lattices, 4 values per grid point with
// separately stored signs. The encoders reimplement quantize_row_iq3_xxs_impl and
// quantize_row_iq3_s_impl, the decoders dequantize_row_iq3_xxs and dequantize_row_iq3_s, all
// from ggml/src/ggml-quants.c (ggml, MIT license), in ggml's float32 evaluation order.

import (
	"math"

	"github.com/ggufy/ggufy/gguf"
	"github.com/ggufy/ggufy/internal/half"
	"github.com/ggufy/ggufy/internal/iqgrid"
)

func init() {
	register(gguf.TypeIQ3_XXS, &codec{quantizeRow: quantizeRowIQ3XXS, dequantizeRow: dequantizeRowIQ3XXS})
	register(gguf.TypeIQ3_S, &codec{quantizeRow: quantizeRowIQ3S, dequantizeRow: dequantizeRowIQ3S})
}

const (
	iq3xxsBlockBytes = 98  // d, qs[64] grid indices, 8 × uint32 scales and signs
	iq3sBlockBytes   = 110 // d, qs[64], qh[8], signs[32], scales[4]
)

// iq3BestNeighbour is ggml's iq3_find_best_neighbour, the 4-value twin of iq2BestNeighbour:
// the first point of the list with the smallest Σ waux·(scale·q - x)², summed in ggml's order;
// the first neighbour where no distance is below FLT_MAX (ggml aborts there). The eight products
// scale·q, q = 2l+1, are computed once. (The lists are short here: a table of all terms, as
// iq2ScanTable builds, does not pay off.)
func iq3BestNeighbour(lat *iqLattice, m int32, xval, waux *[4]float32, scale float32, L *[4]int8) int {
	list := lat.neighbours(m)
	if len(list) == 0 {
		*L = [4]int8{}
		return 0
	}
	var sq [8]float32
	for l := range sq {
		sq[l] = float32(scale * float32(2*l+1))
	}
	levels := lat.level4
	x0, x1, x2, x3 := xval[0], xval[1], xval[2], xval[3]
	w0, w1, w2, w3 := waux[0], waux[1], waux[2], waux[3]
	best := float32(math.MaxFloat32)
	gi := int(list[0])
	for _, j := range list {
		lv := &levels[j]
		diff := sq[lv[0]&7] - x0
		d2 := float32(w0 * diff * diff)
		diff = sq[lv[1]&7] - x1
		d2 += float32(w1 * diff * diff)
		diff = sq[lv[2]&7] - x2
		d2 += float32(w2 * diff * diff)
		diff = sq[lv[3]&7] - x3
		d2 += float32(w3 * diff * diff)
		if d2 < best {
			best, gi = d2, int(j)
		}
	}
	*L = levels[gi]
	return gi
}

// iq3Levels sets L to nearest_int(0.5*(id*x-1)) clamped to [0, 7] and returns the kmap key.
func iq3Levels(id float32, xval *[4]float32, L *[4]int8) int {
	var u int
	for i := 0; i < 4; i++ {
		l := iqClamp(iqNearestInt(0.5*(float32(id*xval[i])-1)), 0, 7)
		L[i] = int8(l)
		u |= l << (3 * i)
	}
	return u
}

// iq3GridIndex returns the grid index of the levels L (0 where ggml would abort).
func iq3GridIndex(lat *iqLattice, L *[4]int8) int {
	var u uint16
	for i := 0; i < 4; i++ {
		u |= uint16(int(L[i]) << (3 * i))
	}
	gi := lat.lookup(int(u))
	if gi < 0 {
		return 0
	}
	return int(gi)
}

// iq3Block quantizes one block of 32 values as the shared core of quantize_row_iq3_xxs_impl
// and quantize_row_iq3_s_impl, which differ in the sign handling, the first on-grid flags, the
// refinement of on-grid groups and the threshold for an all-zero block. It returns the block's
// scale and sets grid (8 grid indices) and signs (the sign bytes); ok is false for a block that
// ggml skips as all zero, storing nothing for it.
func iq3Block(lat *iqLattice, xs bool, xb, qwb *[32]float32, sigma2 float32, grid *[8]int, signs *[4]uint8) (scale float32, ok bool) {
	const kMaxQ = 8
	var weight, waux, xval [32]float32
	var L, Laux [32]int8
	if qwb != nil {
		for i := 0; i < 32; i++ {
			weight[i] = qwb[i] * iqSqrt(sigma2+float32(xb[i]*xb[i]))
		}
	} else {
		for i := 0; i < 32; i++ {
			weight[i] = xb[i] * xb[i]
		}
	}
	for i := 0; i < 32; i++ {
		waux[i] = iqSqrt(weight[i])
	}
	if xs {
		for k := 0; k < 4; k++ {
			signs[k] = iqSignsEven((*[8]float32)(xb[8*k:]), (*[8]float32)(weight[8*k:]), (*[8]float32)(xval[8*k:]))
		}
	} else {
		for k := 0; k < 4; k++ {
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
	}
	vmax := xval[0]
	for i := 1; i < 32; i++ {
		vmax = iqMax(vmax, xval[i])
	}
	if xs && vmax < 1e-8 || !xs && vmax == 0 { // GROUP_MAX_EPS_IQ3_XXS; IQ3_S tests !max
		return 0, false
	}
	var best float32
	scale = vmax / (2*kMaxQ - 1)
	var onGrid [8]bool
	for k := range onGrid {
		onGrid[k] = xs // IQ3_S starts from "none on grid"
	}
	nsteps := 9
	if xs {
		nsteps = 15
	}
	for is := -nsteps; is <= nsteps; is++ {
		id := (2*kMaxQ - 1 + float32(0.2*float32(is))) / vmax
		thisScale := 1 / id
		var onGridAux [8]bool
		for k := 0; k < 8; k++ {
			la := (*[4]int8)(Laux[4*k:])
			xv := (*[4]float32)(xval[4*k:])
			gi := lat.lookup(iq3Levels(id, xv, la))
			onGridAux[k] = gi >= 0
			if gi < 0 {
				iq3BestNeighbour(lat, gi, xv, (*[4]float32)(waux[4*k:]), thisScale, la)
			}
		}
		sumqx, sumq2 := iq2SumQ(weight[:], xval[:], Laux[:])
		if sumq2 > 0 && sumqx*sumqx > best*sumq2 {
			scale = sumqx / sumq2
			best = scale * sumqx
			L = Laux
			onGrid = onGridAux
		}
	}
	nOff := 0
	for _, on := range onGrid {
		if !on {
			nOff++
		}
	}
	if nOff > 0 && scale > 0 {
		id := 1 / scale
		for k := 0; k < 8; k++ {
			if xs && onGrid[k] { // IQ3_S redoes every group
				continue
			}
			lk := (*[4]int8)(L[4*k:])
			xv := (*[4]float32)(xval[4*k:])
			var tmp [4]int8
			gi := lat.lookup(iq3Levels(id, xv, &tmp))
			if gi < 0 {
				gi = int32(iq3BestNeighbour(lat, gi, xv, (*[4]float32)(waux[4*k:]), scale, lk))
			}
			*lk = lat.level4[gi]
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
			if xs {
				signs[k] = ^signs[k] & 127
			} else {
				signs[k] = ^signs[k]
			}
		}
	}
	for k := 0; k < 8; k++ {
		grid[k] = iq3GridIndex(lat, (*[4]int8)(L[4*k:]))
	}
	return scale, true
}

// quantizeRowIQ3XXS reimplements quantize_row_iq3_xxs_impl with grid_size 256 (ggml-quants.c,
// ggml, MIT); without an importance matrix the weights are x².
func quantizeRowIQ3XXS(dst []byte, x, qw []float32) {
	lat := iq3xxsLattice()
	for ibl := 0; ibl < len(x)/iqQK; ibl++ {
		blk := dst[ibl*iq3xxsBlockBytes : (ibl+1)*iq3xxsBlockBytes]
		clear(blk)
		xbl := x[iqQK*ibl : iqQK*(ibl+1)]
		sigma2 := 2 * sumSquares(xbl) / iqQK
		var scales [8]float32
		var sas [8]uint32 // scales_and_signs
		var maxScale float32
		for ib := 0; ib < 8; ib++ {
			var qwb *[32]float32
			if qw != nil {
				qwb = (*[32]float32)(qw[iqQK*ibl+32*ib:])
			}
			var grid [8]int
			var signs [4]uint8
			scale, ok := iq3Block(lat, true, (*[32]float32)(xbl[32*ib:]), qwb, sigma2, &grid, &signs)
			if !ok {
				scales[ib] = 0
				continue
			}
			for k := 0; k < 8; k++ {
				blk[2+8*ib+k] = byte(grid[k])
			}
			sas[ib] = uint32(signs[0]) | uint32(signs[1])<<7 | uint32(signs[2])<<14 | uint32(signs[3])<<21
			scales[ib] = scale
			maxScale = iqMax(maxScale, scale)
		}
		if maxScale == 0 {
			clear(blk)
			continue
		}
		d := maxScale / 31
		iqPutU16(blk, half.F32ToF16(d*1.0125))
		id := 1 / d
		for ib := 0; ib < 8; ib++ {
			l := iqClamp(iqNearestInt(0.5*(float32(id*scales[ib])-1)), 0, 15)
			iqPutU32(blk[66+4*ib:], sas[ib]|uint32(l)<<28)
		}
	}
}

// quantizeRowIQ3S reimplements quantize_row_iq3_s_impl with block size 32 (ggml-quants.c, ggml,
// MIT); without an importance matrix the weights are x².
func quantizeRowIQ3S(dst []byte, x, qw []float32) {
	lat := iq3sLattice()
	for ibl := 0; ibl < len(x)/iqQK; ibl++ {
		blk := dst[ibl*iq3sBlockBytes : (ibl+1)*iq3sBlockBytes]
		clear(blk)
		qs, qh, bsigns, bscales := blk[2:66], blk[66:74], blk[74:106], blk[106:110]
		xbl := x[iqQK*ibl : iqQK*(ibl+1)]
		sigma2 := 2 * sumSquares(xbl) / iqQK
		var scales [8]float32
		var maxScale float32
		stored := 0
		for ib := 0; ib < 8; ib++ {
			var qwb *[32]float32
			if qw != nil {
				qwb = (*[32]float32)(qw[iqQK*ibl+32*ib:])
			}
			var grid [8]int
			var signs [4]uint8
			scale, ok := iq3Block(lat, false, (*[32]float32)(xbl[32*ib:]), qwb, sigma2, &grid, &signs)
			if !ok {
				scales[ib] = 0
				continue
			}
			// ggml advances its qs and signs pointers only past blocks it stores, so a skipped
			// all-zero block shifts the grid indices and signs of the blocks after it (qh does
			// not shift); stored is that pointer.
			for k := 0; k < 8; k++ {
				qs[8*stored+k] = byte(grid[k])
				qh[ib] |= byte(grid[k]>>8) << k
			}
			copy(bsigns[4*stored:4*stored+4], signs[:])
			stored++
			scales[ib] = scale
			maxScale = iqMax(maxScale, scale)
		}
		if maxScale == 0 {
			continue
		}
		d := maxScale / 31
		iqPutU16(blk, half.F32ToF16(d*1.033))
		id := 1 / d
		for ib := 0; ib < 8; ib += 2 {
			l1 := iqClamp(iqNearestInt(0.5*(float32(id*scales[ib])-1)), 0, 15)
			l2 := iqClamp(iqNearestInt(0.5*(float32(id*scales[ib+1])-1)), 0, 15)
			bscales[ib/2] = byte(l1 | l2<<4)
		}
	}
}

// dequantizeRowIQ3XXS reimplements dequantize_row_iq3_xxs (ggml-quants.c, ggml, MIT).
func dequantizeRowIQ3XXS(y []float32, src []byte) {
	for i := 0; i < len(y)/iqQK; i++ {
		blk := src[i*iq3xxsBlockBytes : (i+1)*iq3xxsBlockBytes]
		d := half.F16ToF32(iqU16(blk))
		qs := blk[2:66]
		for ib := 0; ib < 8; ib++ {
			aux := iqU32(blk[66+4*ib:])
			db := d * (0.5 + float32(aux>>28)) * 0.5
			for l := 0; l < 4; l++ {
				signs := iqgrid.KSigns[(aux>>(7*l))&127]
				g1 := iqgrid.IQ3XXS[qs[8*ib+2*l]]
				g2 := iqgrid.IQ3XXS[qs[8*ib+2*l+1]]
				iq3Put(y[iqQK*i+32*ib+8*l:], db, g1, g2, signs)
			}
		}
	}
}

// iq3Put writes two grid points of 4 unsigned bytes times db with the 8 signs, as iq2Put does.
func iq3Put(y []float32, db float32, g1, g2 uint32, signs uint8) {
	y = y[:8]
	s := uint32(signs)
	for j := 0; j < 4; j++ {
		v1 := math.Float32bits(db * float32(uint8(g1>>(8*j))))
		v2 := math.Float32bits(db * float32(uint8(g2>>(8*j))))
		y[j] = math.Float32frombits(v1 ^ (s>>j&1)<<31)
		y[j+4] = math.Float32frombits(v2 ^ (s>>(j+4)&1)<<31)
	}
}

// dequantizeRowIQ3S reimplements dequantize_row_iq3_s (ggml-quants.c, ggml, MIT).
func dequantizeRowIQ3S(y []float32, src []byte) {
	for i := 0; i < len(y)/iqQK; i++ {
		blk := src[i*iq3sBlockBytes : (i+1)*iq3sBlockBytes]
		d := half.F16ToF32(iqU16(blk))
		qs, qh, signs, sc := blk[2:66], blk[66:74], blk[74:106], blk[106:110]
		for ib := 0; ib < 8; ib++ {
			db := d * float32(1+2*int(sc[ib/2]>>(4*(ib%2))&0xf))
			h := int(qh[ib])
			for l := 0; l < 4; l++ {
				g1 := iqgrid.IQ3S[int(qs[8*ib+2*l])|(h<<(8-2*l))&256]
				g2 := iqgrid.IQ3S[int(qs[8*ib+2*l+1])|(h<<(7-2*l))&256]
				iq3Put(y[iqQK*i+32*ib+8*l:], db, g1, g2, signs[4*ib+l])
			}
		}
	}
}
