package quantize

// The lattices behind ggml's i-quants and the helpers their quantizers share. The lattice
// construction follows iq2xs_init_impl and iq3xs_init_impl, the helpers nearest_int and
// make_qp_quants, all from ggml/src/ggml-quants.c (ggml, MIT license). The tables themselves are
// in package internal/iqgrid.

import (
	"math"
	"slices"
	"sync"

	"github.com/ggufy/ggufy/internal/iqgrid"
)

const iqQK = 256 // QK_K: values per super-block of every i-quant here

// iqLattice is the quantizer's view of one i-quant grid (ggml's iq2_entry_t / iq3_entry_t).
// A point is a vector of dim levels l (the value 2l+1 on the lattice's integer scale); packed
// with bits per level it is the key of kmap. kmap gives the grid index of a key that is on the
// grid, and -(offset+1) for a key that is not: neigh[offset] is the number of its nearest grid
// points and the indices follow, closest first, ties by index.
type iqLattice struct {
	dim   int
	level []int8 // level[dim*j+k]: level of coordinate k of point j
	kmap  []int32
	neigh []uint16

	// The same points as arrays, for the searches: dim 8 fills level8 and packed (ggml's kgrid,
	// 2 bits per level), dim 4 fills level4.
	level8 [][8]int8
	packed []uint16
	level4 [][4]int8
}

// lookup returns kmap[u], or a negative value with no neighbour list (-1 << 30) when u lies
// beyond the map, which ggml's quantizers never produce from finite input.
func (lat *iqLattice) lookup(u int) int32 {
	if u >= len(lat.kmap) {
		return -1 << 30
	}
	return lat.kmap[u]
}

// neighbours returns the neighbour list of an off-grid key (kmap value m < 0), or nil.
func (lat *iqLattice) neighbours(m int32) []uint16 {
	off := -int(m) - 1
	if off < 0 || off >= len(lat.neigh) {
		return nil
	}
	n := int(lat.neigh[off])
	return lat.neigh[off+1 : off+1+n]
}

var (
	iq2xxsLattice = sync.OnceValue(func() *iqLattice { return iqNewLattice(iqgrid.KGrid2bit256[:], 8, 2, 43692, 2) })
	iq2xsLattice  = sync.OnceValue(func() *iqLattice { return iqNewLattice(iqgrid.KGrid2bit512[:], 8, 2, 43692, 2) })
	iq2sLattice   = sync.OnceValue(func() *iqLattice { return iqNewLattice(iqgrid.KGrid2bit1024[:], 8, 2, 43692, 1) })
	iq1Lattice    = sync.OnceValue(func() *iqLattice { return iqNewLattice(iqgrid.KGrid1bit2048[:], 8, 2, 43692, 3) })
	iq3xxsLattice = sync.OnceValue(func() *iqLattice { return iqNewLattice(iqgrid.KGrid3bit256[:], 4, 3, 4096, 2) })
	iq3sLattice   = sync.OnceValue(func() *iqLattice { return iqNewLattice(iqgrid.KGrid3bit512[:], 4, 3, 4096, 3) })
)

// iqNewLattice builds the lattice of kgrid (dim levels of bits bits per point) as
// iq2xs_init_impl / iq3xs_init_impl do: for every key of kmapSize that is not a grid point, its
// neighbours are all grid points whose squared distance is one of the nwant smallest distances,
// in the order of ggml's qsort by (distance, index). The comparator is a total order, so the
// result does not depend on the sort algorithm; here it comes from a counting pass instead.
func iqNewLattice(kgrid []uint16, dim, bits, kmapSize, nwant int) *iqLattice {
	n := len(kgrid)
	mask := 1<<bits - 1
	lat := &iqLattice{dim: dim, level: make([]int8, n*dim), kmap: make([]int32, kmapSize)}
	for j, g := range kgrid {
		for k := 0; k < dim; k++ {
			l := int(g) >> (bits * k) & mask
			lat.level[dim*j+k] = int8(l)
		}
	}
	switch dim {
	case 8:
		lat.level8, lat.packed = make([][8]int8, n), kgrid
		for j := range n {
			lat.level8[j] = [8]int8(lat.level[8*j:])
		}
	case 4:
		lat.level4 = make([][4]int8, n)
		for j := range n {
			lat.level4[j] = [4]int8(lat.level[4*j:])
		}
	}
	for i := range lat.kmap {
		lat.kmap[i] = -1
	}
	for j := 0; j < n; j++ {
		idx := 0
		for k := 0; k < dim; k++ {
			idx |= int(lat.level[dim*j+k]) << (bits * k)
		}
		lat.kmap[idx] = int32(j)
	}

	// Squared distances of a key to all grid points. The key's coordinates are split into a low
	// and a high part of at most 8 bits each; the distance is the sum of two table rows.
	lowCoords := 8 / bits
	if lowCoords > dim {
		lowCoords = dim
	}
	lowBits := lowCoords * bits
	nLow := 1 << lowBits
	nHigh := (kmapSize-1)>>lowBits + 1
	part := func(key, from, to int) []uint16 {
		row := make([]uint16, n)
		for j := 0; j < n; j++ {
			d2 := 0
			for k := from; k < to; k++ {
				pos := 2*(key>>(bits*(k-from))&mask) + 1
				d := 2*int(lat.level[dim*j+k]) + 1 - pos
				d2 += d * d
			}
			row[j] = uint16(d2)
		}
		return row
	}
	low := make([][]uint16, nLow)
	for key := range low {
		low[key] = part(key, 0, lowCoords)
	}
	high := make([][]uint16, nHigh)
	for key := range high {
		high[key] = part(key, lowCoords, dim)
	}

	// For each off-grid key: mark the distances that occur (stamping with the key, so that the
	// marks need no clearing), take the nwant smallest, then list the points at those distances,
	// by distance and then by index.
	maxD := 0
	for _, t := range [][][]uint16{low, high} {
		m := 0
		for _, row := range t {
			m = max(m, int(slices.Max(row)))
		}
		maxD += m
	}
	mark := make([]int32, maxD+1)
	d2 := make([]uint16, n)
	var near []uint16
	for i := 0; i < kmapSize; i++ {
		if lat.kmap[i] >= 0 {
			continue
		}
		stamp := int32(i + 1)
		lo, hi := low[i&(nLow-1)], high[i>>lowBits]
		lo, hi = lo[:len(d2)], hi[:len(d2)]
		for j := range d2 {
			d := lo[j] + hi[j]
			d2[j] = d
			mark[d] = stamp
		}
		var want [3]uint16
		nw := 0
		for d := 0; d <= maxD && nw < nwant; d++ {
			if mark[d] == stamp {
				want[nw] = uint16(d)
				nw++
			}
		}
		limit := want[nw-1]
		near = near[:0]
		for j, d := range d2 {
			if d <= limit {
				near = append(near, uint16(j))
			}
		}
		off := len(lat.neigh)
		lat.kmap[i] = -int32(off + 1)
		lat.neigh = append(lat.neigh, uint16(len(near)))
		for _, d := range want[:nw] {
			for _, j := range near {
				if d2[j] == d {
					lat.neigh = append(lat.neigh, j)
				}
			}
		}
	}
	return lat
}

// iqScan8 returns the first point of list (the first one on ties, as ggml's strict d2 < best
// keeps it) whose distance, the sum of its terms t[k][level k] added in coordinate order as
// ggml's searches add them, is smallest; list[0] where none is below FLT_MAX (ggml aborts
// there, on NaN/Inf input only). The first two terms of every sum, (0 + t0) + t1, come from a
// table of their nine sums.
func iqScan8(t *[8][4]float32, packed []uint16, list []uint16) int {
	var t01 [16]float32
	for a := 0; a < 3; a++ {
		for b := 0; b < 3; b++ {
			t01[a|b<<2] = t[0][a] + t[1][b]
		}
	}
	best := float32(math.MaxFloat32)
	gi := int(list[0])
	for _, j := range list {
		g := uint32(packed[j])
		d2 := t01[g&15]
		d2 += t[2][g>>4&3]
		d2 += t[3][g>>6&3]
		d2 += t[4][g>>8&3]
		d2 += t[5][g>>10&3]
		d2 += t[6][g>>12&3]
		d2 += t[7][g>>14&3]
		if d2 < best {
			best, gi = d2, int(j)
		}
	}
	return gi
}

// iqNearestInt is ggml's nearest_int: round to nearest, ties to even, by adding 1.5*2^23 and
// reading the mantissa. Like ggml's it gives meaningless but deterministic results beyond 2^22.
func iqNearestInt(f float32) int {
	v := float32(f) + 12582912 // float32(f) keeps an inlined caller's product from fusing with the add
	return int(int32(math.Float32bits(v)&0x007fffff) - 0x00400000)
}

// iqSqrt is sqrtf (float64 square root rounded once to float32 is correctly rounded).
func iqSqrt(x float32) float32 { return float32(math.Sqrt(float64(x))) }

// iqMax is ggml's MAX(a, b) macro, ((a) > (b) ? (a) : (b)), NaN and signed-zero behaviour included.
func iqMax(a, b float32) float32 {
	if a > b {
		return a
	}
	return b
}

// iqClamp returns l limited to [lo, hi] as MAX(lo, MIN(hi, l)) does.
func iqClamp(l, lo, hi int) int {
	return max(lo, min(hi, l))
}

// iqPutU16, iqU16, iqPutU32 and iqU32 store and load little-endian integers.
func iqPutU16(b []byte, v uint16) {
	_ = b[1]
	b[0] = byte(v)
	b[1] = byte(v >> 8)
}

func iqU16(b []byte) uint16 {
	_ = b[1]
	return uint16(b[0]) | uint16(b[1])<<8
}

func iqPutU32(b []byte, v uint32) {
	_ = b[3]
	b[0] = byte(v)
	b[1] = byte(v >> 8)
	b[2] = byte(v >> 16)
	b[3] = byte(v >> 24)
}

func iqU32(b []byte) uint32 {
	_ = b[3]
	return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
}

// iqSignsEven splits 8 values into magnitudes and a 7-bit sign pattern with even parity, as
// the IQ2_XXS, IQ2_XS and IQ3_XXS quantizers of ggml do: when an odd number of values is
// negative, the one of least weight*x*x keeps its sign (its magnitude is stored negated).
func iqSignsEven(xb, w, xval *[8]float32) uint8 {
	nflip := 0
	var s uint8
	for i := 0; i < 8; i++ {
		if xb[i] >= 0 {
			xval[i] = xb[i]
		} else {
			xval[i] = -xb[i]
			nflip++
			s |= 1 << i
		}
	}
	if nflip%2 != 0 {
		imin := 0
		vmin := w[0] * xb[0] * xb[0]
		for i := 1; i < 8; i++ {
			if ax := w[i] * xb[i] * xb[i]; ax < vmin {
				vmin, imin = ax, i
			}
		}
		xval[imin] = -xval[imin]
		s ^= 1 << imin
	}
	return s & 127
}

// iqMakeQPQuants is ggml's make_qp_quants (ggml/src/ggml-quants.c, MIT) for 32 values: the
// scale of non-negative quants up to nmax minimizing the weighted error. Like ggml it keeps the
// quants in bytes, so a negative one wraps around, and the arithmetic below sees the wrapped value.
func iqMakeQPQuants(nmax int, x *[32]float32, L *[32]uint8, w *[32]float32) float32 {
	var vmax float32
	for i := 0; i < 32; i++ {
		vmax = iqMax(vmax, x[i])
	}
	if vmax < 1e-15 { // GROUP_MAX_EPS
		*L = [32]uint8{}
		return 0
	}
	fmax := float32(nmax)
	iscale := fmax / vmax
	for i := 0; i < 32; i++ {
		L[i] = uint8(iqNearestInt(iscale * x[i]))
	}
	scale := 1 / iscale
	var bestMSE float32
	for i := 0; i < 32; i++ {
		diff := x[i] - float32(scale*float32(L[i]))
		bestMSE += float32(w[i] * diff * diff)
	}
	for is := -4; is <= 4; is++ {
		if is == 0 {
			continue
		}
		iscaleIs := (float32(0.1*float32(is)) + fmax) / vmax
		scaleIs := 1 / iscaleIs
		var mse float32
		for i := 0; i < 32; i++ {
			l := min(nmax, iqNearestInt(iscaleIs*x[i]))
			diff := x[i] - float32(scaleIs*float32(l))
			mse += float32(w[i] * diff * diff)
		}
		if mse < bestMSE {
			bestMSE = mse
			iscale = iscaleIs
		}
	}
	var sumlx, suml2 float32
	for i := 0; i < 32; i++ {
		l := min(nmax, iqNearestInt(iscale*x[i]))
		L[i] = uint8(l)
		fl := float32(l)
		sumlx += float32(w[i] * x[i] * fl)
		suml2 += float32(w[i] * fl * fl)
	}
	for itry := 0; itry < 5; itry++ {
		changed := 0
		for i := 0; i < 32; i++ {
			wi := w[i]
			li := float32(L[i])
			slx := sumlx - float32(wi*x[i]*li)
			sl2 := suml2 - float32(wi*li*li)
			if slx > 0 && sl2 > 0 {
				newL := min(nmax, iqNearestInt(x[i]*sl2/slx))
				if newL != int(L[i]) {
					fl := float32(newL)
					slx += float32(wi * x[i] * fl)
					sl2 += float32(wi * fl * fl)
					if slx*slx*suml2 > sumlx*sumlx*sl2 {
						L[i] = uint8(newL)
						sumlx, suml2 = slx, sl2
						changed++
					}
				}
			}
		}
		if changed == 0 {
			break
		}
	}
	if suml2 > 0 {
		return sumlx / suml2
	}
	return 0
}

// iqPair is one element of the (value, index) pairs the IQ1 quantizers sort.
type iqPair struct {
	v float32
	i int32
}

// iqSortPairs sorts p by value exactly as glibc's qsort does with ggml's iq1_sort_helper: for
// arrays this small glibc uses its top-down merge sort (msort_with_tmp), which takes from the
// left run unless the comparator says left > right. The result is stable. Without NaN the
// comparator is a consistent order, under which every stable sort gives that result, so an
// insertion sort does the work; with NaN the merge sort is replayed step by step, giving
// glibc's result where the comparator is inconsistent. tmp must be as long as p.
func iqSortPairs(p, tmp []iqPair) {
	for _, e := range p {
		if e.v != e.v { // NaN
			iqMergeSortPairs(p, tmp)
			return
		}
	}
	for i := 1; i < len(p); i++ {
		e := p[i]
		j := i
		for j > 0 && p[j-1].v > e.v {
			p[j] = p[j-1]
			j--
		}
		p[j] = e
	}
}

// iqMergeSortPairs is glibc's msort_with_tmp for ggml's comparator.
func iqMergeSortPairs(p, tmp []iqPair) {
	n := len(p)
	if n <= 1 {
		return
	}
	n1 := n / 2
	iqMergeSortPairs(p[:n1], tmp)
	iqMergeSortPairs(p[n1:], tmp)
	a, b := p[:n1], p[n1:]
	k := 0
	for len(a) > 0 && len(b) > 0 {
		if !(a[0].v > b[0].v) {
			tmp[k] = a[0]
			a = a[1:]
		} else {
			tmp[k] = b[0]
			b = b[1:]
		}
		k++
	}
	k += copy(tmp[k:], a)
	copy(p, tmp[:k]) // what is left of b is already in place
}
