//go:build llamacpp

package runtime

// Prompt-processing speed of `ggufy ppl` against llama-perplexity, same machine, same threads,
// same GGUF, in one run:
//
//	eval "$(scripts/llamacpp.sh 2>/dev/null)"
//	go test -tags llamacpp ./runtime -run '^$' -bench PromptProcessing -benchtime 1x
//
// The model is a synthetic llama (1024 wide, 8 layers, GQA 16/8 heads, FFN 2816, the 4096-token
// vocabulary of tiny-trained, 102M parameters) written once per test binary, quantized with
// ggufy to F16, Q8_0 and Q4_K_M. Each benchmark evaluates two 512-token chunks with both
// programs and reports tokens/s of each and their ratio (ggufy/llama.cpp). Both use
// $GGUFY_BENCH_THREADS threads (default: all cores).

import (
	"context"
	"os"
	goruntime "runtime"
	"strconv"
	"testing"
	"time"

	"github.com/ggufy/ggufy/internal/llamacpp"
)

func benchPP(b *testing.B, typ string) {
	initLlama(b)
	path := benchFile(b, typ)
	text := readText(b, evalText)
	threads := goruntime.NumCPU()
	if n, err := strconv.Atoi(os.Getenv("GGUFY_BENCH_THREADS")); err == nil && n > 0 {
		threads = n
	}
	m := load(b, path)
	lm := llamaModel(b, path)
	tokens := float64(benchCtx * benchChunks)
	var ours, theirs time.Duration
	b.ResetTimer()
	for range b.N {
		t0 := time.Now()
		if _, err := Perplexity(context.Background(), m, text, nil, WithCtx(benchCtx), WithChunks(benchChunks), WithThreads(threads)); err != nil {
			b.Fatal(err)
		}
		ours += time.Since(t0)
		t0 = time.Now()
		if _, err := lm.Perplexity(text, llamacpp.PPLOptions{NCtx: benchCtx, Chunks: benchChunks, Threads: threads}); err != nil {
			b.Fatal(err)
		}
		theirs += time.Since(t0)
	}
	b.StopTimer()
	n := float64(b.N)
	b.ReportMetric(tokens*n/ours.Seconds(), "ggufy_tok/s")
	b.ReportMetric(tokens*n/theirs.Seconds(), "llamacpp_tok/s")
	b.ReportMetric(theirs.Seconds()/ours.Seconds(), "ratio")
}

func BenchmarkPromptProcessingF16(b *testing.B)    { benchPP(b, "F16") }
func BenchmarkPromptProcessingQ8_0(b *testing.B)   { benchPP(b, "Q8_0") }
func BenchmarkPromptProcessingQ4_K_M(b *testing.B) { benchPP(b, "Q4_K_M") }
