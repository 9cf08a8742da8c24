package tokenizer

import (
	"encoding/json"
	"os"
	"strconv"
	"strings"
	"testing"
)

// hfGolden is testdata/hf/<name>/golden.json: tokenizers.js's ids for a small tokenizer.json
// (made by hfref_test.go's TestHFGoldens -update).
type hfGolden struct {
	Comment string   `json:"_comment"`
	Texts   []string `json:"texts"` // Go-quoted
	hfRef
}

func hfGoldenTexts(t testing.TB) []string {
	b, err := os.ReadFile("../testdata/text/multilingual.txt")
	if err != nil {
		t.Fatal(err)
	}
	texts := append([]string{string(b)}, strings.Split(string(b), "\n")...)
	inp, err := os.ReadFile("testdata/hfref/llamacpp-tests.inp")
	if err != nil {
		t.Fatal(err)
	}
	texts = append(texts, strings.Split(strings.TrimSuffix(string(inp), "\n__ggml_vocab_test__\n"), "\n__ggml_vocab_test__\n")...)
	return append(texts,
		"<|im_start|>user\n<tool>x</tool> [R]   hi   [L] café cafe\u0301<|im_end|>\n",
		"text [L]", "[R]", "  [L]  [R]  ", "<|endoftext|><|endoftext|>", "<s>hello</s> <unk>", "\u00e9\u0301 e\u0301\u0327",
		"123456789 1,234.5", "x\r\n\r\ny", "Ǆ ǅ ǆ ﬁ ｶ ①")
}

// hfRef is tokenizers.js's output (testdata/hfref/encode.cjs).
type hfRef struct {
	With    [][]int32 `json:"with_special"`
	Without [][]int32 `json:"without_special"`
	Decoded []string  `json:"decoded"`
}

var hfGoldenDirs = []string{"tiny", "tiny-spm"}

// TestHFGoldens checks FromHF on two small tokenizer.json files (a byte-level BPE with NFC, a
// Llama-3 Split regex, added tokens with lstrip/rstrip and a normalized one, a template; and a
// SentencePiece-style BPE with byte fallback) against tokenizers.js's ids.
func TestHFGoldens(t *testing.T) {
	for _, name := range hfGoldenDirs {
		t.Run(name, func(t *testing.T) {
			b, err := os.ReadFile("testdata/hf/" + name + "/golden.json")
			if err != nil {
				t.Fatal(err)
			}
			var g hfGolden
			if err := json.Unmarshal(b, &g); err != nil {
				t.Fatal(err)
			}
			tok, err := FromHF("testdata/hf/" + name)
			if err != nil {
				t.Fatal(err)
			}
			for i, q := range g.Texts {
				text, err := strconv.Unquote(q)
				if err != nil {
					t.Fatal(err)
				}
				if got := tok.Encode(text, true, true); !equalIDs(got, g.With[i]) {
					t.Errorf("Encode(%.50q, true):\n got  %v\n want %v", text, head(got), head(g.With[i]))
				}
				if got := tok.Encode(text, false, true); !equalIDs(got, g.Without[i]) {
					t.Errorf("Encode(%.50q, false):\n got  %v\n want %v", text, head(got), head(g.Without[i]))
				}
				if got := tok.Decode(g.With[i]); got != g.Decoded[i] {
					t.Errorf("Decode(%.50q) = %q, want %q", text, got, g.Decoded[i])
				}
			}
		})
	}
}

// TestHFSplitSpecial checks parseSpecial=false (split_special_tokens): special added tokens are
// tokenized as text, non-special ones still matched.
func TestHFSplitSpecial(t *testing.T) {
	tok, err := FromHF("testdata/hf/tiny")
	if err != nil {
		t.Fatal(err)
	}
	im, _ := tok.Lookup("<|im_start|>")
	tool, _ := tok.Lookup("<tool>")
	ids := tok.Encode("<|im_start|><tool>", false, false)
	if len(ids) < 3 || ids[0] == im || ids[len(ids)-1] != tool {
		t.Fatalf("Encode with parseSpecial=false = %v (im_start %d, tool %d)", ids, im, tool)
	}
	if got := tok.Decode(ids); got != "<|im_start|><tool>" {
		t.Errorf("decoded %q", got)
	}
}
