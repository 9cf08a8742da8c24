package tokenizer

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/ggufy/ggufy/gguf"
)

// goldenFile is one vocabulary's tokenizations by real llama.cpp, made by
// golden_gen_llamacpp_test.go (go test -tags llamacpp -run TestGoldens -update).
type goldenFile struct {
	Comment string       `json:"_comment"`
	Vocab   string       `json:"vocab"` // relative to testdata/golden
	Cases   []goldenCase `json:"cases"`
}

type goldenCase struct {
	TextFile string         `json:"text_file,omitempty"` // relative to testdata/golden
	Text     string         `json:"text,omitempty"`      // Go-quoted (strconv.Quote), to keep invalid UTF-8
	Results  []goldenResult `json:"results"`
}

type goldenResult struct {
	AddSpecial   bool   `json:"add_special"`
	ParseSpecial bool   `json:"parse_special"`
	IDs          string `json:"ids"`           // space-separated
	Detok        string `json:"detok"`         // llama_detokenize(ids, false, false), Go-quoted
	DetokSpecial string `json:"detok_special"` // llama_detokenize(ids, true, true), Go-quoted
}

func (c goldenCase) text(t testing.TB) string {
	if c.TextFile == "" {
		s, err := strconv.Unquote(c.Text)
		if err != nil {
			t.Fatalf("golden text %s: %v", c.Text, err)
		}
		return s
	}
	b, err := os.ReadFile(filepath.Join("testdata/golden", c.TextFile))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func parseIDs(s string) []int32 {
	var ids []int32
	for _, f := range strings.Fields(s) {
		v, _ := strconv.Atoi(f)
		ids = append(ids, int32(v))
	}
	return ids
}

func formatIDs(ids []int32) string {
	var b strings.Builder
	for i, id := range ids {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(strconv.Itoa(int(id)))
	}
	return b.String()
}

func readGoldens(t testing.TB) map[string]goldenFile {
	files, _ := filepath.Glob("testdata/golden/*.json")
	if len(files) == 0 {
		t.Fatal("no testdata/golden/*.json")
	}
	out := map[string]goldenFile{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var g goldenFile
		if err := json.Unmarshal(b, &g); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		out[strings.TrimSuffix(filepath.Base(f), ".json")] = g
	}
	return out
}

func openGoldenVocab(t testing.TB, g goldenFile) *Tokenizer {
	t.Helper()
	f, err := gguf.Open(filepath.Join("testdata/golden", g.Vocab))
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

// TestGoldens checks FromGGUF against token ids that real llama.cpp produced for small SPM and
// BPE vocabularies (stories260k, a GGUF vocabulary of testdata/models/tiny-trained, and cut-down
// llama-bpe, qwen2, deepseek-coder and gemma-4 vocabularies), without needing llama.cpp.
func TestGoldens(t *testing.T) {
	for name, g := range readGoldens(t) {
		t.Run(name, func(t *testing.T) {
			tok := openGoldenVocab(t, g)
			n := 0
			for i, c := range g.Cases {
				text := c.text(t)
				for _, r := range c.Results {
					want := parseIDs(r.IDs)
					n += len(want)
					got := tok.Encode(text, r.AddSpecial, r.ParseSpecial)
					if !equalIDs(got, want) {
						t.Errorf("case %d (%s%.40s, add_special=%v parse_special=%v):\n got  %v\n want %v",
							i, c.TextFile, c.Text, r.AddSpecial, r.ParseSpecial, head(got), head(want))
						continue
					}
					if d := strconv.Quote(tok.Detokenize(want, false, false)); d != r.Detok {
						t.Errorf("case %d: Detokenize = %.80s, llama.cpp %.80s", i, d, r.Detok)
					}
					if d := strconv.Quote(tok.Detokenize(want, true, true)); d != r.DetokSpecial {
						t.Errorf("case %d: Detokenize(special) = %.80s, llama.cpp %.80s", i, d, r.DetokSpecial)
					}
				}
			}
			t.Logf("%d texts, %d ids", len(g.Cases), n)
		})
	}
}

func equalIDs(a, b []int32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func head(ids []int32) []int32 {
	if len(ids) > 40 {
		return ids[:40]
	}
	return ids
}
