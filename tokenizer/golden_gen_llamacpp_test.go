//go:build llamacpp

package tokenizer

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/ggufy/ggufy/gguf"
	"github.com/ggufy/ggufy/internal/llamacpp"
)

var update = flag.Bool("update", false, "regenerate testdata/golden (tiny vocabularies and llama.cpp's ids)")

// tinyVocabs are cut-down copies of llama.cpp's test vocabularies: the first merges, the tokens
// they use, and all non-normal tokens; small enough to commit, tokenized the same way.
var tinyVocabs = []struct {
	name, src string
	merges    int
}{
	{"llama-bpe", "ggml-vocab-llama-bpe.gguf", 2000},
	{"qwen2", "ggml-vocab-qwen2.gguf", 2000},
	{"deepseek-coder", "ggml-vocab-deepseek-coder.gguf", 2000},
	{"gemma-4", "ggml-vocab-gemma-4.gguf", 2000},
}

// TestGoldensFromLlamaCpp regenerates (with -update) or re-checks the goldens: every case must
// still be what real llama.cpp says.
func TestGoldensFromLlamaCpp(t *testing.T) {
	if *update {
		if err := os.MkdirAll("testdata/golden/vocab", 0o755); err != nil {
			t.Fatal(err)
		}
		for _, v := range tinyVocabs {
			writeTinyBPE(t, filepath.Join(vocabDir(t), v.src), "testdata/golden/vocab/"+v.name+".gguf", v.merges)
		}
		writeTinyTrainedSPM(t, filepath.Join(vocabDir(t), "ggml-vocab-llama-spm.gguf"), "testdata/golden/vocab/tiny-trained-spm.gguf")
		vocabs := map[string]string{"stories260k": "../../../testdata/ref/stories260k.f32.gguf", "tiny-trained-spm": "vocab/tiny-trained-spm.gguf"}
		for _, v := range tinyVocabs {
			vocabs[v.name] = "vocab/" + v.name + ".gguf"
		}
		for name, vocab := range vocabs {
			g := goldenFile{Comment: "token ids from real llama.cpp v0.5.0 (cgo harness internal/llamacpp), made by " +
				"go test -tags llamacpp -run TestGoldensFromLlamaCpp -update ./tokenizer", Vocab: vocab}
			tok := openGoldenVocab(t, g)
			both := []goldenResult{{}, {AddSpecial: true, ParseSpecial: true}}
			all := []goldenResult{{}, {AddSpecial: true}, {ParseSpecial: true}, {AddSpecial: true, ParseSpecial: true}}
			for _, f := range []string{"../../../testdata/text/multilingual.txt", "../../../testdata/text/stories260k-eval.txt"} {
				g.Cases = append(g.Cases, goldenCase{TextFile: f, Results: append([]goldenResult(nil), both...)})
			}
			for _, s := range append(specialText(tok)[:1], "", " ", "\n\n", " Hello  world\t\n", "\xff\xfeinvalid\xc3") {
				g.Cases = append(g.Cases, goldenCase{Text: strconv.Quote(s), Results: append([]goldenResult(nil), all...)})
			}
			fillFromLlamaCpp(t, &g)
			b, err := json.MarshalIndent(g, "", " ")
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile("testdata/golden/"+name+".json", append(b, '\n'), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	for name, g := range readGoldens(t) {
		want := g
		want.Cases = nil
		for _, c := range g.Cases {
			c.Results = append([]goldenResult(nil), c.Results...)
			want.Cases = append(want.Cases, c)
		}
		fillFromLlamaCpp(t, &want)
		for i := range g.Cases {
			if !slices.Equal(g.Cases[i].Results, want.Cases[i].Results) {
				t.Errorf("%s case %d is no longer what llama.cpp says", name, i)
			}
		}
	}
}

func fillFromLlamaCpp(t *testing.T, g *goldenFile) {
	ref, err := llamacpp.LoadModel(filepath.Join("testdata/golden", g.Vocab), llamacpp.ModelOptions{VocabOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ref.Close()
	for i := range g.Cases {
		c := &g.Cases[i]
		for j := range c.Results {
			r := &c.Results[j]
			ids, err := ref.Tokenize(c.text(t), r.AddSpecial, r.ParseSpecial)
			if err != nil {
				t.Fatal(err)
			}
			r.IDs = formatIDs(ids)
			d, err := ref.Detokenize(ids, false, false)
			if err != nil {
				t.Fatal(err)
			}
			r.Detok = strconv.Quote(d)
			if d, err = ref.Detokenize(ids, true, true); err != nil {
				t.Fatal(err)
			}
			r.DetokSpecial = strconv.Quote(d)
		}
	}
}

// writeTinyBPE keeps the first n merges of a BPE vocabulary, the tokens they use and make, the
// 256 byte-level base tokens (for GPT-2 style byte encoding) and every non-normal token.
func writeTinyBPE(t *testing.T, src, dst string, n int) {
	f, err := gguf.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	md := f.Meta
	tv, _ := md.Get(kvTokens)
	ta, _ := tv.Array()
	toks := ta.Values.([]string)
	mv, _ := md.Get(kvMerges)
	ma, _ := mv.Array()
	merges := ma.Values.([]string)[:n]
	typv, _ := md.Get(kvTokenType)
	tya, _ := typv.Array()
	types := tya.Values.([]int32)
	keep := map[string]bool{}
	for i, tk := range toks {
		if TokenType(types[i]) != TypeNormal {
			keep[tk] = true
		}
	}
	if model, _, _ := (meta{md}).str(kvModel); model == "gpt2" {
		for _, s := range byteToUnicode {
			keep[s] = true
		}
	}
	for _, m := range merges {
		l, r, _ := strings.Cut(m, " ")
		keep[l], keep[r], keep[l+r] = true, true, true
	}
	var scores []float32
	if sv, ok := md.Get(kvScores); ok {
		sa, _ := sv.Array()
		scores = sa.Values.([]float32)
	}
	newID := map[int]int{}
	var nt []string
	var nty []int32
	var nsc []float32
	for i, tk := range toks {
		if keep[tk] {
			newID[i] = len(nt)
			nt = append(nt, tk)
			nty = append(nty, types[i])
			if scores != nil {
				nsc = append(nsc, scores[i])
			}
		}
	}
	out := gguf.NewMetadata()
	for _, kv := range md.KVs() {
		switch {
		case kv.Key == kvTokens:
			out.Set(kv.Key, gguf.Strings(nt))
		case kv.Key == kvTokenType:
			out.Set(kv.Key, gguf.Int32s(nty))
		case kv.Key == kvScores:
			out.Set(kv.Key, gguf.Float32s(nsc))
		case kv.Key == kvMerges:
			out.Set(kv.Key, gguf.Strings(merges))
		case strings.HasPrefix(kv.Key, "tokenizer.chat_template"), kv.Key == "tokenizer.chat_templates":
		case strings.HasPrefix(kv.Key, "tokenizer.ggml.") && strings.HasSuffix(kv.Key, "_token_id"):
			old, _ := kv.Value.Int()
			if id, ok := newID[int(old)]; ok {
				out.Set(kv.Key, gguf.Uint32(uint32(id)))
			}
		default:
			out.Set(kv.Key, kv.Value)
		}
	}
	out.Set(kvGeneralNm, gguf.String("tiny "+filepath.Base(src)))
	writeVocabFile(t, dst, out)
}

// writeTinyTrainedSPM writes the GGUF vocabulary llama.cpp's converter makes from
// testdata/models/tiny-trained/tokenizer.model (_set_vocab_sentencepiece: pieces, scores and
// types as they are), with the llama hyperparameters of llama.cpp's llama-spm test vocabulary.
func writeTinyTrainedSPM(t *testing.T, hparams, dst string) {
	r, err := os.Open("../testdata/models/tiny-trained/tokenizer.model")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	sp, err := ParseSentencePiece(r)
	if err != nil {
		t.Fatal(err)
	}
	f, err := gguf.Open(hparams)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := gguf.NewMetadata()
	for _, kv := range f.Meta.KVs() {
		if !strings.HasPrefix(kv.Key, "tokenizer.") {
			out.Set(kv.Key, kv.Value)
		}
	}
	var toks []string
	var scores []float32
	var types []int32
	for _, p := range sp.Pieces {
		toks = append(toks, p.Piece)
		scores = append(scores, p.Score)
		types = append(types, int32(p.Type))
	}
	out.Set(kvGeneralNm, gguf.String("tiny-trained"))
	out.Set(kvModel, gguf.String("llama"))
	out.Set(kvPre, gguf.String("default"))
	out.Set(kvTokens, gguf.Strings(toks))
	out.Set(kvScores, gguf.Float32s(scores))
	out.Set(kvTokenType, gguf.Int32s(types))
	out.Set("tokenizer.ggml.bos_token_id", gguf.Uint32(uint32(sp.BosID)))
	out.Set("tokenizer.ggml.eos_token_id", gguf.Uint32(uint32(sp.EosID)))
	out.Set("tokenizer.ggml.unknown_token_id", gguf.Uint32(uint32(sp.UnkID)))
	out.Set(kvAddBOS, gguf.Bool(true))
	out.Set(kvAddEOS, gguf.Bool(false))
	writeVocabFile(t, dst, out)
}

func writeVocabFile(t *testing.T, dst string, md *gguf.Metadata) {
	w, err := gguf.Create(dst, md, nil, gguf.SplitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(fmt.Errorf("%s: %w", dst, err))
	}
}
