//go:build llamacpp

package quantize

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"testing"
	"time"

	"github.com/ggufy/ggufy/gguf"
	"github.com/ggufy/ggufy/internal/llamacpp"
)

// TestIQGGMLRequiresImatrix checks needsImatrix against ggml_quantize_requires_imatrix.
func TestIQGGMLRequiresImatrix(t *testing.T) {
	for _, typ := range iqTypes {
		if got, want := RequiresImatrix(typ), llamacpp.RequiresImatrix(typ); got != want {
			t.Errorf("%s: RequiresImatrix = %v, ggml says %v", typ, got, want)
		}
	}
}

// iqFirstDiff names the first block where got and want differ.
func iqFirstDiff(typ gguf.Type, nPerRow int, got, want []byte) string {
	bsz := int(typ.TypeSize())
	blocksPerRow := nPerRow / iqQK
	for b := 0; b*bsz < len(got); b++ {
		g, w := got[b*bsz:(b+1)*bsz], want[b*bsz:(b+1)*bsz]
		if !bytes.Equal(g, w) {
			for i := range g {
				if g[i] != w[i] {
					return fmt.Sprintf("row %d block %d byte %d: got %#02x want %#02x\n got  %x\n want %x",
						b/blocksPerRow, b%blocksPerRow, i, g[i], w[i], g, w)
				}
			}
		}
	}
	return "no difference"
}

// TestIQGGMLIdentical quantizes every input with ggml_quantize_chunk and with Quantize, with and
// (where ggml allows it) without importance matrices, and requires identical bytes; then it
// decodes the bytes with ggml and with Dequantize and requires bit-identical floats.
func TestIQGGMLIdentical(t *testing.T) {
	for _, typ := range iqTypes {
		t.Run(typ.String(), func(t *testing.T) {
			rows, same, cases := 0, 0, 0
			for _, in := range iqTestInputs(t) {
				for _, im := range iqTestImatrices(in.nPerRow) {
					if im.w == nil && RequiresImatrix(typ) {
						continue
					}
					name := fmt.Sprintf("%s/n=%d/%s", in.name, in.nPerRow, im.name)
					nrows := len(in.src) / in.nPerRow
					want, err := llamacpp.QuantizeChunk(typ, in.src, nrows, in.nPerRow, im.w)
					if err != nil {
						t.Fatalf("%s: ggml: %v", name, err)
					}
					got := make([]byte, len(want))
					if err := Quantize(typ, got, in.src, in.nPerRow, im.w); err != nil {
						t.Fatalf("%s: %v", name, err)
					}
					cases++
					rows += nrows
					rowSize := len(want) / nrows
					for r := 0; r < nrows; r++ {
						if bytes.Equal(got[r*rowSize:(r+1)*rowSize], want[r*rowSize:(r+1)*rowSize]) {
							same++
						}
					}
					if !bytes.Equal(got, want) {
						t.Errorf("%s: encoding differs from ggml: %s", name, iqFirstDiff(typ, in.nPerRow, got, want))
						continue
					}
					iqCheckDecode(t, typ, name, want, len(in.src))
				}
			}
			t.Logf("%s: %d of %d rows identical to ggml (%d cases)", typ, same, rows, cases)
		})
	}
}

// iqCheckDecode decodes data with ggml and with Dequantize and requires bit-identical floats.
func iqCheckDecode(t *testing.T, typ gguf.Type, name string, data []byte, n int) {
	t.Helper()
	want, err := llamacpp.Dequantize(typ, data, n)
	if err != nil {
		t.Fatalf("%s: ggml dequantize: %v", name, err)
	}
	got := make([]float32, n)
	if err := Dequantize(typ, got, data); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	for i := range got {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			t.Errorf("%s: decoded value %d differs: got %g (%#08x) want %g (%#08x)", name, i,
				got[i], math.Float32bits(got[i]), want[i], math.Float32bits(want[i]))
			return
		}
	}
}

// TestIQGGMLDecodeRandomBytes decodes random blocks (any bit pattern, NaN and Inf scales
// included) with ggml and with Dequantize.
func TestIQGGMLDecodeRandomBytes(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for _, typ := range iqTypes {
		n := 64 * iqQK
		size, _ := typ.RowSize(int64(n))
		data := make([]byte, size)
		for i := range data {
			data[i] = byte(r.Uint32())
		}
		iqCheckDecode(t, typ, typ.String()+"/random-bytes", data, n)
	}
}

// BenchmarkQuantizeIQGGML measures ggml_quantize_chunk on the input of BenchmarkQuantizeIQ, so
// that one run gives both speeds (MB/s of float32 input).
func BenchmarkQuantizeIQGGML(b *testing.B) {
	src, im := iqBenchInput()
	for _, typ := range iqTypes {
		b.Run(typ.String(), func(b *testing.B) {
			// the first call builds ggml's lattice (ggml_quantize_init)
			if _, err := llamacpp.QuantizeChunk(typ, src, len(src)/iqBenchRow, iqBenchRow, im); err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(4 * len(src)))
			b.ResetTimer()
			for b.Loop() {
				if _, err := llamacpp.QuantizeChunk(typ, src, len(src)/iqBenchRow, iqBenchRow, im); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkQuantizeIQVsGGML alternates Quantize and ggml_quantize_chunk on the same input in
// every iteration, on one locked OS thread timed by its CPU clock, and reports both speeds (MB/s
// of float32 input per CPU second) and their ratio: what a shared, busy machine disturbs least.
func BenchmarkQuantizeIQVsGGML(b *testing.B) {
	src, im := iqBenchInput()
	for _, typ := range iqTypes {
		b.Run(typ.String(), func(b *testing.B) {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			size, _ := typ.RowSize(iqBenchRow)
			dst := make([]byte, int(size)*len(src)/iqBenchRow)
			nrows := len(src) / iqBenchRow
			if _, err := llamacpp.QuantizeChunk(typ, src, nrows, iqBenchRow, im); err != nil {
				b.Fatal(err)
			}
			if err := Quantize(typ, dst, src, iqBenchRow, im); err != nil {
				b.Fatal(err)
			}
			var ours, theirs time.Duration
			for b.Loop() {
				t0 := llamacpp.ThreadCPUTime()
				if err := Quantize(typ, dst, src, iqBenchRow, im); err != nil {
					b.Fatal(err)
				}
				t1 := llamacpp.ThreadCPUTime()
				if _, err := llamacpp.QuantizeChunk(typ, src, nrows, iqBenchRow, im); err != nil {
					b.Fatal(err)
				}
				t2 := llamacpp.ThreadCPUTime()
				ours += t1 - t0
				theirs += t2 - t1
			}
			iqReportRatio(b, 4*len(src), ours, theirs)
		})
	}
}

func iqReportRatio(b *testing.B, bytesPerOp int, ours, theirs time.Duration) {
	mb := float64(bytesPerOp*b.N) / 1e6
	b.ReportMetric(mb/ours.Seconds(), "MB/cpu-s")
	b.ReportMetric(mb/theirs.Seconds(), "ggml-MB/cpu-s")
	b.ReportMetric(theirs.Seconds()/ours.Seconds(), "speedup")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkDequantizeIQVsGGML alternates Dequantize and ggml's to_float on the same blocks as
// BenchmarkQuantizeIQVsGGML does (MB/s of float32 output per CPU second). The harness allocates
// ggml's output on every call, which its time includes.
func BenchmarkDequantizeIQVsGGML(b *testing.B) {
	src, im := iqBenchInput()
	for _, typ := range iqTypes {
		b.Run(typ.String(), func(b *testing.B) {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			q, err := llamacpp.QuantizeChunk(typ, src, len(src)/iqBenchRow, iqBenchRow, im)
			if err != nil {
				b.Fatal(err)
			}
			out := make([]float32, len(src))
			var ours, theirs time.Duration
			for b.Loop() {
				t0 := llamacpp.ThreadCPUTime()
				if err := Dequantize(typ, out, q); err != nil {
					b.Fatal(err)
				}
				t1 := llamacpp.ThreadCPUTime()
				if _, err := llamacpp.Dequantize(typ, q, len(src)); err != nil {
					b.Fatal(err)
				}
				t2 := llamacpp.ThreadCPUTime()
				ours += t1 - t0
				theirs += t2 - t1
			}
			iqReportRatio(b, 4*len(src), ours, theirs)
		})
	}
}
