package quantize

// MXFP4 (OCP microscaling): blocks of 32 E2M1 values sharing an E8M0 exponent e,
// x = 2^(e-128) * kvalues_fp4[q] (the grid holds doubled E2M1 values).
// Reimplemented from quantize_row_mxfp4_ref, best_index_mxfp4 and dequantize_row_mxfp4 in
// ggml/src/ggml-quants.c and ggml_e8m0_to_fp32_half in ggml/src/ggml-impl.h (ggml, MIT license).

import (
	"math"

	"github.com/ggufy/ggufy/gguf"
)

const (
	qkMXFP4    = 32
	blockMXFP4 = 1 + qkMXFP4/2
)

func init() {
	register(gguf.TypeMXFP4, &codec{quantizeRow: quantizeRowMXFP4, dequantizeRow: dequantizeRowMXFP4})
}

// e8m0Half is ggml_e8m0_to_fp32_half: 2^(e-128).
func e8m0Half(e uint8) float32 {
	if e < 2 {
		return math.Float32frombits(0x00200000 << e)
	}
	return math.Float32frombits(uint32(e-1) << 23)
}

// bestIndexFP4 is ggml's best_index_mxfp4: the first index i of kvalues_fp4 minimizing
// |kvalues_fp4[i]*e - x| as computed in float32.
//
// ggml scans all 16 entries; this finds the same index from the non-negative half: the grid is
// symmetric, so for x < 0 the answer is the mirror (i+8) of the answer for |x| unless that is
// 0, which comes first. On the sorted half the rounded errors fall, then rise: the minimum is
// at the grid points around |x|, and equal errors before it (which ggml would pick first) are
// found by walking back.
func bestIndexFP4(x float32, g *fp4Grid) uint8 {
	a := absf(x)
	p := &g.p // p[0] = -Inf, then the grid values from p[1]
	j := b2i(p[2] <= a) + b2i(p[3] <= a) + b2i(p[4] <= a) + b2i(p[5] <= a) + b2i(p[6] <= a) +
		b2i(p[7] <= a) + b2i(p[8] <= a)
	errJ := absf(p[j+1] - a)
	errNext := absf(p[j+2] - a) // p[9] = +Inf never wins
	errPrev := absf(p[j] - a)   // p[0] = -Inf never ties
	if errJ != errJ {           // NaN input, or inf - inf with scales no finite block produces
		return bestIndexFP4Scan(x, g.e)
	}
	c := j + b2i(errNext < errJ)
	if b2i(errPrev == errJ)&b2i(c == j) != 0 { // a plateau: ggml keeps the first of equal errors
		for c > 0 && absf(p[c]-a) == errJ {
			c--
		}
	}
	c += 8 * (b2i(x < 0) & b2i(c != 0))
	return uint8(c)
}

// fp4Grid is the non-negative half of kvalues_fp4 times a block scale e, between -Inf and +Inf.
type fp4Grid struct {
	e float32
	p [10]float32
}

func newFP4Grid(e float32) (g fp4Grid) {
	g.e = e
	g.p[0] = float32(math.Inf(-1))
	for i := 0; i < 8; i++ {
		g.p[i+1] = float32(kvaluesFP4[i]) * e
	}
	g.p[9] = float32(math.Inf(1))
	return g
}

// bestIndexFP4Scan is best_index_mxfp4 as ggml writes it: a scan of all 16 entries.
func bestIndexFP4Scan(x, e float32) uint8 {
	best := 0
	bestErr := absf(float32(float32(kvaluesFP4[0])*e) - x)
	for i := 1; i < 16; i++ {
		if err := absf(float32(float32(kvaluesFP4[i])*e) - x); err < bestErr {
			best, bestErr = i, err
		}
	}
	return uint8(best)
}

// log2f is glibc's log2f as far as floorf(log2f(x)) goes (checked for every positive float32).
func log2f(x float32) float32 { return float32(math.Log2(float64(x))) }

func quantizeRowMXFP4(dst []byte, src, _ []float32) {
	for ib := 0; ib < len(src)/qkMXFP4; ib++ {
		x := src[ib*qkMXFP4 : (ib+1)*qkMXFP4]
		y := dst[ib*blockMXFP4 : (ib+1)*blockMXFP4]
		var amax float32
		for _, v := range x {
			if av := absf(v); amax < av {
				amax = av
			}
		}
		var e uint8
		if amax > 0 {
			e = uint8(cInt32(float32(math.Floor(float64(log2f(amax)))) - 2 + 127))
		}
		g := newFP4Grid(e8m0Half(e))
		y[0] = e
		for j := 0; j < qkMXFP4/2; j++ {
			y[1+j] = bestIndexFP4(x[j], &g) | bestIndexFP4(x[j+qkMXFP4/2], &g)<<4
		}
	}
}

func dequantizeRowMXFP4(dst []float32, src []byte) {
	for ib := 0; ib < len(dst)/qkMXFP4; ib++ {
		x := src[ib*blockMXFP4 : (ib+1)*blockMXFP4]
		y := dst[ib*qkMXFP4 : (ib+1)*qkMXFP4]
		d := e8m0Half(x[0])
		for j := 0; j < qkMXFP4/2; j++ {
			y[j] = float32(kvaluesFP4[x[1+j]&0xf]) * d
			y[j+qkMXFP4/2] = float32(kvaluesFP4[x[1+j]>>4]) * d
		}
	}
}
