//go:build llamacpp

package kernels

// Speed against ggml's CPU backend in the same process, interleaved so that the noise of a
// shared machine hits both alike. Each iteration runs ours and ggml's once; the metrics are the
// fastest iteration of each (the least disturbed by other tenants) and "speed" = ggml's time /
// our time from those (above 1: faster than ggml), plus "speed-med" from the medians.
//
//	eval "$(scripts/llamacpp.sh)"
//	go test -tags llamacpp -run '^$' -bench VsGGML -benchtime 5x ./runtime/kernels

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/ggufy/ggufy/gguf"
	"github.com/ggufy/ggufy/internal/llamacpp"
)

// BenchmarkVecDotVsGGML times one activation row against 64 weight rows of 4096 values (in
// cache): our VecDot (assembly where there is one) against ggml's vec_dot looped in C.
func BenchmarkVecDotVsGGML(b *testing.B) {
	r := rand.New(rand.NewPCG(4, 4))
	for _, typ := range Types() {
		ws, as, _ := RowSizes(typ, benchN)
		w := randWeights(r, typ, benchN, benchRows, scaleNormal)
		a := randActRows(r, typ, benchN, 1, scaleNormal)
		b.Run(typ.String(), func(b *testing.B) {
			out := make([]float32, benchRows)
			var tm pairTimes
			for b.Loop() {
				t0 := time.Now()
				for row := 0; row < benchRows; row++ {
					out[row] = VecDot(typ, benchN, w[row*ws:(row+1)*ws], a[:as])
				}
				ours := time.Since(t0)
				d, err := llamacpp.CPUVecDotRows(typ, benchN, benchRows, w, a, out, 1)
				if err != nil {
					b.Fatal(err)
				}
				tm.add(ours, d)
			}
			o, g := tm.min()
			b.ReportMetric(float64(o.Nanoseconds())/benchRows, "ns/row")
			b.ReportMetric(float64(g.Nanoseconds())/benchRows, "ggml-ns/row")
			b.ReportMetric(float64(ws*benchRows)/float64(o.Nanoseconds()), "GB/s")
			b.ReportMetric(float64(ws*benchRows)/float64(g.Nanoseconds()), "ggml-GB/s")
			tm.report(b)
		})
	}
}

// BenchmarkQuantizeVsGGML times quantizing one 4096-value activation row against ggml's
// from_float.
func BenchmarkQuantizeVsGGML(b *testing.B) {
	r := rand.New(rand.NewPCG(5, 5))
	src := make([]float32, benchN)
	for i := range src {
		src[i] = randFloat(r)
	}
	for _, wt := range []gguf.Type{gguf.TypeQ8_0, gguf.TypeQ4_1, gguf.TypeQ4_K, gguf.TypeF16, gguf.TypeBF16} {
		act, _ := ActivationType(wt)
		as, _ := ActivationRowSize(wt, benchN)
		dst := make([]byte, as)
		b.Run(act.String(), func(b *testing.B) {
			var tm pairTimes
			const reps = 16
			for b.Loop() {
				t0 := time.Now()
				for range reps {
					if err := QuantizeActivations(wt, dst, src); err != nil {
						b.Fatal(err)
					}
				}
				ours := time.Since(t0)
				d, err := llamacpp.CPUFromFloatTime(act, src, dst, reps)
				if err != nil {
					b.Fatal(err)
				}
				tm.add(ours, d)
			}
			o, g := tm.min()
			b.ReportMetric(float64(o.Nanoseconds())/reps, "ns/row")
			b.ReportMetric(float64(g.Nanoseconds())/reps, "ggml-ns/row")
			tm.report(b)
		})
	}
}

// BenchmarkMatMulVsGGML times a 4096×4096 weight matrix times 64 float activation columns,
// activations quantized inside the timing on both sides: our QuantizeBatch+MatMul against
// ggml's graph mul_mat (llamafile sgemm for f32/f16/bf16/q8_0/q4_0/q5_0/iq4_nl, vec_dot chunks
// for the rest; weights in a plain CPU buffer, not repacked).
func BenchmarkMatMulVsGGML(b *testing.B) {
	benchMatMulVsGGML(b, Types(), false)
}

// BenchmarkMatMulVsGGMLRepacked compares with ggml's interleaved ("repacked") weights, which
// llama.cpp uses by default on the CPU for q4_0, q4_K, iq4_nl and mxfp4 on AVX2 machines.
func BenchmarkMatMulVsGGMLRepacked(b *testing.B) {
	benchMatMulVsGGML(b, llamacpp.RepackTypes, true)
}

func benchMatMulVsGGML(b *testing.B, types []gguf.Type, repack bool) {
	r := rand.New(rand.NewPCG(6, 6))
	for _, typ := range types {
		m := newMatMulBench(r, typ)
		newMulMat := llamacpp.NewMulMat
		if repack {
			newMulMat = llamacpp.NewMulMatRepacked
		}
		g, err := newMulMat(typ, benchMRows, benchN, benchCols, m.w.Data, m.src)
		if err != nil {
			b.Fatal(err)
		}
		for _, threads := range []int{1, 2} {
			b.Run(fmt.Sprintf("%s/threads=%d", typ, threads), func(b *testing.B) {
				pool := NewPool(threads)
				defer pool.Close()
				// One thread: CPU time of this OS thread (ggml runs a one-thread graph on the
				// caller), which other tenants of the machine do not inflate. Two threads: wall time.
				if threads == 1 {
					runtime.LockOSThread()
					defer runtime.UnlockOSThread()
				}
				clock := time.Now
				since := time.Since
				if threads == 1 {
					cpu0 := llamacpp.ThreadCPUTime()
					clock = func() time.Time { return time.Time{}.Add(llamacpp.ThreadCPUTime() - cpu0) }
					since = func(t time.Time) time.Duration { return clock().Sub(t) }
				}
				var tm pairTimes
				for b.Loop() {
					t0 := clock()
					if err := m.run(pool); err != nil {
						b.Fatal(err)
					}
					ours := since(t0)
					t1 := clock()
					if _, err := g.Run(threads, 1); err != nil {
						b.Fatal(err)
					}
					tm.add(ours, since(t1))
				}
				o, gg := tm.min()
				b.ReportMetric(float64(o.Microseconds())/1000, "ms")
				b.ReportMetric(float64(gg.Microseconds())/1000, "ggml-ms")
				tm.report(b)
			})
		}
		// the two must agree up to float summation order: same activations, same numerics
		want := g.Out()
		g.Free()
		var scale, worst float32
		for _, v := range want {
			scale = max(scale, abs32(v))
		}
		for i, v := range m.dst {
			worst = max(worst, abs32(v-want[i]))
		}
		b.Logf("%s: largest difference from ggml %.3g of the largest output", typ, worst/scale)
		if worst > 1e-5*scale {
			b.Errorf("%s: outputs differ from ggml by up to %g (largest output %g)", typ, worst, scale)
		}
	}
}

// pairTimes collects the per-iteration times of ours and ggml's.
type pairTimes struct{ ours, theirs []time.Duration }

func (p *pairTimes) add(ours, theirs time.Duration) {
	p.ours = append(p.ours, ours)
	p.theirs = append(p.theirs, theirs)
}

func (p *pairTimes) min() (ours, theirs time.Duration) {
	return slices.Min(p.ours), slices.Min(p.theirs)
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

// report adds speed (from the fastest iterations) and speed-med (from the medians).
func (p *pairTimes) report(b *testing.B) {
	o, g := p.min()
	b.ReportMetric(float64(g)/float64(o), "speed")
	b.ReportMetric(float64(median(p.theirs))/float64(median(p.ours)), "speed-med")
}

func abs32(x float32) float32 {
	if x < 0 {
		return -x
	}
	return x
}
