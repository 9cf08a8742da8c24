package tokenizer

import (
	"strings"
	"sync"
	"testing"
	"unicode/utf8"
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
