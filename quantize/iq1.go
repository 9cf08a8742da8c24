package quantize

// IQ1_S and IQ1_M: ternary quants (-1, 0, 1 shifted by ±delta) on ggml's 2048-point lattice.
// The encoders reimplement quantize_row_iq1_s_impl and quantize_row_iq1_m_impl with
// iq1_find_best_neighbour2, the decoders dequantize_row_iq1_s and dequantize_row_iq1_m, all from
// ggml/src/ggml-quants.c (ggml, MIT license), in ggml's float32 evaluation order.

import (
	"math"

	"github.com/ggufy/ggufy/gguf"
	"github.com/ggufy/ggufy/internal/half"
	"github.com/ggufy/ggufy/internal/iqgrid"
)

func init() {
	register(gguf.TypeIQ1_S, &codec{quantizeRow: quantizeRowIQ1S, dequantizeRow: dequantizeRowIQ1S, needsImatrix: true})
	register(gguf.TypeIQ1_M, &codec{quantizeRow: quantizeRowIQ1M, dequantizeRow: dequantizeRowIQ1M})
}

const (
	iq1sBlockBytes = 50 // d, qs[32], qh[8] uint16
	iq1mBlockBytes = 56 // qs[32], qh[16], scales[8] (with the fp16 super-block scale in the top nibbles)
	iq1Delta       = 0.125
)

// The three values of a level with positive (x_p) and negative (x_m) shift.
const (
	iq1XP0, iq1XP1, iq1XP2 float32 = -1 + iq1Delta, iq1Delta, 1 + iq1Delta
	iq1XM0, iq1XM1, iq1XM2 float32 = -1 - iq1Delta, -iq1Delta, 1 - iq1Delta
)

var (
	iq1XP = [3]float32{iq1XP0, iq1XP1, iq1XP2} // x_p
	iq1XM = [3]float32{iq1XM0, iq1XM1, iq1XM2} // x_m
)

// iq1BestNeighbour2 is ggml's iq1_find_best_neighbour2: among the neighbours of the off-grid
// key whose kmap entry is m, the point whose values xg[level] at the given scale are closest to
// xval in weighted squared distance (first one on ties); it writes the levels to L. Where no
// neighbour has a finite distance ggml scans the whole grid with an out-of-bounds read and then
// mostly aborts; that happens only for NaN/Inf input, and here the first neighbour is taken.
func iq1BestNeighbour2(lat *iqLattice, m int32, xval, weight *[8]float32, scale float32, xg *[3]float32, L *[8]int8) int {
	list := lat.neighbours(m)
	if len(list) == 0 {
		*L = [8]int8{}
		return 0
	}
	// ggml computes w·(scale·xg[level] - x)² per value; that term depends only on the
	// coordinate and its level (three per coordinate), so the terms are computed once, each
	// with ggml's operations, and every point adds up its eight in ggml's order.
	var t [8][4]float32
	for l := 0; l < 3; l++ {
		sq := float32(scale * xg[l])
		for k := 0; k < 8; k++ {
			diff := sq - xval[k]
			t[k][l] = float32(weight[k] * diff * diff)
		}
	}
	gi := iqScan8(&t, lat.packed, list)
	*L = lat.level8[gi]
	return gi
}

// iq1Key packs 8 levels (0, 1, 2) into a kmap key.
func iq1Key(L []int8) int {
	L = L[:8]
	var u uint16
	for j := 0; j < 8; j++ {
		u |= uint16(int(L[j]) << (2 * j))
	}
	return int(u)
}

// iq1Levels sets the level of every value from its rank in the sorted pairs: 0 below the
// boundary i1, 1 below i2, 2 from i2 on.
func iq1Levels(L []int8, pairs []iqPair, i1, i2 int) {
	for j, p := range pairs {
		switch {
		case j < i1:
			L[p.i] = 0
		case j < i2:
			L[p.i] = 1
		default:
			L[p.i] = 2
		}
	}
}

// quantizeRowIQ1S reimplements quantize_row_iq1_s_impl (ggml-quants.c, ggml, MIT).
func quantizeRowIQ1S(dst []byte, x, qw []float32) {
	lat := iq1Lattice()
	const bs = 32
	for ibl := 0; ibl < len(x)/iqQK; ibl++ {
		blk := dst[ibl*iq1sBlockBytes : (ibl+1)*iq1sBlockBytes]
		clear(blk)
		qs := blk[2:34]
		var qh [8]uint16
		xbl := x[iqQK*ibl : iqQK*(ibl+1)]
		sigma2 := float32(2 * sumSquares(xbl) / iqQK)
		var scales [8]float32
		var shifts [8]int8
		var maxScale float32

		for ib := 0; ib < iqQK/bs; ib++ {
			xb := (*[bs]float32)(xbl[bs*ib:])
			qwb := (*[bs]float32)(qw[iqQK*ibl+bs*ib:])
			var weight [bs]float32
			for i := 0; i < bs; i++ {
				weight[i] = qwb[i] * iqSqrt(sigma2+float32(xb[i]*xb[i]))
			}
			vmax := float32(math.Abs(float64(xb[0])))
			for i := 1; i < bs; i++ {
				vmax = iqMax(vmax, float32(math.Abs(float64(xb[i]))))
			}
			if vmax < 1e-12 { // GROUP_MAX_EPS_IQ1_S
				scales[ib], shifts[ib] = 0, 1
				continue
			}
			var pairs, tmp [bs]iqPair
			for j := 0; j < bs; j++ {
				pairs[j] = iqPair{xb[j], int32(j)}
			}
			iqSortPairs(pairs[:], tmp[:])
			var sumx, sumw [bs + 1]float32
			for j := 0; j < bs; j++ {
				i := pairs[j].i
				sumx[j+1] = sumx[j] + float32(weight[i]*xb[i])
				sumw[j+1] = sumw[j] + weight[i]
			}
			bestScore, scale := float32(-math.MaxFloat32), vmax
			besti1, besti2, bestShift := -1, -1, 0
			// ggml's sums for the boundaries (i1, i2), with the products that depend on one
			// boundary only computed once; the float32 operations and their order are ggml's.
			var cP, cM, wcP, wcM [bs + 1]float32
			for i2 := 0; i2 <= bs; i2++ {
				c, wc := sumx[bs]-sumx[i2], sumw[bs]-sumw[i2]
				cP[i2], cM[i2] = float32(c*iq1XP2), float32(c*iq1XM2)
				wcP[i2], wcM[i2] = float32(wc*iq1XP2*iq1XP2), float32(wc*iq1XM2*iq1XM2)
			}
			for i1 := 0; i1 <= bs; i1++ {
				a, wa := sumx[i1]-sumx[0], sumw[i1]-sumw[0]
				aP, aM := float32(a*iq1XP0), float32(a*iq1XM0)
				waP, waM := float32(wa*iq1XP0*iq1XP0), float32(wa*iq1XM0*iq1XM0)
				sx1, sw1 := sumx[i1], sumw[i1]
				for i2 := i1; i2 <= bs; i2++ {
					b, wb := sumx[i2]-sx1, sumw[i2]-sw1
					sumqx := aP + float32(b*iq1XP1) + cP[i2]
					sumq2 := waP + float32(wb*iq1XP1*iq1XP1) + wcP[i2]
					if sumq2 > 0 && sumqx*sumqx > bestScore*sumq2 {
						scale = sumqx / sumq2
						bestScore = scale * sumqx
						besti1, besti2, bestShift = i1, i2, 1
					}
					sumqx = aM + float32(b*iq1XM1) + cM[i2]
					sumq2 = waM + float32(wb*iq1XM1*iq1XM1) + wcM[i2]
					if sumq2 > 0 && sumqx*sumqx > bestScore*sumq2 {
						scale = sumqx / sumq2
						bestScore = scale * sumqx
						besti1, besti2, bestShift = i1, i2, -1
					}
				}
			}
			if besti1 < 0 || besti2 < 0 || bestShift == 0 {
				scales[ib], shifts[ib] = 0, 1
				continue
			}
			var L [bs]int8
			iq1Levels(L[:], pairs[:], besti1, besti2)
			if scale < 0 {
				for j := range L {
					L[j] = 2 - L[j]
				}
				scale, bestShift = -scale, -bestShift
			}
			xx := &iq1XP
			if bestShift != 1 {
				xx = &iq1XM
			}
			allOnGrid := true
			var index [4]int
			for k := 0; k < bs/8; k++ {
				lk := (*[8]int8)(L[8*k:])
				gi := lat.lookup(iq1Key(lk[:]))
				if gi < 0 {
					allOnGrid = false
					gi = int32(iq1BestNeighbour2(lat, gi, (*[8]float32)(xb[8*k:]), (*[8]float32)(weight[8*k:]), scale, xx, lk))
				}
				index[k] = int(gi)
			}
			if !allOnGrid {
				var sumqx, sumq2 float32
				for k := 0; k < bs/8; k++ {
					lv := (*[8]int8)(lat.level[8*index[k]:])
					for j := 0; j < 8; j++ {
						w := weight[8*k+j]
						q := xx[lv[j]]
						sumqx += float32(w * q * xb[8*k+j])
						sumq2 += float32(w * q * q)
					}
				}
				if sumqx > 0 && sumq2 > 0 {
					scale = sumqx / sumq2
				}
			}
			var h uint16
			for k := 0; k < bs/8; k++ {
				qs[(bs/8)*ib+k] = byte(index[k])
				h |= uint16(index[k]>>8) << (3 * k)
			}
			qh[ib] = h
			scales[ib], shifts[ib] = scale, int8(bestShift)
			maxScale = iqMax(maxScale, scale)
		}

		if maxScale != 0 {
			d := maxScale / 15
			iqPutU16(blk, half.F32ToF16(d*1.125))
			id := 1 / d
			for ib := 0; ib < iqQK/bs; ib++ {
				l := iqClamp(iqNearestInt(0.5*(float32(id*scales[ib])-1)), 0, 7)
				if shifts[ib] == -1 {
					l |= 8
				}
				qh[ib] |= uint16(l) << 12
			}
		}
		for ib, h := range qh {
			iqPutU16(blk[34+2*ib:], h)
		}
	}
}

// quantizeRowIQ1M reimplements quantize_row_iq1_m_impl (ggml-quants.c, ggml, MIT): blocks of 16
// whose two halves may use different shifts; without an importance matrix the weights are x².
func quantizeRowIQ1M(dst []byte, x, qw []float32) {
	lat := iq1Lattice()
	const bs = 16
	masks := [4]uint8{0x00, 0x80, 0x08, 0x88}
	// For both x_p and x_m, v[0]-v[1] = v[1]-v[2] = -1, which ggml's split search relies on.
	cp1 := float32(iq1XP[0]*iq1XP[0]) - float32(iq1XP[1]*iq1XP[1])
	cp2 := float32(iq1XP[1]*iq1XP[1]) - float32(iq1XP[2]*iq1XP[2])
	cm1 := float32(iq1XM[0]*iq1XM[0]) - float32(iq1XM[1]*iq1XM[1])
	cm2 := float32(iq1XM[1]*iq1XM[1]) - float32(iq1XM[2]*iq1XM[2])
	shiftValues := func(k, shift int) *[3]float32 {
		if k == 0 && shift < 2 || k == 1 && shift%2 == 0 {
			return &iq1XP
		}
		return &iq1XM
	}
	for ibl := 0; ibl < len(x)/iqQK; ibl++ {
		blk := dst[ibl*iq1mBlockBytes : (ibl+1)*iq1mBlockBytes]
		clear(blk)
		qs, qh, bsc := blk[0:32], blk[32:48], blk[48:56]
		xbl := x[iqQK*ibl : iqQK*(ibl+1)]
		sigma2 := float32(2 * sumSquares(xbl) / iqQK)
		var scales [16]float32
		var shifts [16]int8
		var maxScale float32
		var weight [bs]float32
		weights := func(ib int, xb *[bs]float32) {
			if qw != nil {
				qwb := (*[bs]float32)(qw[iqQK*ibl+bs*ib:])
				for i := 0; i < bs; i++ {
					weight[i] = qwb[i] * iqSqrt(sigma2+float32(xb[i]*xb[i]))
				}
			} else {
				for i := 0; i < bs; i++ {
					weight[i] = xb[i] * xb[i]
				}
			}
		}

		for ib := 0; ib < iqQK/bs; ib++ {
			xb := (*[bs]float32)(xbl[bs*ib:])
			weights(ib, xb)
			vmax := float32(math.Abs(float64(xb[0])))
			for i := 1; i < bs; i++ {
				vmax = iqMax(vmax, float32(math.Abs(float64(xb[i]))))
			}
			if vmax < 1e-7 { // GROUP_MAX_EPS_IQ1_M
				scales[ib], shifts[ib] = 0, 0
				continue
			}
			var pairs, tmp [bs]iqPair
			for j := 0; j < bs; j++ {
				pairs[j] = iqPair{xb[j], int32(j)}
			}
			iqSortPairs(pairs[:], tmp[:])
			bestScore, scale := float32(-math.MaxFloat32), vmax
			besti1, besti2, bestK := -1, -1, -1
			// Prefix sums per half of the block, as ggml keeps them: each half may use its own shift.
			var px, pw [2][bs + 1]float32
			for j := 0; j < bs; j++ {
				i := pairs[j].i
				h := 0
				if i >= bs/2 {
					h = 1
				}
				px[h][j+1] = px[h][j] + float32(weight[i]*xb[i])
				px[1-h][j+1] = px[1-h][j]
				pw[h][j+1] = pw[h][j] + weight[i]
				pw[1-h][j+1] = pw[1-h][j]
			}
			// ggml's sums for the boundaries (i1, i2) per half h: with T = txs[h], W = tws[h],
			//   qx = T*v2 - (px[i1] + px[i2]),  q2 = W*v2*v2 + pw[i1]*c1 + pw[i2]*c2,
			// for v = x_p and x_m. The products are computed once per block or boundary; the
			// float32 operations and their order are ggml's.
			var tp, tm, wp, wm [2]float32
			var p1, p2, m1, m2 [2][bs + 1]float32
			for h := 0; h < 2; h++ {
				tp[h], tm[h] = float32(px[h][bs]*iq1XP2), float32(px[h][bs]*iq1XM2)
				wp[h], wm[h] = float32(pw[h][bs]*iq1XP2*iq1XP2), float32(pw[h][bs]*iq1XM2*iq1XM2)
				for i := 0; i <= bs; i++ {
					p1[h][i], p2[h][i] = float32(pw[h][i]*cp1), float32(pw[h][i]*cp2)
					m1[h][i], m2[h][i] = float32(pw[h][i]*cm1), float32(pw[h][i]*cm2)
				}
			}
			px0, px1 := &px[0], &px[1]
			for i1 := 0; i1 <= bs; i1++ {
				a0, a1 := px0[i1], px1[i1]
				wp0, wp1 := wp[0]+p1[0][i1], wp[1]+p1[1][i1]
				wm0, wm1 := wm[0]+m1[0][i1], wm[1]+m1[1][i1]
				for i2 := i1; i2 <= bs; i2++ {
					sx0, sx1 := a0+px0[i2], a1+px1[i2]
					qxp0, qxm0 := tp[0]-sx0, tm[0]-sx0
					qxp1, qxm1 := tp[1]-sx1, tm[1]-sx1
					q2p0, q2m0 := wp0+p2[0][i2], wm0+m2[0][i2]
					q2p1, q2m1 := wp1+p2[1][i2], wm1+m2[1][i2]
					// k: 0 = (x_p, x_p), 1 = (x_p, x_m), 2 = (x_m, x_p), 3 = (x_m, x_m)
					if sqx, sq2 := qxp0+qxp1, q2p0+q2p1; sq2 > 0 && sqx*sqx > bestScore*sq2 {
						scale = sqx / sq2
						bestScore = scale * sqx
						besti1, besti2, bestK = i1, i2, 0
					}
					if sqx, sq2 := qxp0+qxm1, q2p0+q2m1; sq2 > 0 && sqx*sqx > bestScore*sq2 {
						scale = sqx / sq2
						bestScore = scale * sqx
						besti1, besti2, bestK = i1, i2, 1
					}
					if sqx, sq2 := qxm0+qxp1, q2m0+q2p1; sq2 > 0 && sqx*sqx > bestScore*sq2 {
						scale = sqx / sq2
						bestScore = scale * sqx
						besti1, besti2, bestK = i1, i2, 2
					}
					if sqx, sq2 := qxm0+qxm1, q2m0+q2m1; sq2 > 0 && sqx*sqx > bestScore*sq2 {
						scale = sqx / sq2
						bestScore = scale * sqx
						besti1, besti2, bestK = i1, i2, 3
					}
				}
			}
			if besti1 < 0 || besti2 < 0 || bestK < 0 {
				scales[ib], shifts[ib] = 0, 0
				continue
			}
			var L [bs]int8
			iq1Levels(L[:], pairs[:], besti1, besti2)
			if scale < 0 {
				for j := range L {
					L[j] = 2 - L[j]
				}
				scale = -scale
				bestK = 3 - bestK
			}
			allOnGrid := true
			var index [2]int
			for k := 0; k < bs/8; k++ {
				xx := shiftValues(k, bestK)
				lk := (*[8]int8)(L[8*k:])
				gi := lat.lookup(iq1Key(lk[:]))
				if gi < 0 {
					allOnGrid = false
					gi = int32(iq1BestNeighbour2(lat, gi, (*[8]float32)(xb[8*k:]), (*[8]float32)(weight[8*k:]), scale, xx, lk))
				}
				index[k] = int(gi)
			}
			if !allOnGrid {
				var sumqx, sumq2 float32
				for k := 0; k < bs/8; k++ {
					xx := shiftValues(k, bestK)
					lv := (*[8]int8)(lat.level[8*index[k]:])
					for j := 0; j < 8; j++ {
						w := weight[8*k+j]
						q := xx[lv[j]]
						sumqx += float32(w * q * xb[8*k+j])
						sumq2 += float32(w * q * q)
					}
				}
				if sumqx > 0 && sumq2 > 0 {
					scale = sumqx / sumq2
				}
			}
			qs[2*ib] = byte(index[0])
			qs[2*ib+1] = byte(index[1])
			qh[ib] = byte(index[0]>>8) | byte(index[1]>>8)<<4
			scales[ib], shifts[ib] = scale, int8(bestK)
			maxScale = iqMax(maxScale, scale)
		}

		if maxScale == 0 {
			continue
		}
		var sc [4]uint16
		d := maxScale / 15
		id := 1 / d
		var sumqx, sumq2 float32
		for ib := 0; ib < iqQK/bs; ib++ {
			l := iqClamp(iqNearestInt(0.5*(float32(id*scales[ib])-1)), 0, 7)
			sc[ib/4] |= uint16(l) << (3 * (ib % 4))
			qh[ib] |= masks[shifts[ib]&3]
			xb := (*[bs]float32)(xbl[bs*ib:])
			weights(ib, xb)
			fl := float32(2*l + 1)
			for k := 0; k < bs/8; k++ {
				xx := shiftValues(k, int(shifts[ib]))
				gi := int(qs[2*ib+k]) + (int(qh[ib])<<(8-4*k))&0x700
				lv := (*[8]int8)(lat.level[8*gi:])
				for j := 0; j < 8; j++ {
					w := weight[8*k+j]
					q := xx[lv[j]] * fl
					sumqx += float32(w * q * xb[8*k+j])
					sumq2 += float32(w * q * q)
				}
			}
		}
		if sumq2 > 0 {
			d = sumqx / sumq2
		}
		s := half.F32ToF16(d * 1.1125)
		sc[0] |= (s & 0x000f) << 12
		sc[1] |= (s & 0x00f0) << 8
		sc[2] |= (s & 0x0f00) << 4
		sc[3] |= s & 0xf000
		for i, v := range sc {
			iqPutU16(bsc[2*i:], v)
		}
	}
}

// dequantizeRowIQ1S reimplements dequantize_row_iq1_s (ggml-quants.c, ggml, MIT).
func dequantizeRowIQ1S(y []float32, src []byte) {
	for i := 0; i < len(y)/iqQK; i++ {
		blk := src[i*iq1sBlockBytes : (i+1)*iq1sBlockBytes]
		d := half.F16ToF32(iqU16(blk))
		qs := blk[2:34]
		for ib := 0; ib < 8; ib++ {
			qh := uint32(iqU16(blk[34+2*ib:]))
			c := iq1Values(d*float32(2*(qh>>12&7)+1), qh&0x8000<<16)
			for l := 0; l < 4; l++ {
				iq1Put((*[8]float32)(y[iqQK*i+32*ib+8*l:]), &c, uint32(qs[4*ib+l])|(qh>>(3*l)&7)<<8)
			}
		}
	}
}

// iq1Values returns dl*(v+delta) for the grid values v = -1, 0, 1, with delta = ±1/8 (negative
// when neg has the sign bit set, chosen without a branch). The sums v+delta are exact, so these
// are the products ggml computes per value.
func iq1Values(dl float32, neg uint32) [4]float32 {
	delta := math.Float32frombits(math.Float32bits(iq1Delta) | neg&(1<<31))
	return [4]float32{dl * (-1 + delta), dl * (0 + delta), dl * (1 + delta)}
}

// iq1Put writes c[v+1] for the 8 values v (-1, 0 or 1) of the grid point with index idx: v+1 is
// the point's level in the quantizer's packed table (TestIQGrids checks that both agree).
func iq1Put(y *[8]float32, c *[4]float32, idx uint32) {
	g := uint32(iqgrid.KGrid1bit2048[idx&2047])
	for j := 0; j < 8; j++ {
		y[j] = c[g>>(2*j)&3]
	}
}

// dequantizeRowIQ1M reimplements dequantize_row_iq1_m (ggml-quants.c, ggml, MIT).
func dequantizeRowIQ1M(y []float32, src []byte) {
	for i := 0; i < len(y)/iqQK; i++ {
		blk := src[i*iq1mBlockBytes : (i+1)*iq1mBlockBytes]
		qs, qh := blk[0:32], blk[32:48]
		var sc [4]uint16
		for k := range sc {
			sc[k] = iqU16(blk[48+2*k:])
		}
		d := half.F16ToF32(sc[0]>>12 | sc[1]>>8&0x00f0 | sc[2]>>4&0x0f00 | sc[3]&0xf000)
		for ib := 0; ib < 8; ib++ {
			s := int(sc[ib/2])
			dl1 := d * float32(2*(s>>(6*(ib%2))&7)+1)
			dl2 := d * float32(2*(s>>(6*(ib%2)+3)&7)+1)
			h0, h1 := int(qh[2*ib]), int(qh[2*ib+1])
			idx := [4]int{
				int(qs[4*ib]) | h0<<8&0x700,
				int(qs[4*ib+1]) | h0<<4&0x700,
				int(qs[4*ib+2]) | h1<<8&0x700,
				int(qs[4*ib+3]) | h1<<4&0x700,
			}
			base := iqQK*i + 32*ib
			c0 := iq1Values(dl1, uint32(h0&0x08)<<28)
			c1 := iq1Values(dl1, uint32(h0&0x80)<<24)
			c2 := iq1Values(dl2, uint32(h1&0x08)<<28)
			c3 := iq1Values(dl2, uint32(h1&0x80)<<24)
			iq1Put((*[8]float32)(y[base:]), &c0, uint32(idx[0]))
			iq1Put((*[8]float32)(y[base+8:]), &c1, uint32(idx[1]))
			iq1Put((*[8]float32)(y[base+16:]), &c2, uint32(idx[2]))
			iq1Put((*[8]float32)(y[base+24:]), &c3, uint32(idx[3]))
		}
	}
}
