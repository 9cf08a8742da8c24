package tokenizer

import (
	"bytes"
	"os"
	"testing"
)

func TestParseSentencePiece(t *testing.T) {
	f, err := os.Open("../testdata/models/tiny-trained/tokenizer.model")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m, err := ParseSentencePiece(f)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Pieces) != 4096 || m.ModelType != SPBPE || !m.ByteFallback {
		t.Fatalf("%d pieces, model type %d, byte fallback %v", len(m.Pieces), m.ModelType, m.ByteFallback)
	}
	want := []SentencePiece{{"<unk>", 0, PieceUnknown}, {"<s>", 0, PieceControl}, {"</s>", 0, PieceControl}, {"<0x00>", 0, PieceByte}}
	for i, w := range want {
		if m.Pieces[i] != w {
			t.Errorf("piece %d = %+v, want %+v", i, m.Pieces[i], w)
		}
	}
	if m.UnkID != 0 || m.BosID != 1 || m.EosID != 2 {
		t.Errorf("ids unk %d bos %d eos %d", m.UnkID, m.BosID, m.EosID)
	}
}

func FuzzParseSentencePiece(f *testing.F) {
	b, _ := os.ReadFile("../testdata/models/stories260k/tokenizer.model")
	f.Add(b)
	f.Fuzz(func(t *testing.T, b []byte) {
		ParseSentencePiece(bytes.NewReader(b))
	})
}
