package tokenizer

import (
	"sync"
	"testing"
)

// TestConcurrentEncode: a Tokenizer is used from many goroutines at once (the runtime tokenizes
// in parallel), including its first use, which builds lazy caches; results must not depend on it.
func TestConcurrentEncode(t *testing.T) {
	text := multilingual(t)
	load := func() []*Tokenizer {
		var toks []*Tokenizer
		for _, name := range []string{"tiny-trained-spm", "llama-bpe", "qwen2", "gemma-4"} {
			toks = append(toks, openGoldenVocab(t, readGoldens(t)[name]))
		}
		hf, err := FromHF("testdata/hf/tiny")
		if err != nil {
			t.Fatal(err)
		}
		sp, err := FromSentencePiece("../testdata/models/tiny-trained/tokenizer.model")
		if err != nil {
			t.Fatal(err)
		}
		return append(toks, hf, sp)
	}
	ref, fresh := load(), load()
	for i, tok := range fresh {
		want := ref[i].Encode(text, true, true)
		wantText := ref[i].Decode(want)
		wantPiece := ref[i].TokenPiece(want[len(want)/2])
		var wg sync.WaitGroup
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range 3 {
					if got := tok.Encode(text, true, true); !equalIDs(got, want) {
						t.Error("concurrent Encode differs")
						return
					}
					if tok.Decode(want) != wantText || tok.TokenPiece(want[len(want)/2]) != wantPiece {
						t.Error("concurrent Decode differs")
						return
					}
				}
			}()
		}
		wg.Wait()
	}
}
