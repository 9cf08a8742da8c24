package kernels

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestVExp compares the assembly softmax exponentials and SwiGLU with the pure-Go lanes (bit
// for bit), and the polynomial with exp.
func TestVExp(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{0, 3, 8, 64, 67, 1000} {
		x := make([]float32, n)
		g := make([]float32, n)
		for i := range x {
			x[i] = float32(r.NormFloat64() * 30)
			g[i] = float32(r.NormFloat64())
		}
		if n > 5 {
			x[1], x[2], x[3], x[4], x[5] = float32(math.Inf(-1)), -150, 95, -100, 88
		}
		var ys [2][]float32
		var sums [2]float64
		var sw [2][]float32
		for m, asm := range []bool{false, true} {
			if asm && !haveAsm {
				continue
			}
			old := useAsm
			useAsm = asm
			ys[m] = make([]float32, n)
			sums[m] = SoftMaxExp(ys[m], x, 3)
			sw[m] = make([]float32, n)
			SwiGLU(sw[m], x, g)
			useAsm = old
		}
		for i, v := range x {
			want := math.Exp(float64(v - 3))
			if got := float64(ys[0][i]); math.Abs(got-want) > 2.5e-7*want && !(want < 1e-38 && got < 1e-38) && want < math.MaxFloat32 {
				t.Fatalf("exp(%g-3) = %g, want %g", v, got, want)
			}
		}
		if !haveAsm {
			continue
		}
		for i := range x {
			if math.Float32bits(ys[0][i]) != math.Float32bits(ys[1][i]) {
				t.Fatalf("n=%d: softmax exp of %g: Go %g, asm %g", n, x[i], ys[0][i], ys[1][i])
			}
			if math.Float32bits(sw[0][i]) != math.Float32bits(sw[1][i]) && !(math.IsNaN(float64(sw[0][i])) && math.IsNaN(float64(sw[1][i]))) {
				t.Fatalf("n=%d: swiglu of %g: Go %g, asm %g", n, x[i], sw[0][i], sw[1][i])
			}
		}
		if sums[0] != sums[1] {
			t.Fatalf("n=%d: sums %g (Go) and %g (asm)", n, sums[0], sums[1])
		}
	}
}

func BenchmarkSoftMaxExp(b *testing.B) {
	x := make([]float32, 1024)
	y := make([]float32, 1024)
	for i := range x {
		x[i] = float32(i%37) * -0.3
	}
	b.SetBytes(4 * int64(len(x)))
	for range b.N {
		SoftMaxExp(y, x, 0)
	}
}
