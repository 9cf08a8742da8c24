package quantize

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/ggufy/ggufy/internal/half"
)

func TestCInt32(t *testing.T) {
	for _, c := range []struct {
		f    float32
		want int32
	}{
		{0, 0}, {1.9, 1}, {-1.9, -1}, {8.5, 8}, {2147483520, 2147483520}, {-2147483648, math.MinInt32},
		{2147483648, math.MinInt32}, {-2147483904, math.MinInt32}, {1e30, math.MinInt32},
		{float32(math.Inf(1)), math.MinInt32}, {float32(math.Inf(-1)), math.MinInt32},
		{float32(math.NaN()), math.MinInt32},
	} {
		if got := cInt32(c.f); got != c.want {
			t.Errorf("cInt32(%g) = %d, want %d", c.f, got, c.want)
		}
	}
}

func TestNearestInt(t *testing.T) {
	for _, c := range []struct {
		f    float32
		want int
	}{{0.5, 0}, {1.5, 2}, {2.5, 2}, {-0.5, 0}, {-1.5, -2}, {-2.5, -2}, {0.49999997, 0}, {4194303, 4194303}, {-7.25, -7}} {
		if got := nearestInt(c.f); got != c.want {
			t.Errorf("nearestInt(%g) = %d, want %d", c.f, got, c.want)
		}
	}
}

// TestF32ToF16 compares the branch-free ggml conversion with internal/half on random bit patterns
// and the edges (the exhaustive comparison of all 2^32 inputs takes a minute; it was run once).
func TestF32ToF16(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	check := func(u uint32) {
		f := math.Float32frombits(u)
		got := f32ToF16(f)
		if f != f {
			if want := uint16(u>>16)&0x8000 | 0x7e00; got != want {
				t.Fatalf("f32ToF16(%#08x) = %#04x, want %#04x", u, got, want)
			}
			return
		}
		if want := half.F32ToF16(f); got != want {
			t.Fatalf("f32ToF16(%#08x) = %#04x, want %#04x", u, got, want)
		}
	}
	for _, u := range []uint32{0, 0x80000000, 0x7f800000, 0xff800000, 0x7f800001, 0xffc00000, 0x477fefff,
		0x477ff000, 0x33000000, 0x33000001, 0x387fc000, 0x38800000, 0x7f7fffff, 1} {
		check(u)
	}
	for i := 0; i < 1<<20; i++ {
		check(r.Uint32())
	}
	for u := uint32(0x33000000); u < 0x47800000; u += 97 { // every fp16 range, densely
		check(u)
		check(u | 0x80000000)
	}
}

func TestBestIndexFP4(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	var scales []float32
	for e := 0; e < 256; e++ {
		scales = append(scales, e8m0Half(uint8(e)))
	}
	scales = append(scales, ue4m3Half[:]...)
	specials := []float32{0, float32(math.Copysign(0, -1)), float32(math.NaN()), float32(math.Inf(1)),
		float32(math.Inf(-1)), math.MaxFloat32, math.SmallestNonzeroFloat32}
	for _, e := range scales {
		g := newFP4Grid(e)
		xs := append([]float32(nil), specials...)
		for k := -12; k <= 12; k++ {
			g := float32(k) * e
			xs = append(xs, g, float32(k)*e+e/2, float32(k)*e-e/2, math.Nextafter32(g, 1e38), math.Nextafter32(g, -1e38))
		}
		for i := 0; i < 64; i++ {
			xs = append(xs, float32(r.NormFloat64())*e*6, float32(r.NormFloat64()*math.Ldexp(1, r.IntN(300)-150)))
		}
		for _, x := range xs {
			if got, want := bestIndexFP4(x, &g), bestIndexFP4Scan(x, e); got != want {
				t.Fatalf("bestIndexFP4(%g, %g) = %d, want %d", x, e, got, want)
			}
		}
	}
}

func TestBestIndexIQ4(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	xs := []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1)), 0,
		float32(math.Copysign(0, -1)), 1e30, -1e30}
	for k := -130; k <= 130; k++ {
		xs = append(xs, float32(k), float32(k)+0.5, float32(k)-0.5, math.Nextafter32(float32(k)+0.5, 1e9))
	}
	for i := 0; i < 100000; i++ {
		xs = append(xs, float32(r.NormFloat64()*80))
	}
	for _, x := range xs {
		if got, want := bestIndexIQ4(x), bestIndexInt8(kvaluesIQ4NL[:], x); got != want {
			t.Fatalf("bestIndexIQ4(%g) = %d, want %d", x, got, want)
		}
	}
}

func TestRoundInt32(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	check := func(f float32) {
		if got, want := roundInt32(f), cInt32(roundf(f)); got != want {
			t.Fatalf("roundInt32(%g) = %d, want %d", f, got, want)
		}
	}
	for _, f := range []float32{0, 0.5, -0.5, 1.5, -1.5, 2.5, 0.49999997, -0.49999997, 127.5, -128.5,
		8388607.5, 8388608, 2147483520, 2147483648, -2147483648, -2147483904, 1e30,
		float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1)), math.SmallestNonzeroFloat32} {
		check(f)
		check(-f)
	}
	for i := 0; i < 1<<20; i++ {
		check(math.Float32frombits(r.Uint32()))
		check(float32(r.NormFloat64() * 100))
	}
}

func TestLroundf(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	ref := func(f float32) int64 {
		if f > -9223372036854775808 && f < 9223372036854775808 {
			return int64(math.Round(float64(f)))
		}
		return math.MinInt64
	}
	for _, f := range []float32{0, 0.5, -0.5, 2.5, 0.49999997, 2147483520, 2147483648, -2147483648,
		1e18, 9.2233715e18, 1e30, float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1))} {
		for _, v := range []float32{f, -f} {
			if got, want := lroundf(v), ref(v); got != want {
				t.Fatalf("lroundf(%g) = %d, want %d", v, got, want)
			}
		}
	}
	for i := 0; i < 1<<18; i++ {
		v := math.Float32frombits(r.Uint32())
		if got, want := lroundf(v), ref(v); got != want {
			t.Fatalf("lroundf(%g) = %d, want %d", v, got, want)
		}
	}
}

func TestAbsMax(t *testing.T) {
	ref := func(x []float32) float32 {
		var amax float32
		for _, v := range x {
			amax = func(a, b float32) float32 {
				if a > b {
					return a
				}
				return b
			}(amax, absf(v))
		}
		return amax
	}
	r := rand.New(rand.NewPCG(11, 12))
	nan, inf := float32(math.NaN()), float32(math.Inf(1))
	for k := 0; k < 20000; k++ {
		x := make([]float32, 1+r.IntN(40))
		for i := range x {
			switch r.IntN(12) {
			case 0:
				x[i] = nan
			case 1:
				x[i] = -inf
			case 2:
				x[i] = float32(math.Copysign(0, -1))
			default:
				x[i] = float32(r.NormFloat64())
			}
		}
		if got, want := absMax(x), ref(x); math.Float32bits(got) != math.Float32bits(want) {
			t.Fatalf("absMax(%v) = %g, want %g", x, got, want)
		}
	}
}

func TestBlockMinMax(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	negZero := float32(math.Copysign(0, -1))
	for k := 0; k < 20000; k++ {
		x := make([]float32, 32)
		for i := range x {
			switch r.IntN(10) {
			case 0:
				x[i] = float32(math.NaN())
			case 1:
				x[i] = negZero
			case 2:
				x[i] = 0
			case 3:
				x[i] = float32(math.Inf(1 - 2*r.IntN(2)))
			default:
				x[i] = float32(r.NormFloat64())
			}
		}
		if k%3 == 0 { // mostly one sign, so that a zero (of either sign) is the extreme
			for i := range x {
				if x[i] != 0 {
					x[i] = absf(x[i])
				}
			}
		}
		lo, hi := float32Max, -float32Max
		for _, v := range x {
			if v < lo {
				lo = v
			}
			if v > hi {
				hi = v
			}
		}
		gl, gh := blockMinMax(x)
		if math.Float32bits(gl) != math.Float32bits(lo) || math.Float32bits(gh) != math.Float32bits(hi) {
			t.Fatalf("blockMinMax(%v) = %g, %g, want %g, %g", x, gl, gh, lo, hi)
		}
	}
}
