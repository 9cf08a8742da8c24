package quantize

import (
	"math"
	"math/rand/v2"
	"testing"
)

// searchGroups returns groups of n values of many shapes for the search equivalence tests.
func searchGroups(r *rand.Rand, n, count int) [][]float32 {
	var gs [][]float32
	for k := 0; k < count; k++ {
		x := make([]float32, n)
		scale := math.Ldexp(1, r.IntN(60)-30)
		for i := range x {
			x[i] = float32(r.NormFloat64() * scale)
		}
		switch k % 10 {
		case 1:
			for i := range x {
				x[i] = absf(x[i])
			}
		case 2:
			for i := range x {
				x[i] = -absf(x[i])
			}
		case 3:
			for i := range x {
				if r.IntN(3) == 0 {
					x[i] = 0
				}
			}
		case 4:
			for i := range x {
				x[i] = float32(r.IntN(9)-4) * float32(scale)
			}
		case 5:
			x[r.IntN(n)] *= 50
		case 6:
			for i := range x {
				x[i] = float32(scale)
			}
		case 7:
			x[r.IntN(n)] = float32(math.NaN())
		case 8:
			x[r.IntN(n)] = float32(math.Inf(1 - 2*r.IntN(2)))
		}
		gs = append(gs, x)
	}
	return gs
}

func TestSearchMatchesRef(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 22))
	type params struct {
		nmax          int
		rmin, rdelta  float32
		nstep         int
		useMAD, third bool
	}
	for _, n := range []int{16, 32} {
		for _, x := range searchGroups(r, n, 600) {
			w0 := make([]float32, n)
			for i := range w0 {
				w0[i] = float32(r.ExpFloat64()) * absf(x[i])
			}
			for _, p := range []params{
				{3, -0.5, 0.1, 15, true, false}, {15, -1, 0.1, 20, false, false}, {31, -0.5, 0.1, 15, false, false},
				{3, -0.9, 0.05, 36, false, true}, {15, -0.9, 0.05, 36, false, true}, {31, -0.9, 0.05, 36, false, true},
				{15, -0.9, 0.05, 0, false, true},
			} {
				w := w0
				if p.third && r.IntN(4) == 0 {
					w = nil // make_qkx3_quants weighs by x² then
				}
				var L1, L2, aux [32]uint8
				var m1, m2 float32
				var s1, s2 float32
				if p.third {
					s1 = makeQkx3Quants(x, p.nmax, w, L1[:n], aux[:n], &m1, p.rmin, p.rdelta, p.nstep, p.useMAD)
					s2 = makeQkx3QuantsRef(x, p.nmax, w, L2[:n], aux[:n], &m2, p.rmin, p.rdelta, p.nstep, p.useMAD)
				} else {
					s1 = makeQkx2Quants(x, p.nmax, w, L1[:n], aux[:n], &m1, p.rmin, p.rdelta, p.nstep, p.useMAD)
					s2 = makeQkx2QuantsRef(x, p.nmax, w, L2[:n], aux[:n], &m2, p.rmin, p.rdelta, p.nstep, p.useMAD)
				}
				if math.Float32bits(s1) != math.Float32bits(s2) || math.Float32bits(m1) != math.Float32bits(m2) || L1 != L2 {
					t.Fatalf("qkx %+v x=%v: got (%g, %g, %v), ref (%g, %g, %v)", p, x, s1, m1, L1[:n], s2, m2, L2[:n])
				}
			}
			for _, nmax := range []int{4, 8, 16, 32} {
				for k, qw := range [][]float32{nil, w0, nil, nil, nil, nil} {
					rmse := []int{1, 1, 0, 2, 3, -1}[k]
					var L1, L2 [32]int8
					s1 := makeQxQuants(x, nmax, L1[:n], rmse, qw)
					s2 := makeQxQuantsRef(x, nmax, L2[:n], rmse, qw)
					if math.Float32bits(s1) != math.Float32bits(s2) || L1 != L2 {
						t.Fatalf("qx nmax=%d x=%v: got (%g, %v), ref (%g, %v)", nmax, x, s1, L1[:n], s2, L2[:n])
					}
				}
			}
		}
	}
}
