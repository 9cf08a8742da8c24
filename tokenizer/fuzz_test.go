package tokenizer

import (
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/ggufy/ggufy/gguf"
)

var (
	fuzzOnce  sync.Once
	fuzzVocab map[string]*Tokenizer
)

func fuzzVocabs(t testing.TB) map[string]*Tokenizer {
	fuzzOnce.Do(func() {
		fuzzVocab = map[string]*Tokenizer{}
		for name, g := range readGoldens(t) {
			fuzzVocab[name] = openGoldenVocab(t, g)
		}
	})
	return fuzzVocab
}

func fuzzSeeds(f *testing.F) {
	for _, s := range []string{"", " ", "Hello world", " leading", "trailing  ", "a\nb\r\n\tc", "<s>x</s>", "<|im_start|>user\n<|im_end|>",
		"'s 'LL 123456 3.14", "日本語 한국어 🙂👍🏽", "\xff\xfe\xc3", "\u2581x", "e\u0301", "<0x41>", "<unk>", "  \n\n  "} {
		f.Add(s)
	}
	f.Add(multilingual(f))
}

// FuzzEncode: FromGGUF tokenizers (SPM and BPE) never panic and produce ids in range, and
// llama.cpp's detokenization gives the text back where llama.cpp's tokenizers are lossless:
// valid UTF-8, no literal ▁ for the vocabularies that escape spaces with it, and no clean-up of
// spaces on decode.
func FuzzEncode(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, s string) {
		for name, tok := range fuzzVocabs(t) {
			for _, flags := range [][2]bool{{false, false}, {true, true}} {
				ids := tok.Encode(s, flags[0], flags[1])
				for _, id := range ids {
					if id < 0 || int(id) >= tok.NumTokens() {
						t.Fatalf("%s: id %d out of range", name, id)
					}
				}
			}
			lv := tok.eng.(*llamaVocab)
			if !utf8.ValidString(s) || lv.cleanSpaces || (lv.kind == kindSPM || lv.escapeWS) && strings.Contains(s, "\u2581") {
				continue
			}
			if got := tok.Detokenize(tok.Encode(s, false, false), false, false); got != s {
				t.Fatalf("%s: Decode(Encode(%q)) = %q", name, s, got)
			}
		}
	})
}

// FuzzEncodeHF: the tokenizer.json and tokenizer.model engines never panic.
func FuzzEncodeHF(f *testing.F) {
	fuzzSeeds(f)
	hf, err := FromHF("testdata/hf/tiny")
	if err != nil {
		f.Fatal(err)
	}
	sp, err := FromSentencePiece("../testdata/models/tiny-trained/tokenizer.model")
	if err != nil {
		f.Fatal(err)
	}
	hfsp, err := FromHF("../testdata/families/llama2")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, tok := range []*Tokenizer{hf, sp, hfsp} {
			for _, flags := range [][2]bool{{false, false}, {true, true}} {
				ids := tok.Encode(s, flags[0], flags[1])
				for _, id := range ids {
					if id < 0 || int(id) >= tok.NumTokens() {
						t.Fatalf("id %d out of range", id)
					}
				}
				tok.Decode(ids)
			}
		}
	})
}

// FuzzFromGGUF builds small vocabularies from the input (tokens, types, merges, model and
// pre-tokenizer chosen by its bytes) and tokenizes the input with them: FromGGUF may refuse a
// vocabulary but never panics, and Encode/Detokenize never panic.
func FuzzFromGGUF(f *testing.F) {
	f.Add([]byte("\x01a\x00b\x00ab\x00<s>\x00</s>\x00<0x41>\x00\xe2\x96\x81\x00 \x00hello world <s>"))
	f.Add([]byte("\x02\x05<|im_end|>\x00\xc4\xa0\x00h\x00e\x00he\x00\x00\x00 hi<|im_end|>\n\n12345"))
	f.Add([]byte("\x03\x07[CLS]\x00[SEP]\x00[UNK]\x00\xe2\x96\x81hello\x00##x\x00Hello, World!"))
	pres := []string{"", "default", "llama-bpe", "qwen2", "qwen35", "gpt-2", "deepseek-llm", "deepseek-coder", "falcon",
		"starcoder", "command-r", "gemma4", "tekken", "chameleon", "bloom", "superbpe", "afmoe", "exaone-moe", "bogus"}
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) < 2 {
			return
		}
		model := []string{"llama", "gpt2", "gemma4", "bert"}[int(b[0])%4]
		pre := pres[int(b[1])%len(pres)]
		parts := strings.Split(string(b[2:]), "\x00")
		toks, text := parts[:len(parts)-1], parts[len(parts)-1]
		if len(toks) > 64 {
			toks = toks[:64]
		}
		types := make([]int32, len(toks))
		scores := make([]float32, len(toks))
		var merges []string
		for i := range toks {
			types[i] = int32(i*7+len(toks[i])) % 8
			scores[i] = float32(-i)
			if i > 0 {
				merges = append(merges, toks[i-1]+" "+toks[i])
			}
		}
		md := gguf.NewMetadata()
		md.Set(kvModel, gguf.String(model))
		if pre != "" {
			md.Set(kvPre, gguf.String(pre))
		}
		md.Set(kvTokens, gguf.Strings(toks))
		md.Set(kvTokenType, gguf.Int32s(types))
		md.Set(kvScores, gguf.Float32s(scores))
		md.Set(kvMerges, gguf.Strings(merges))
		md.Set("tokenizer.ggml.bos_token_id", gguf.Uint32(uint32(len(text)%5)))
		tok, err := FromGGUF(md)
		if err != nil {
			return
		}
		for _, flags := range [][2]bool{{false, false}, {true, true}} {
			ids := tok.Encode(text, flags[0], flags[1])
			for _, id := range ids {
				if id < 0 || int(id) >= tok.NumTokens() {
					t.Fatalf("id %d out of range", id)
				}
			}
			tok.Detokenize(ids, flags[0], flags[1])
		}
	})
}
