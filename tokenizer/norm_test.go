package tokenizer

import (
	"encoding/json"
	"os"
	"testing"
)

// TestNormalizationForms checks NFC/NFD/NFKC/NFKD against Python's unicodedata on single
// decomposable codepoints and random sequences of bases and combining marks.
func TestNormalizationForms(t *testing.T) {
	b, err := os.ReadFile("testdata/normtest.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct{ Cases [][5]string }
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	names := []string{"NFC", "NFD", "NFKC", "NFKD"}
	forms := []normForm{formNFC, formNFD, formNFKC, formNFKD}
	bad := 0
	for _, c := range doc.Cases {
		for i, f := range forms {
			if got := normalizeString(c[0], f); got != c[i+1] {
				if bad++; bad <= 10 {
					t.Errorf("%s(%+q) = %+q, want %+q", names[i], c[0], got, c[i+1])
				}
			}
		}
	}
	if bad > 0 {
		t.Errorf("%d of %d differ", bad, 4*len(doc.Cases))
	}
}
