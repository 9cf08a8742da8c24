package tokenizer

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
)

// preHash is one entry of llama.cpp's converter table of pre-tokenizers.
type preHash struct {
	hash string // sha256 of Python's str(ids), hex
	name string // tokenizer.ggml.pre
	ref  string // the model the converter took it from
}

// PreFromHF recognizes the pre-tokenizer of a Hugging Face tokenizer directory the way
// llama.cpp's converter does (get_vocab_base_pre): it tokenizes the converter's check text with
// special tokens added, hashes Python's str() of the ids with sha256, and looks the hash up in
// the converter's table. For an unknown tokenizer it returns known=false and the hash as pre.
func PreFromHF(dir string) (pre string, known bool, err error) {
	t, err := FromHF(dir)
	if err != nil {
		return "", false, err
	}
	h := PreHash(t)
	if name, ok := LookupPreHash(h); ok {
		return name, true, nil
	}
	return h, false, nil
}

// PreHash returns the converter's check hash for a tokenizer: sha256 of str(tokenizer.encode(chktxt)).
func PreHash(t *Tokenizer) string {
	ids := t.Encode(preCheckText, true, true)
	var b strings.Builder
	b.WriteByte('[')
	for i, id := range ids {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(strconv.Itoa(int(id)))
	}
	b.WriteByte(']')
	sum := sha256.Sum256([]byte(b.String()))
	return hex.EncodeToString(sum[:])
}

// LookupPreHash returns the tokenizer.ggml.pre name the converter gives a check hash.
func LookupPreHash(hash string) (string, bool) {
	name, found := "", false
	for _, e := range preHashes {
		if e.hash == hash {
			name, found = e.name, true // a later duplicate wins, as in the converter
		}
	}
	return name, found
}
