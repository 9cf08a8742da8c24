package runtime

// Benchmarks of the runtime alone (go test -bench . ./runtime). The comparison with llama.cpp in
// the same run is bench_llamacpp_test.go (build tag llamacpp).

import (
	"context"
	"encoding/binary"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ggufy/ggufy/convert"
	"github.com/ggufy/ggufy/gguf"
	"github.com/ggufy/ggufy/internal/half"
	"github.com/ggufy/ggufy/quantize"
)

var (
	quantMu   sync.Mutex
	quantized = map[string]string{}
)

// quantizeTo quantizes the GGUF src with ggufy's quantizer (llama-quantize's rules) to file type
// name, with im when given; results are cached for the test binary.
func quantizeTo(t testing.TB, src, name string, im *quantize.Imatrix, imPath string) string {
	t.Helper()
	p, err := tryQuantize(src, name, im, imPath)
	if err != nil {
		t.Fatalf("quantize %s to %s: %v", src, name, err)
	}
	return p
}

func tryQuantize(src, name string, im *quantize.Imatrix, imPath string) (string, error) {
	key := src + "|" + name + "|" + imPath
	quantMu.Lock()
	defer quantMu.Unlock()
	if p, ok := quantized[key]; ok {
		return p, nil
	}
	ft, err := quantize.ParseFileType(name)
	if err != nil {
		return "", err
	}
	tag := ""
	if imPath != "" {
		tag = ".imat"
	}
	out := filepath.Join(convertDir(), strings.TrimSuffix(filepath.Base(src), ".f32.gguf")+"."+name+tag+".gguf")
	opts := convert.QuantizeOptions{Params: quantize.DefaultParams(ft), Imatrix: im, ImatrixPath: imPath}
	if _, err := convert.QuantizeFile(context.Background(), src, out, opts); err != nil {
		return "", err
	}
	quantized[key] = out
	return out, nil
}

const (
	benchEmbd   = 1024
	benchLayers = 8
	benchHeads  = 16
	benchKV     = 8
	benchFF     = 2816
	benchCtx    = 512
	benchChunks = 2
)

// writeBenchModel writes the synthetic F16 llama GGUF (tokenizer from tiny-trained).
func writeBenchModel(path string) error {
	src, err := Load(tinyTrained)
	if err != nil {
		return err
	}
	defer src.Close()
	meta := gguf.NewMetadata()
	for _, kv := range src.Meta.KVs() {
		if strings.HasPrefix(kv.Key, "tokenizer.") || kv.Key == "general.architecture" {
			meta.Set(kv.Key, kv.Value)
		}
	}
	meta.Set("general.name", gguf.String("ggufy-bench"))
	meta.Set("general.file_type", gguf.Uint32(uint32(gguf.FileTypeMostlyF16)))
	meta.Set("llama.context_length", gguf.Uint32(2048))
	meta.Set("llama.embedding_length", gguf.Uint32(benchEmbd))
	meta.Set("llama.block_count", gguf.Uint32(benchLayers))
	meta.Set("llama.feed_forward_length", gguf.Uint32(benchFF))
	meta.Set("llama.attention.head_count", gguf.Uint32(benchHeads))
	meta.Set("llama.attention.head_count_kv", gguf.Uint32(benchKV))
	meta.Set("llama.rope.dimension_count", gguf.Uint32(benchEmbd/benchHeads))
	meta.Set("llama.rope.freq_base", gguf.Float32(10000))
	meta.Set("llama.attention.layer_norm_rms_epsilon", gguf.Float32(1e-5))
	meta.Set("general.quantization_version", gguf.Uint32(2))
	nv := src.NVocab()
	kvw := benchEmbd / benchHeads * benchKV
	type spec struct {
		name string
		dims []uint64
		norm bool
	}
	specs := []spec{{"token_embd.weight", []uint64{benchEmbd, uint64(nv)}, false}, {"output_norm.weight", []uint64{benchEmbd}, true},
		{"output.weight", []uint64{benchEmbd, uint64(nv)}, false}}
	for il := range benchLayers {
		specs = append(specs,
			spec{blk(il, "attn_norm.weight"), []uint64{benchEmbd}, true},
			spec{blk(il, "attn_q.weight"), []uint64{benchEmbd, benchEmbd}, false},
			spec{blk(il, "attn_k.weight"), []uint64{benchEmbd, uint64(kvw)}, false},
			spec{blk(il, "attn_v.weight"), []uint64{benchEmbd, uint64(kvw)}, false},
			spec{blk(il, "attn_output.weight"), []uint64{benchEmbd, benchEmbd}, false},
			spec{blk(il, "ffn_norm.weight"), []uint64{benchEmbd}, true},
			spec{blk(il, "ffn_gate.weight"), []uint64{benchEmbd, benchFF}, false},
			spec{blk(il, "ffn_up.weight"), []uint64{benchEmbd, benchFF}, false},
			spec{blk(il, "ffn_down.weight"), []uint64{benchFF, benchEmbd}, false})
	}
	var infos []gguf.TensorInfo
	for _, s := range specs {
		typ := gguf.TypeF16
		if s.norm {
			typ = gguf.TypeF32
		}
		infos = append(infos, gguf.TensorInfo{Name: s.name, Dims: s.dims, Type: typ})
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	w, err := gguf.NewWriter(f, meta, infos)
	if err != nil {
		return err
	}
	r := rand.New(rand.NewPCG(42, 43))
	for i, s := range specs {
		n := 1
		for _, d := range s.dims {
			n *= int(d)
		}
		var buf []byte
		if s.norm {
			buf = make([]byte, 4*n)
			for j := range n {
				binary.LittleEndian.PutUint32(buf[4*j:], math.Float32bits(float32(1+0.1*r.NormFloat64())))
			}
		} else {
			// std 1/sqrt(fan-in): activations keep their scale through the layers
			sd := 1 / math.Sqrt(float64(s.dims[0]))
			buf = make([]byte, 2*n)
			for j := range n {
				binary.LittleEndian.PutUint16(buf[2*j:], half.F32ToF16(float32(sd*r.NormFloat64())))
			}
		}
		if err := w.WriteTensor(infos[i].Name, buf); err != nil {
			return err
		}
	}
	return w.Close()
}

var benchModel = sync.OnceValues(func() (string, error) {
	p := filepath.Join(convertDir(), "bench.f16.gguf")
	return p, writeBenchModel(p)
})

func benchFile(b *testing.B, typ string) string {
	b.Helper()
	p, err := benchModel()
	if err != nil {
		b.Fatal(err)
	}
	if typ == "F16" {
		return p
	}
	return quantizeTo(b, p, typ, nil, "")
}

// benchPerplexity reports the prompt-processing speed of Perplexity (two chunks of 512 tokens)
// on the synthetic model at type typ.
func benchPerplexity(b *testing.B, typ string) {
	path := benchFile(b, typ)
	text := readText(b, evalText)
	m := load(b, path)
	b.ResetTimer()
	var el, cpu time.Duration
	for range b.N {
		t0, c0 := time.Now(), cpuTime()
		if _, err := Perplexity(context.Background(), m, text, nil, WithCtx(benchCtx), WithChunks(benchChunks)); err != nil {
			b.Fatal(err)
		}
		el += time.Since(t0)
		cpu += cpuTime() - c0
	}
	tokens := float64(benchCtx * benchChunks * b.N)
	b.ReportMetric(tokens/el.Seconds(), "tok/s")
	// CPU time is steadier than wall time on a shared machine
	b.ReportMetric(cpu.Seconds()*1e6/tokens, "cpu-µs/tok")
}

// cpuTime is the process's user plus system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func BenchmarkPerplexityF16(b *testing.B)    { benchPerplexity(b, "F16") }
func BenchmarkPerplexityQ8_0(b *testing.B)   { benchPerplexity(b, "Q8_0") }
func BenchmarkPerplexityQ4_K_M(b *testing.B) { benchPerplexity(b, "Q4_K_M") }

// BenchmarkDecode decodes one 128-token chunk of tiny-trained (a real 5M-parameter llama) with
// logits for its second half, as perplexity does; allocations are per chunk, none per token.
func BenchmarkDecode(b *testing.B) {
	m := load(b, tinyTrained)
	toks := m.Tokenizer.Encode(readText(b, evalText), true, false)[:128]
	s, err := m.NewSession(WithCtx(128))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	outs := make([]int, 63)
	for i := range outs {
		outs[i] = 64 + i
	}
	emit := func(int, []float32) error { return nil }
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		s.Reset()
		if err := s.Decode(toks, outs, emit); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(128*b.N)/b.Elapsed().Seconds(), "tok/s")
}
