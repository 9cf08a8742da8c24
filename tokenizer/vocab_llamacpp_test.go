//go:build llamacpp

package tokenizer

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/ggufy/ggufy/gguf"
)

// readVocabSuite reads llama.cpp's tokenizer test files the way tests/test-tokenizer-0.cpp does:
// texts separated by "\n__ggml_vocab_test__\n", one line of space-separated ids per text.
func readVocabSuite(t *testing.T, inp string) ([]string, [][]int32) {
	t.Helper()
	raw, err := os.ReadFile(inp)
	if err != nil {
		t.Fatal(err)
	}
	outRaw, err := os.ReadFile(strings.TrimSuffix(inp, ".inp") + ".out")
	if err != nil {
		t.Fatal(err)
	}
	const sep = "\n__ggml_vocab_test__\n"
	var texts []string
	s := string(raw)
	for pos := 0; pos < len(s); {
		next := strings.Index(s[pos:], sep)
		if next < 0 {
			texts = append(texts, s[pos:])
			break
		}
		texts = append(texts, s[pos:pos+next])
		pos += next + len(sep)
	}
	lines := strings.Split(string(outRaw), "\n")
	if len(lines) > 0 && lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	if len(lines) != len(texts) {
		t.Fatalf("%s: %d texts, %d expected outputs", inp, len(texts), len(lines))
	}
	ids := make([][]int32, len(lines))
	for i, l := range lines {
		for _, f := range strings.Fields(l) {
			v, err := strconv.Atoi(f)
			if err != nil {
				t.Fatalf("%s line %d: %v", inp, i+1, err)
			}
			ids[i] = append(ids[i], int32(v))
		}
	}
	return texts, ids
}

func vocabDir(t testing.TB) string {
	dir := os.Getenv("GGUFY_LLAMACPP_VOCAB")
	if dir == "" {
		t.Fatal(`GGUFY_LLAMACPP_VOCAB is not set: eval "$(scripts/llamacpp.sh)"`)
	}
	return dir
}

func loadVocab(t testing.TB, path string) *Tokenizer {
	t.Helper()
	f, err := gguf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tok, err := FromGGUF(f.Meta)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// TestVocabSuites runs llama.cpp's own tokenizer tests (tests/test-tokenizer-0.cpp: add_special
// false, parse_special false) on every vocabulary that has them.
func TestVocabSuites(t *testing.T) {
	inps, _ := filepath.Glob(filepath.Join(vocabDir(t), "ggml-vocab-*.gguf.inp"))
	if len(inps) == 0 {
		t.Fatal("no ggml-vocab-*.gguf.inp files in GGUFY_LLAMACPP_VOCAB")
	}
	for _, inp := range inps {
		name := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(inp), "ggml-vocab-"), ".gguf.inp")
		t.Run(name, func(t *testing.T) {
			f, err := gguf.Open(strings.TrimSuffix(inp, ".inp"))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			tok, err := FromGGUF(f.Meta)
			if err != nil {
				t.Fatal(err)
			}
			texts, want := readVocabSuite(t, inp)
			nIDs, bad := 0, 0
			for i, text := range texts {
				got := tok.Encode(text, false, false)
				nIDs += len(want[i])
				if !equalIDs(got, want[i]) {
					bad++
					if bad <= 5 {
						t.Errorf("text %d %q:\n got  %v\n want %v", i, text, got, want[i])
					}
				}
			}
			if bad > 0 {
				t.Errorf("%d of %d texts differ", bad, len(texts))
			}
			t.Logf("%d texts, %d ids", len(texts), nIDs)
		})
	}
}
