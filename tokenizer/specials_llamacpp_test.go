//go:build llamacpp

package tokenizer

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ggufy/ggufy/gguf"
)

// TestSpecialsMatchLlamaCpp checks what FromGGUF derives from the metadata (special ids found by
// text, the end-of-generation set, every token's attributes) against real llama.cpp; see
// testdata/llamacpp/gen_specials.py.
func TestSpecialsMatchLlamaCpp(t *testing.T) {
	var doc struct {
		Vocabs map[string]struct {
			BOS, EOS, EOT, SEP, NL, PAD, Mask int32
			FimPre                            int32 `json:"fim_pre"`
			FimSuf                            int32 `json:"fim_suf"`
			FimMid                            int32 `json:"fim_mid"`
			FimPad                            int32 `json:"fim_pad"`
			FimRep                            int32 `json:"fim_rep"`
			FimSep                            int32 `json:"fim_sep"`
			AddSep                            bool  `json:"add_sep"`
			EOG                               []int32
			AttrSHA256                        string `json:"attr_sha256"`
		}
	}
	b, err := os.ReadFile("testdata/llamacpp/specials.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	for name, want := range doc.Vocabs {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(vocabDir(t), name)
			if name == "stories260k.f32.gguf" {
				path = "../testdata/ref/" + name
			}
			f, err := gguf.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			tok, err := FromGGUF(f.Meta)
			if unsupportedVocabs[strings.TrimSuffix(name, ".gguf")] {
				if !errors.Is(err, ErrUnsupported) {
					t.Fatalf("want ErrUnsupported, got %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := []int32{tok.bos, tok.eos, tok.eot, tok.sep, tok.nl, tok.pad, tok.mask,
				tok.fimPre, tok.fimSuf, tok.fimMid, tok.fimPad, tok.fimRep, tok.fimSep}
			exp := []int32{want.BOS, want.EOS, want.EOT, want.SEP, want.NL, want.PAD, want.Mask,
				want.FimPre, want.FimSuf, want.FimMid, want.FimPad, want.FimRep, want.FimSep}
			if !slices.Equal(got, exp) {
				t.Errorf("bos eos eot sep nl pad mask fim_pre/suf/mid/pad/rep/sep:\n got  %v\n want %v", got, exp)
			}
			if tok.addSEP != want.AddSep {
				t.Errorf("add_sep %v, want %v", tok.addSEP, want.AddSep)
			}
			var eog []int32
			for id := range tok.eog {
				eog = append(eog, id)
			}
			slices.Sort(eog)
			if !slices.Equal(eog, want.EOG) {
				t.Errorf("eog %v, want %v", eog, want.EOG)
			}
			raw := make([]byte, 4*len(tok.attrs))
			for i, a := range tok.attrs {
				binary.LittleEndian.PutUint32(raw[4*i:], uint32(a))
			}
			if h := sha256.Sum256(raw); hex.EncodeToString(h[:]) != want.AttrSHA256 {
				t.Errorf("token attributes differ from llama.cpp's")
			}
		})
	}
}
