package tokenizer

import (
	"errors"
	"strings"
)

// Errors callers can branch on.
var (
	// ErrUnsupported is returned for vocabulary or pre-tokenizer kinds this package does not implement.
	ErrUnsupported = errors.New("tokenizer: unsupported")
)

// NoToken is the id of an absent token (LLAMA_TOKEN_NULL).
const NoToken int32 = -1

// TokenType is a GGUF token type (tokenizer.ggml.token_type, llama_token_type).
type TokenType int32

// The GGUF token types.
const (
	TypeUndefined   TokenType = 0
	TypeNormal      TokenType = 1
	TypeUnknown     TokenType = 2
	TypeControl     TokenType = 3
	TypeUserDefined TokenType = 4
	TypeUnused      TokenType = 5
	TypeByte        TokenType = 6
)

// attr is llama.cpp's llama_token_attr.
type attr uint32

const (
	attrUndefined   attr = 0
	attrUnknown     attr = 1 << 0
	attrUnused      attr = 1 << 1
	attrNormal      attr = 1 << 2
	attrControl     attr = 1 << 3
	attrUserDefined attr = 1 << 4
	attrByte        attr = 1 << 5
	attrNormalized  attr = 1 << 6
	attrLstrip      attr = 1 << 7
	attrRstrip      attr = 1 << 8
	attrSingleWord  attr = 1 << 9
)

func typeAttr(t TokenType) attr {
	switch t {
	case TypeUnknown:
		return attrUnknown
	case TypeUnused:
		return attrUnused
	case TypeNormal:
		return attrNormal
	case TypeControl:
		return attrControl
	case TypeUserDefined:
		return attrUserDefined
	case TypeByte:
		return attrByte
	}
	return attrUndefined
}

// engine is one tokenization algorithm with its semantics (llama.cpp's, Hugging Face's or
// SentencePiece's).
type engine interface {
	encode(t *Tokenizer, text string, addSpecial, parseSpecial bool, out []int32) []int32
	detokenize(t *Tokenizer, ids []int32, removeSpecial, unparseSpecial bool) string
	piece(t *Tokenizer, id int32) string
}

// Tokenizer converts between text and token ids. It is safe for concurrent use.
type Tokenizer struct {
	pieces []string
	scores []float32
	attrs  []attr
	ids    map[string]int32

	bos, eos, eot, eom, unk, sep, pad, mask, nl    int32
	fimPre, fimSuf, fimMid, fimPad, fimRep, fimSep int32
	eog                                            map[int32]struct{}
	addBOS, addEOS, addSEP                         bool

	model string // tokenizer.ggml.model, or "hf:<model type>" / "sentencepiece:<type>"
	pre   string // tokenizer.ggml.pre as llama.cpp resolved it

	eng engine
}

func (t *Tokenizer) init(n int) {
	t.pieces = make([]string, n)
	t.scores = make([]float32, n)
	t.attrs = make([]attr, n)
	t.ids = make(map[string]int32, n)
	t.bos, t.eos, t.eot, t.eom, t.unk, t.sep, t.pad, t.mask, t.nl = NoToken, NoToken, NoToken, NoToken, NoToken, NoToken, NoToken, NoToken, NoToken
	t.fimPre, t.fimSuf, t.fimMid, t.fimPad, t.fimRep, t.fimSep = NoToken, NoToken, NoToken, NoToken, NoToken, NoToken
	t.eog = map[int32]struct{}{}
}

// Encode tokenizes text. addSpecial adds the BOS/EOS/SEP tokens the vocabulary asks for (for a
// tokenizer.json, runs its post-processor); parseSpecial lets control tokens written in the
// text ("<|im_end|>") become their ids instead of being tokenized as plain text.
func (t *Tokenizer) Encode(text string, addSpecial, parseSpecial bool) []int32 {
	return t.eng.encode(t, text, addSpecial, parseSpecial, nil)
}

// AppendEncode is Encode appending to dst.
func (t *Tokenizer) AppendEncode(dst []int32, text string, addSpecial, parseSpecial bool) []int32 {
	return t.eng.encode(t, text, addSpecial, parseSpecial, dst)
}

// Decode turns ids back into text, rendering control tokens as nothing (llama_detokenize with
// remove_special=false, unparse_special=false; for tokenizer.json, skip_special_tokens=true).
func (t *Tokenizer) Decode(ids []int32) string {
	return t.eng.detokenize(t, ids, false, false)
}

// Detokenize is llama_detokenize: removeSpecial drops the BOS/EOS the vocabulary adds,
// unparseSpecial renders control tokens as their text.
func (t *Tokenizer) Detokenize(ids []int32, removeSpecial, unparseSpecial bool) string {
	return t.eng.detokenize(t, ids, removeSpecial, unparseSpecial)
}

// TokenPiece returns the text of one token as llama_token_to_piece with special=true renders it
// (byte tokens become their byte, GPT-2 byte-level text is decoded, ▁ becomes a space). Out of
// range ids give "".
func (t *Tokenizer) TokenPiece(id int32) string {
	if id < 0 || int(id) >= len(t.pieces) {
		return ""
	}
	return t.eng.piece(t, id)
}

// NumTokens returns the vocabulary size.
func (t *Tokenizer) NumTokens() int { return len(t.pieces) }

// Token returns the raw vocabulary entry of id ("" when out of range).
func (t *Tokenizer) Token(id int32) string {
	if id < 0 || int(id) >= len(t.pieces) {
		return ""
	}
	return t.pieces[id]
}

// Score returns the score of id (SentencePiece log probability or merge priority).
func (t *Tokenizer) Score(id int32) float32 {
	if id < 0 || int(id) >= len(t.scores) {
		return 0
	}
	return t.scores[id]
}

// Type returns the token type of id as llama.cpp ends up classifying it.
func (t *Tokenizer) Type(id int32) TokenType {
	if id < 0 || int(id) >= len(t.attrs) {
		return TypeUndefined
	}
	a := t.attrs[id]
	switch {
	case a&attrUnknown != 0:
		return TypeUnknown
	case a&attrUnused != 0:
		return TypeUnused
	case a&attrControl != 0:
		return TypeControl
	case a&attrUserDefined != 0:
		return TypeUserDefined
	case a&attrByte != 0:
		return TypeByte
	case a&attrNormal != 0:
		return TypeNormal
	}
	return TypeUndefined
}

// Lookup returns the id of a vocabulary entry.
func (t *Tokenizer) Lookup(token string) (int32, bool) {
	id, ok := t.ids[token]
	return id, ok
}

// BOS returns the beginning-of-sequence token, or NoToken.
func (t *Tokenizer) BOS() int32 { return t.bos }

// EOS returns the end-of-sequence token, or NoToken.
func (t *Tokenizer) EOS() int32 { return t.eos }

// EOT returns the end-of-turn token, or NoToken.
func (t *Tokenizer) EOT() int32 { return t.eot }

// EOM returns the end-of-message token, or NoToken.
func (t *Tokenizer) EOM() int32 { return t.eom }

// UNK returns the unknown token, or NoToken.
func (t *Tokenizer) UNK() int32 { return t.unk }

// SEP returns the separator token, or NoToken.
func (t *Tokenizer) SEP() int32 { return t.sep }

// PAD returns the padding token, or NoToken.
func (t *Tokenizer) PAD() int32 { return t.pad }

// NL returns the newline token, or NoToken.
func (t *Tokenizer) NL() int32 { return t.nl }

// IsEOG reports whether id ends generation (llama_vocab_is_eog).
func (t *Tokenizer) IsEOG(id int32) bool {
	_, ok := t.eog[id]
	return ok
}

// AddBOS reports whether Encode with addSpecial prepends BOS.
func (t *Tokenizer) AddBOS() bool { return t.addBOS }

// AddEOS reports whether Encode with addSpecial appends EOS.
func (t *Tokenizer) AddEOS() bool { return t.addEOS }

// Model returns the vocabulary kind: tokenizer.ggml.model for a GGUF ("llama", "gpt2",
// "gemma4"), "hf" for a tokenizer.json, "sentencepiece" for a tokenizer.model.
func (t *Tokenizer) Model() string { return t.model }

// Pre returns the pre-tokenizer name llama.cpp resolved from tokenizer.ggml.pre ("" otherwise).
func (t *Tokenizer) Pre() string { return t.pre }

func (t *Tokenizer) lookup(s string) int32 {
	if id, ok := t.ids[s]; ok {
		return id
	}
	return NoToken
}

func (t *Tokenizer) lookupBytes(b []byte) int32 {
	if id, ok := t.ids[string(b)]; ok {
		return id
	}
	return NoToken
}

var replacerUnderscore = strings.NewReplacer("\u2581", " ")
