package runtime

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/ggufy/ggufy/internal/half"
	"github.com/ggufy/ggufy/runtime/kernels"
)

// Op-level tests against straightforward float64 references.

func randRow(r *rand.Rand, n int, scale float64) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(r.NormFloat64() * scale)
	}
	return x
}

func relErr(got, want float64) float64 {
	return math.Abs(got-want) / max(math.Abs(want), 1e-30)
}

// vExpf is ggml_v_expf, ggml's vectorized expf, one lane.
func vExpf(x float32) float32 { return kernels.VExpf(x) }

func TestVExpf(t *testing.T) {
	// ggml_v_expf: at most 1.45358 + 0.5 ulp from exp
	for x := -87.0; x < 88; x += 0.01237 {
		got := float64(vExpf(float32(x)))
		want := math.Exp(float64(float32(x)))
		if e := relErr(got, want); e > 2.5e-7 {
			t.Fatalf("vExpf(%g) = %g, exp = %g (rel %g)", x, got, want, e)
		}
	}
	for _, c := range []struct{ x, want float32 }{
		{float32(math.Inf(-1)), 0}, {-200, 0}, {0, 1},
	} {
		if got := vExpf(c.x); got != c.want {
			t.Errorf("vExpf(%g) = %g, want %g", c.x, got, c.want)
		}
	}
	if got := vExpf(100); !math.IsInf(float64(got), 1) {
		t.Errorf("vExpf(100) = %g, want +Inf", got)
	}
}

func TestSoftMax(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{1, 7, 8, 13, 64, 1000} {
		x := randRow(r, n, 3)
		y := make([]float32, n)
		softMax(y, x)
		mx := math.Inf(-1)
		for _, v := range x {
			mx = max(mx, float64(v))
		}
		var sum float64
		for _, v := range x {
			sum += math.Exp(float64(v) - mx)
		}
		for i, v := range x {
			want := math.Exp(float64(v)-mx) / sum
			if e := math.Abs(float64(y[i]) - want); e > 1e-6*max(want, 1e-3) {
				t.Fatalf("n=%d: softmax[%d] = %g, want %g", n, i, y[i], want)
			}
		}
	}
}

func TestNorms(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, n := range []int{5, 8, 64, 257, 4096} {
		x := randRow(r, n, 2)
		w := randRow(r, n, 1)
		b := randRow(r, n, 1)
		eps := float32(1e-5)
		y := make([]float32, n)
		rmsNorm(y, x, w, eps)
		var ss float64
		for _, v := range x {
			ss += float64(v) * float64(v)
		}
		sc := 1 / math.Sqrt(ss/float64(n)+float64(eps))
		for i := range x {
			want := float64(x[i]) * sc * float64(w[i])
			if math.Abs(float64(y[i])-want) > 1e-6*(1+math.Abs(want)) {
				t.Fatalf("rmsNorm n=%d [%d] = %g, want %g", n, i, y[i], want)
			}
		}
		layerNorm(y, x, w, b, eps)
		var mean, vr float64
		for _, v := range x {
			mean += float64(v)
		}
		mean /= float64(n)
		for _, v := range x {
			vr += (float64(v) - mean) * (float64(v) - mean)
		}
		sc = 1 / math.Sqrt(vr/float64(n)+float64(eps))
		for i := range x {
			want := (float64(x[i])-mean)*sc*float64(w[i]) + float64(b[i])
			if math.Abs(float64(y[i])-want) > 2e-6*(1+math.Abs(want)) {
				t.Fatalf("layerNorm n=%d [%d] = %g, want %g", n, i, y[i], want)
			}
		}
	}
}

func TestActivations(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	n := 1003 // a tail after the blocks of 8
	x := randRow(r, n, 4)
	g := randRow(r, n, 1)
	y := make([]float32, n)
	swigluRow(y, x, g)
	for i := range x {
		xv := float64(x[i])
		want := xv / (1 + math.Exp(-xv)) * float64(g[i])
		if math.Abs(float64(y[i])-want) > 1e-6*(1+math.Abs(want)) {
			t.Fatalf("swiglu[%d] = %g, want %g", i, y[i], want)
		}
	}
	// GELU through ggml's fp16 table: within fp16 rounding of the input and of the output
	x = append(x, -11, 12, 0)
	y = make([]float32, len(x))
	geluRow(y, x)
	for i, v := range x {
		xv := float64(v)
		want := 0.5 * xv * (1 + math.Tanh(math.Sqrt(2/math.Pi)*(xv+0.044715*xv*xv*xv)))
		if v <= -10 {
			want = 0
		} else if v >= 10 {
			want = xv
		}
		if math.Abs(float64(y[i])-want) > 2e-3*(1+math.Abs(want)) {
			t.Fatalf("gelu(%g) = %g, want %g", v, y[i], want)
		}
		if v > -10 && v < 10 && half.RoundF16(y[i]) != y[i] {
			t.Fatalf("gelu(%g) = %g is not an fp16 value", v, y[i])
		}
	}
	gegluRow(y, x, append(g, 1, 1, 1))
	for i, v := range x {
		want := float64(y[i])
		tab := float64(geluTab()[half.F32ToF16(v)])
		if v <= -10 {
			tab = 0
		} else if v >= 10 {
			tab = float64(v)
		}
		gv := float64(append(g, 1, 1, 1)[i])
		if math.Abs(tab*gv-want) > 1e-6*(1+math.Abs(want)) {
			t.Fatalf("geglu(%g) = %g, want %g", v, want, tab*gv)
		}
	}
}

// ropeRef rotates x (one head) by position p in float64: NORM rotates pairs (2i, 2i+1), NEOX
// pairs (i, i+n/2); frequency i is base^(-2i/n) / ff[i].
func ropeRef(x []float32, p int, n, mode int, base float64, ff []float32) []float64 {
	y := make([]float64, len(x))
	for i := range x {
		y[i] = float64(x[i])
	}
	for i := range n / 2 {
		theta := float64(p) * math.Pow(base, -2*float64(i)/float64(n))
		if ff != nil {
			theta /= float64(ff[i])
		}
		c, s := math.Cos(theta), math.Sin(theta)
		a, b := 2*i, 2*i+1
		if mode == ropeNeox {
			a, b = i, i+n/2
		}
		x0, x1 := float64(x[a]), float64(x[b])
		y[a] = x0*c - x1*s
		y[b] = x0*s + x1*c
	}
	return y
}

func TestRope(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	const d = 64
	ff := make([]float32, d/2)
	for i := range ff {
		ff[i] = 1 + float32(i)/8
	}
	for _, mode := range []int{ropeNorm, ropeNeox} {
		for _, factors := range [][]float32{nil, ff} {
			for _, nDims := range []int{d, d / 2} {
				rp := newRope(nDims, mode, 4096, 10000, 1, 0, 1, 32, 1, factors)
				cache := make([]float32, d)
				for _, p := range []int{0, 1, 7, 100, 511} {
					x := randRow(r, 2*d, 1)
					want0 := ropeRef(x[:d], p, nDims, mode, 10000, factors)
					want1 := ropeRef(x[d:], p, nDims, mode, 10000, factors)
					rp.fill(cache, int32(p), d)
					rp.apply(x, 2, d, cache)
					for i := range d {
						// theta is advanced in float: the error grows with position and index
						tol := 2e-6 * (1 + float64(p)*float64(i)/8)
						if math.Abs(float64(x[i])-want0[i]) > tol || math.Abs(float64(x[d+i])-want1[i]) > tol {
							t.Fatalf("mode %d dims %d ff %v p %d [%d]: %g %g, want %g %g", mode, nDims, factors != nil, p, i, x[i], x[d+i], want0[i], want1[i])
						}
					}
				}
			}
		}
	}
}

func TestYarnRope(t *testing.T) {
	// YaRN (ggml rope_yarn): dimensions below corr_dims[0] extrapolate (theta unscaled), those
	// above corr_dims[1] interpolate (theta*freq_scale), and every value is scaled by mscale.
	const d, nOrig = 64, 4096
	freqScale := float32(0.25)
	attn := float32(1) // llama_context cancels ggml's mscale with 1/(1+0.1 ln s) and multiplies it back
	rp := newRope(d, ropeNeox, nOrig, 10000, freqScale, 1, attn, 32, 1, nil)
	cache := make([]float32, d)
	p := 300
	rp.fill(cache, int32(p), d)
	lo, hi := int(rp.corrDims[0]), int(rp.corrDims[1])
	if lo <= 0 || hi >= d/2 || lo >= hi {
		t.Fatalf("corr dims %v", rp.corrDims)
	}
	mscale := 1 + 0.1*math.Log(1/float64(freqScale))
	for i := range d / 2 {
		theta := float64(p) * math.Pow(10000, -2*float64(i)/d)
		var want float64
		switch {
		case i < lo:
			want = theta
		case i > hi:
			want = theta * float64(freqScale)
		default:
			continue
		}
		gc, gs := float64(cache[2*i]), float64(cache[2*i+1])
		if math.Abs(gc-math.Cos(want)*mscale) > 1e-4 || math.Abs(gs-math.Sin(want)*mscale) > 1e-4 {
			t.Fatalf("pair %d: cos/sin %g %g, want %g %g", i, gc, gs, math.Cos(want)*mscale, math.Sin(want)*mscale)
		}
	}
}
