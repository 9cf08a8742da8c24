package tokenizer

import (
	"os"
	"testing"
)

func benchText(b *testing.B) string {
	t, err := os.ReadFile("../testdata/text/tiny-trained-eval-small.txt")
	if err != nil {
		b.Fatal(err)
	}
	return string(t)
}

func benchEncode(b *testing.B, tok *Tokenizer, text string) {
	b.Helper()
	n := len(tok.Encode(text, true, false))
	b.SetBytes(int64(len(text)))
	b.ResetTimer()
	var out []int32
	for range b.N {
		out = tok.AppendEncode(out[:0], text, true, false)
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "tokens/s")
}

// BenchmarkEncode measures Encode on testdata/text/tiny-trained-eval-small.txt (43 KB of English
// stories) with the committed vocabularies: SPM (tiny-trained's 4096 pieces), BPE with the
// hand-written llama3 and qwen2 splitters, BPE with the std::regex emulation (deepseek-coder),
// SPM-style BPE (gemma-4), and the tokenizer.json / tokenizer.model engines.
func BenchmarkEncode(b *testing.B) {
	text := benchText(b)
	g := readGoldens(b)
	for _, name := range []string{"tiny-trained-spm", "llama-bpe", "qwen2", "deepseek-coder", "gemma-4"} {
		tok := openGoldenVocab(b, g[name])
		b.Run("gguf/"+name, func(b *testing.B) { benchEncode(b, tok, text) })
	}
	hf, err := FromHF("testdata/hf/tiny")
	if err != nil {
		b.Fatal(err)
	}
	b.Run("hf/tiny", func(b *testing.B) { benchEncode(b, hf, text) })
	sp, err := FromSentencePiece("../testdata/models/tiny-trained/tokenizer.model")
	if err != nil {
		b.Fatal(err)
	}
	b.Run("sentencepiece/tiny-trained", func(b *testing.B) { benchEncode(b, sp, text) })
}
