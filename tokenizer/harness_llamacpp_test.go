//go:build llamacpp

package tokenizer

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ggufy/ggufy/gguf"
	"github.com/ggufy/ggufy/internal/llamacpp"
)

// harnessFiles are the vocabularies compared with real llama.cpp: all of llama.cpp's test
// vocabularies and our reference GGUF.
func harnessFiles(t *testing.T) []string {
	files, _ := filepath.Glob(filepath.Join(vocabDir(t), "ggml-vocab-*.gguf"))
	if len(files) == 0 {
		t.Fatal("no ggml-vocab-*.gguf in GGUFY_LLAMACPP_VOCAB")
	}
	return append(files, "../testdata/ref/stories260k.f32.gguf")
}

// harnessTexts are the whole files of testdata/text, each line of multilingual.txt, and a few
// edge cases.
func harnessTexts(t *testing.T) []string {
	files, _ := filepath.Glob("../testdata/text/*.txt")
	if len(files) == 0 {
		t.Fatal("no testdata/text/*.txt")
	}
	var texts []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		texts = append(texts, string(b))
		if filepath.Base(f) == "multilingual.txt" {
			texts = append(texts, strings.Split(string(b), "\n")...)
		}
	}
	return append(texts, "", " ", "  ", "\n", " \n ", "a", " a", "\xff\xfe invalid \xc3(", "\x00nul", "'s 'S 'll 'LL",
		"<s>", "</s>", "<unk>", "<|endoftext|>", "<|im_start|>user\nhi<|im_end|>\n")
}

// specialText builds texts around the vocabulary's control and user-defined tokens, to exercise
// the special-token partition (with lstrip/rstrip) and parse_special.
func specialText(tok *Tokenizer) []string {
	var specials []int32
	for id := range tok.NumTokens() {
		switch tok.Type(int32(id)) {
		case TypeControl, TypeUserDefined, TypeUnknown:
			specials = append(specials, int32(id))
		}
	}
	seps := []string{"", " ", "  ", "\n", " x ", "hello", "\t", " \n ", "'s", "12"}
	var b strings.Builder
	step := max(1, len(specials)/60)
	for i := 0; i < len(specials); i += step {
		p := tok.Token(specials[i])
		b.WriteString(seps[i%len(seps)])
		b.WriteString(p)
		if i%3 == 0 && len(p) > 2 {
			b.WriteString(p[:len(p)/2]) // a partial special token
		}
	}
	s := b.String()
	return []string{s, " " + s + " ", strings.ReplaceAll(s, " ", "  ")}
}

// unsupportedVocabs are the test vocabularies of a kind FromGGUF does not implement: it must
// refuse them with ErrUnsupported (any other vocabulary must load).
var unsupportedVocabs = map[string]bool{
	"ggml-vocab-nomic-bert-moe": true, // "t5": llama.cpp's UGM (Unigram) tokenizer
}

func TestAgainstLlamaCpp(t *testing.T) {
	texts := harnessTexts(t)
	for _, path := range harnessFiles(t) {
		name := strings.TrimSuffix(filepath.Base(path), ".gguf")
		t.Run(name, func(t *testing.T) {
			f, err := gguf.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			ref, err := llamacpp.LoadModel(path, llamacpp.ModelOptions{VocabOnly: true})
			if err != nil {
				t.Fatal(err)
			}
			defer ref.Close()
			tok, err := FromGGUF(f.Meta)
			if unsupportedVocabs[name] {
				if !errors.Is(err, ErrUnsupported) {
					t.Fatalf("want ErrUnsupported, got %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			info, err := ref.Info()
			if err != nil {
				t.Fatal(err)
			}
			if tok.NumTokens() != info.NVocab || tok.BOS() != info.BOS || tok.EOS() != info.EOS ||
				tok.AddBOS() != info.AddBOS || tok.AddEOS() != info.AddEOS {
				t.Errorf("vocab %d bos %d eos %d add_bos %v add_eos %v; llama.cpp %d %d %d %v %v",
					tok.NumTokens(), tok.BOS(), tok.EOS(), tok.AddBOS(), tok.AddEOS(),
					info.NVocab, info.BOS, info.EOS, info.AddBOS, info.AddEOS)
			}
			for id := range int32(tok.NumTokens()) {
				want, err := ref.TokenToPiece(id)
				if err != nil {
					t.Fatal(err)
				}
				if got := tok.TokenPiece(id); got != want {
					t.Fatalf("TokenPiece(%d) = %q, llama.cpp %q", id, got, want)
				}
			}
			all := append(append([]string(nil), texts...), specialText(tok)...)
			nTexts, nIDs, bad := 0, 0, 0
			for _, text := range all {
				for _, flags := range [][2]bool{{false, false}, {true, false}, {false, true}, {true, true}} {
					want, err := ref.Tokenize(text, flags[0], flags[1])
					if err != nil {
						t.Fatal(err)
					}
					got := tok.Encode(text, flags[0], flags[1])
					nTexts++
					nIDs += len(want)
					if !equalIDs(got, want) {
						bad++
						if bad <= 3 {
							t.Errorf("Encode(%.80q, addSpecial=%v, parseSpecial=%v):\n got  %v\n want %v", text, flags[0], flags[1], head(got), head(want))
						}
						continue
					}
					for _, d := range [][2]bool{{false, false}, {true, true}, {false, true}} {
						wantText, err := ref.Detokenize(want, d[0], d[1])
						if err != nil {
							t.Fatal(err)
						}
						if gotText := tok.Detokenize(want, d[0], d[1]); gotText != wantText {
							bad++
							t.Errorf("Detokenize(%v, %v, %v) = %.80q, llama.cpp %.80q", head(want), d[0], d[1], gotText, wantText)
						}
					}
				}
			}
			t.Logf("%d tokenizations, %d ids, %d differ", nTexts, nIDs, bad)
		})
	}
}
