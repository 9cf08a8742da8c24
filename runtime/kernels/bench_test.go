package kernels

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/ggufy/ggufy/gguf"
)

// Benchmarks of the kernels on their own. The comparisons with ggml in the same process are in
// ggml_bench_test.go (tag llamacpp). Keep runs short on shared machines:
//
//	go test -run '^$' -bench 'VecDot|MatMul' -benchtime 20x -count 3 ./runtime/kernels

const (
	benchN     = 4096 // values per row
	benchRows  = 64   // weight rows per VecDot iteration (they stay in cache)
	benchMRows = 4096 // weight rows of the MatMul benchmark
	benchCols  = 64   // activation columns of the MatMul benchmark
)

// benchImpls lists the implementations to benchmark: Go always, assembly where present.
func benchImpls(typ gguf.Type) []asmMode {
	modes := []asmMode{{"go", false}}
	if haveAsm && kernelTable[typ].fast != nil {
		modes = append(modes, asmMode{"asm", true})
	}
	return modes
}

func BenchmarkVecDot(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	for _, typ := range Types() {
		ws, as, _ := RowSizes(typ, benchN)
		w := randWeights(r, typ, benchN, benchRows, scaleNormal)
		a := randActRows(r, typ, benchN, 1, scaleNormal)
		for _, impl := range benchImpls(typ) {
			b.Run(typ.String()+"/"+impl.name, func(b *testing.B) {
				defer impl.set()()
				b.SetBytes(int64(ws * benchRows))
				var sink float32
				for b.Loop() {
					for row := 0; row < benchRows; row++ {
						sink += VecDot(typ, benchN, w[row*ws:(row+1)*ws], a[:as])
					}
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*benchRows), "ns/row")
				if sink != sink && typ != gguf.TypeMXFP4 {
					b.Log("NaN result")
				}
			})
		}
	}
}

func BenchmarkQuantizeActivations(b *testing.B) {
	r := rand.New(rand.NewPCG(2, 2))
	src := make([]float32, benchN)
	for i := range src {
		src[i] = randFloat(r)
	}
	for _, wt := range []gguf.Type{gguf.TypeQ8_0, gguf.TypeQ4_1, gguf.TypeQ4_K, gguf.TypeF16, gguf.TypeBF16} {
		as, _ := ActivationRowSize(wt, benchN)
		dst := make([]byte, as)
		for _, impl := range benchImpls(gguf.TypeQ8_0) {
			act, _ := ActivationType(wt)
			b.Run(act.String()+"/"+impl.name, func(b *testing.B) {
				defer impl.set()()
				b.SetBytes(4 * benchN)
				for b.Loop() {
					if err := QuantizeActivations(wt, dst, src); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// matMulBench holds the inputs of a 4096×4096 × 64 product.
type matMulBench struct {
	w   Matrix
	src []float32 // ncols float activation rows
	act []byte
	dst []float32
}

func newMatMulBench(r *rand.Rand, typ gguf.Type) *matMulBench {
	m := &matMulBench{
		w:   Matrix{Type: typ, Rows: benchMRows, Cols: benchN, Data: randWeights(r, typ, benchN, benchMRows, scaleNormal)},
		src: make([]float32, benchN*benchCols),
		dst: make([]float32, benchMRows*benchCols),
	}
	for i := range m.src {
		m.src[i] = randFloat(r)
	}
	as, _ := ActivationRowSize(typ, benchN)
	m.act = make([]byte, as*benchCols)
	return m
}

// run quantizes the activations and multiplies, as a forward pass does.
func (m *matMulBench) run(pool *Pool) error {
	if err := QuantizeBatch(pool, m.w.Type, m.act, m.src, benchCols); err != nil {
		return err
	}
	return MatMul(pool, m.dst, m.w, m.act, benchCols)
}

func BenchmarkMatMul(b *testing.B) {
	r := rand.New(rand.NewPCG(3, 3))
	for _, typ := range Types() {
		m := newMatMulBench(r, typ)
		for _, threads := range []int{1, 2} {
			for _, impl := range benchImpls(typ) {
				b.Run(fmt.Sprintf("%s/%s/threads=%d", typ, impl.name, threads), func(b *testing.B) {
					defer impl.set()()
					pool := NewPool(threads)
					defer pool.Close()
					b.SetBytes(int64(len(m.w.Data)))
					for b.Loop() {
						if err := m.run(pool); err != nil {
							b.Fatal(err)
						}
					}
					ops := 2.0 * benchMRows * benchN * benchCols * float64(b.N)
					b.ReportMetric(ops/float64(b.Elapsed().Nanoseconds()), "Gop/s")
				})
			}
		}
	}
}
