//go:build llamacpp

package tokenizer

import (
	"path/filepath"
	"testing"

	"github.com/ggufy/ggufy/internal/llamacpp"
)

// BenchmarkEncodeVsLlamaCpp tokenizes tiny-trained-eval-small.txt with full-size vocabularies,
// ours and llama.cpp's (llama_tokenize through cgo) in the same process: compare the
// tokens/s of each pair.
func BenchmarkEncodeVsLlamaCpp(b *testing.B) {
	text := benchText(b)
	for _, name := range []string{"llama-spm", "llama-bpe", "qwen2", "gemma-4", "deepseek-coder", "command-r"} {
		path := filepath.Join(vocabDir(b), "ggml-vocab-"+name+".gguf")
		tok := loadVocab(b, path)
		b.Run(name+"/ggufy", func(b *testing.B) { benchEncode(b, tok, text) })
		ref, err := llamacpp.LoadModel(path, llamacpp.ModelOptions{VocabOnly: true})
		if err != nil {
			b.Fatal(err)
		}
		b.Run(name+"/llama.cpp", func(b *testing.B) {
			ids, err := ref.Tokenize(text, true, false)
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(len(text)))
			b.ResetTimer()
			for range b.N {
				if _, err := ref.Tokenize(text, true, false); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(ids))*float64(b.N)/b.Elapsed().Seconds(), "tokens/s")
		})
		ref.Close()
	}
}
