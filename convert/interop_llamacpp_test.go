//go:build llamacpp

package convert

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/ggufy/ggufy/archmap"
	"github.com/ggufy/ggufy/gguf"
	"github.com/ggufy/ggufy/internal/llamacpp"
	"github.com/ggufy/ggufy/internal/testmodel"
)

// hfLogits is a family's hf_logits.json: float32 logits of transformers (eager attention) for
// the first token ids of testdata/text/multilingual.txt, at the top-32 ids and 256 probe ids
// of each position.
type hfLogits struct {
	TokenIDs    []int32   `json:"token_ids"`
	Vocab       int       `json:"vocab"`
	LogSumExp   []float64 `json:"logsumexp"`
	TopIDs      [][]int32 `json:"top_ids"`
	TopLogits   string    `json:"top_logits_f32le_b64"`
	ProbeIDs    []int32   `json:"probe_ids"`
	ProbeLogits string    `json:"probe_logits_f32le_b64"`
}

func decodeF32(t *testing.T, b64 string) []float32 {
	b, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]float32, len(b)/4)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return out
}

type hfTokens struct {
	WithSpecial    []int32 `json:"with_special_tokens"`
	WithoutSpecial []int32 `json:"without_special_tokens"`
}

// tokenizationExceptions are the variants whose converted vocabulary cannot tokenize like the
// Hugging Face tokenizer, and why. Neither is ggufy's doing: ggufy's GGUF is byte-identical to
// llama.cpp's converter's for both.
var tokenizationExceptions = map[string]string{
	"gemma":  "the checkpoint carries Llama 2's tokenizer.model in place of Gemma's (not obtainable), while hf_tokens.json is real Gemma",
	"gemma2": "as gemma",
	"gemma3": "as gemma",
	"mixtral": "converted from tokenizer.json alone, llama.cpp's LlamaHfVocab gives every token the score -1000, " +
		"so llama.cpp's SentencePiece merge order cannot follow the BPE merge ranks",
}

// referenceTokens returns the Hugging Face reference ids: for SentencePiece-only checkpoints the
// slow tokenizer, i.e. sentencepiece itself (sp_tokens.json; transformers 5.17's fast tokenizer
// built from tokenizer.model on the device splits whitespace runs differently), else
// hf_tokens.json.
func referenceTokens(t *testing.T, famDir string) (hfTokens, string) {
	var toks hfTokens
	if _, err := os.Stat(filepath.Join(famDir, "sp_tokens.json")); err == nil {
		readJSON(t, filepath.Join(famDir, "sp_tokens.json"), &toks)
		return toks, "sentencepiece"
	}
	readJSON(t, filepath.Join(famDir, "hf_tokens.json"), &toks)
	return toks, "transformers"
}

// TestFamiliesInLlamaCpp loads every family's converted test checkpoint in real llama.cpp and
// checks that (1) it tokenizes testdata/text/multilingual.txt to the Hugging Face tokenizer's
// ids and (2) its logits for the recorded tokens equal transformers' float32 logits.
func TestFamiliesInLlamaCpp(t *testing.T) {
	text, err := os.ReadFile("../testdata/text/multilingual.txt")
	if err != nil {
		t.Fatal(err)
	}
	variants, err := testmodel.Variants("../testdata/families")
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range variants {
		famDir := filepath.Join("../testdata/families", v)
		t.Run(v, func(t *testing.T) {
			dir := materialize(t, famDir)
			out := filepath.Join(t.TempDir(), v+".f32.gguf")
			if _, err := File(context.Background(), dir, out, gguf.FileTypeAllF32, archmap.Options{TransformersConfig: true}, Options{}); err != nil {
				t.Fatal(err)
			}
			m, err := llamacpp.LoadModel(out, llamacpp.ModelOptions{})
			if err != nil {
				t.Fatalf("llama.cpp cannot load ggufy's GGUF: %v", err)
			}
			defer m.Close()

			toks, ref := referenceTokens(t, famDir)
			if why, ok := tokenizationExceptions[v]; ok {
				t.Logf("tokenization not compared: %s", why)
			} else {
				for _, c := range []struct {
					name    string
					special bool
					want    []int32
				}{{"without special tokens", false, toks.WithoutSpecial}, {"with special tokens", true, toks.WithSpecial}} {
					got, err := m.Tokenize(string(text), c.special, false)
					if err != nil {
						t.Fatal(err)
					}
					if d := firstDiff(got, c.want); d >= 0 {
						t.Errorf("tokenization %s differs from %s at token %d of %d/%d: got %v, want %v",
							c.name, ref, d, len(got), len(c.want), window(got, d), window(c.want, d))
					}
				}
			}

			var hl hfLogits
			readJSON(t, filepath.Join(famDir, "hf_logits.json"), &hl)
			logits, err := m.Logits(hl.TokenIDs, llamacpp.ContextOptions{Threads: 2, FlashAttn: llamacpp.FlashAttnOff, TypeK: "f32", TypeV: "f32"})
			if err != nil {
				t.Fatal(err)
			}
			top := decodeF32(t, hl.TopLogits)
			probe := decodeF32(t, hl.ProbeLogits)
			k := len(hl.TopIDs[0])
			var maxDiff, maxMag float64
			for p := range hl.TokenIDs {
				for i, id := range hl.TopIDs[p] {
					maxDiff = math.Max(maxDiff, math.Abs(float64(logits[p][id]-top[p*k+i])))
					maxMag = math.Max(maxMag, math.Abs(float64(top[p*k+i])))
				}
				for i, id := range hl.ProbeIDs {
					maxDiff = math.Max(maxDiff, math.Abs(float64(logits[p][id]-probe[p*len(hl.ProbeIDs)+i])))
				}
			}
			t.Logf("llama.cpp vs transformers logits over %d positions: max |diff| %.3g (max |logit| %.3g)", len(hl.TokenIDs), maxDiff, maxMag)
			if maxDiff > 1e-3*math.Max(1, maxMag) {
				t.Errorf("llama.cpp's logits on ggufy's GGUF differ from transformers': max |diff| %.3g", maxDiff)
			}
		})
	}
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatal(err)
	}
}

func firstDiff(a, b []int32) int {
	for i := 0; i < len(a) && i < len(b); i++ {
		if a[i] != b[i] {
			return i
		}
	}
	if len(a) != len(b) {
		return min(len(a), len(b))
	}
	return -1
}

func window(s []int32, i int) string {
	lo, hi := max(0, i-2), min(len(s), i+4)
	return fmt.Sprint(s[lo:hi])
}
