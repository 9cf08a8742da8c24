package archmap

import (
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/ggufy/ggufy/gguf"
	"github.com/ggufy/ggufy/tokenizer"
)

// errNotLlamaHF marks a tokenizer.json that LlamaHfVocab refuses as Llama 3 (a TypeError in the
// converter, after which it uses the GPT-2 BPE path).
var errNotLlamaHF = errors.New("tokenizer.json is a Llama 3 style BPE")

func isNoFile(err error) bool            { return errors.Is(err, errNoFile) }
func isNotLlamaHF(err error) bool        { return errors.Is(err, errNotLlamaHF) }
func (c *Converter) tokJSONPath() string { return filepath.Join(c.Dir, "tokenizer.json") }

// PreTokenizer chooses tokenizer.ggml.pre for a Hugging Face tokenizer directory the way
// llama.cpp's converter does (get_vocab_base_pre: tokenize its check text with the Hugging Face
// tokenizer and look the ids' hash up): it returns the name and whether the tokenizer was
// recognized. A variable so that tests can substitute it.
var PreTokenizer = tokenizer.PreFromHF

// hfTokenizer is the part of a tokenizer.json (and tokenizer_config.json) the converter reads
// through transformers' AutoTokenizer.
type hfTokenizer struct {
	json        map[string]any
	model       map[string]any
	vocab       map[string]int64 // model vocabulary
	added       []addedToken     // added_tokens, in file order
	addedByText map[string]addedToken
	config      map[string]any // tokenizer_config.json (may be nil)
}

type addedToken struct {
	id         int64
	content    string
	special    bool
	normalized bool
}

func (c *Converter) loadHFTokenizer() (*hfTokenizer, error) {
	j, err := c.readJSON("tokenizer.json")
	if err != nil {
		return nil, err
	}
	if j == nil {
		return nil, fmt.Errorf("%s: %w", c.tokJSONPath(), errNoFile)
	}
	h := &hfTokenizer{json: j, vocab: map[string]int64{}, addedByText: map[string]addedToken{}}
	h.model, _ = j["model"].(map[string]any)
	if v, ok := h.model["vocab"].(map[string]any); ok {
		for k, id := range v {
			n, ok := asInt(id)
			if !ok {
				return nil, fmt.Errorf("archmap: %s: vocab entry %q has id %v", c.tokJSONPath(), k, id)
			}
			h.vocab[k] = n
		}
	}
	for _, a := range listOf(j["added_tokens"]) {
		m, _ := a.(map[string]any)
		id, ok := asInt(m["id"])
		content, ok2 := m["content"].(string)
		if !ok || !ok2 {
			continue
		}
		at := addedToken{id: id, content: content, special: truthy(m["special"]), normalized: truthy(m["normalized"])}
		h.added = append(h.added, at)
		h.addedByText[content] = at
	}
	h.config, err = c.readJSON("tokenizer_config.json")
	if err != nil {
		return nil, err
	}
	return h, nil
}

// fullVocab returns id -> token for the model vocabulary and the added tokens
// (tokenizer.vocab in transformers), and its size.
func (h *hfTokenizer) fullVocab() (map[int64]string, int) {
	rev := map[int64]string{}
	names := map[string]bool{}
	for k, id := range h.vocab {
		rev[id] = k
		names[k] = true
	}
	for _, a := range h.added {
		rev[a.id] = a.content
		names[a.content] = true
	}
	return rev, len(names)
}

// GPT2Vocab writes a GPT-2 style BPE vocabulary from tokenizer.json (_set_vocab_gpt2 and
// get_vocab_base).
func (c *Converter) GPT2Vocab() error {
	tokens, types, pre, err := c.bpeTokens()
	if err != nil {
		return err
	}
	c.AddString("tokenizer.ggml.model", "gpt2")
	c.AddString("tokenizer.ggml.pre", pre)
	c.AddStrings("tokenizer.ggml.tokens", tokens)
	c.Meta.Set("tokenizer.ggml.token_type", gguf.Int32s(types))
	sv, err := c.newSpecialVocab(true, nil, 0)
	if err != nil {
		return err
	}
	return sv.addTo(c)
}

func (c *Converter) bpeTokens() ([]string, []int32, string, error) {
	h, err := c.loadHFTokenizer()
	if err != nil {
		return nil, nil, "", err
	}
	rev, n := h.fullVocab()
	vocabSize := int64(n)
	if v, ok := c.HParams.Int("vocab_size"); ok {
		vocabSize = v
	}
	for id := range rev {
		if id >= vocabSize {
			return nil, nil, "", fmt.Errorf("%w: %s: token id %d is not below vocab_size %d", ErrConfig, c.tokJSONPath(), id, vocabSize)
		}
	}
	if PreTokenizer == nil {
		return nil, nil, "", fmt.Errorf("archmap: BPE pre-tokenizer detection is not available")
	}
	pre, known, err := PreTokenizer(c.Dir)
	if err != nil {
		return nil, nil, "", fmt.Errorf("archmap: %s: %w", c.tokJSONPath(), err)
	}
	if !known {
		c.Warnf("BPE pre-tokenizer of %s was not recognized; writing %q (llama.cpp's converter refuses such tokenizers)", c.tokJSONPath(), pre)
	}
	addedByID := map[int64]addedToken{}
	for _, a := range h.added {
		addedByID[a.id] = a
	}
	tokens := make([]string, vocabSize)
	types := make([]int32, vocabSize)
	for i := int64(0); i < vocabSize; i++ {
		tok, ok := rev[i]
		if !ok {
			tokens[i], types[i] = fmt.Sprintf("[PAD%d]", i), tokUnused
			continue
		}
		if _, isAdded := h.addedByText[tok]; isAdded {
			dec, ok := addedByID[i]
			if !ok {
				dec = h.addedByText[tok]
			}
			if dec.special || looksSpecial(tok) {
				types[i] = tokControl
			} else {
				tok = strings.ReplaceAll(tok, "\u2581", " ")
				types[i] = tokUserDefined
			}
		} else {
			types[i] = tokNormal
		}
		tokens[i] = tok
	}
	return tokens, types, pre, nil
}

var byteTokenRE = regexp.MustCompile(`^<0x[0-9A-Fa-f]{2}>$`)

// LlamaHFVocab writes a Llama/SentencePiece-style vocabulary from a tokenizer.json without
// tokenizer.model (gguf-py LlamaHfVocab). It returns an error wrapping errNoFile when the
// tokenizer is not of that kind, and errNotLlamaHF for Llama 3 tokenizers.
func (c *Converter) LlamaHFVocab() error {
	h, err := c.loadHFTokenizer()
	if err != nil {
		return err
	}
	typ, _ := h.model["type"].(string)
	ignoreMerges, _ := h.model["ignore_merges"].(bool)
	byteFallback, hasBF := h.model["byte_fallback"].(bool)
	if typ == "BPE" && ignoreMerges && (hasBF && !byteFallback) {
		return errNotLlamaHF
	}
	dec, _ := h.json["decoder"].(map[string]any)
	if typ != "BPE" || !byteFallback || dec["type"] != "Sequence" {
		return fmt.Errorf("%s: not a Llama BPE tokenizer: %w", c.tokJSONPath(), errNoFile)
	}
	base := int64(len(h.vocab))
	// Added tokens beyond the base vocabulary, by id.
	var extra []addedToken
	for _, a := range h.added {
		if a.id >= base {
			extra = append(extra, a)
		}
	}
	sort.Slice(extra, func(i, j int) bool { return extra[i].id < extra[j].id })
	specials := h.specialTokens()
	rev, _ := h.fullVocab()
	specialIDs := map[int64]bool{}
	for _, s := range specials {
		if id, ok := h.idOf(s); ok {
			specialIDs[id] = true
		}
	}
	var tokens []string
	var scores []float32
	var types []int32
	extraIDs := map[int64]bool{}
	for _, a := range extra {
		extraIDs[a.id] = true
	}
	for id := int64(0); id < base; id++ {
		if extraIDs[id] {
			continue
		}
		text, ok := rev[id]
		if !ok {
			return fmt.Errorf("archmap: %s: no token with id %d", c.tokJSONPath(), id)
		}
		t := int32(tokNormal)
		if byteTokenRE.MatchString(text) {
			t = tokByte
		} else if specialIDs[id] {
			t = tokControl
		}
		tokens, scores, types = append(tokens, text), append(scores, -1000), append(types, t)
	}
	isSpecial := map[string]bool{}
	for _, s := range specials {
		isSpecial[s] = true
	}
	for _, a := range extra {
		t := int32(tokUserDefined)
		if isSpecial[a.content] {
			t = tokNormal
			if id, ok := h.idOf(a.content); ok && specialIDs[id] {
				t = tokControl
			}
		}
		tokens, scores, types = append(tokens, a.content), append(scores, -1000), append(types, t)
	}
	c.AddString("tokenizer.ggml.model", "llama")
	c.AddString("tokenizer.ggml.pre", "default")
	c.AddStrings("tokenizer.ggml.tokens", tokens)
	c.Meta.Set("tokenizer.ggml.scores", gguf.Float32s(scores))
	c.Meta.Set("tokenizer.ggml.token_type", gguf.Int32s(types))
	sv, err := c.newSpecialVocab(false, nil, len(tokens))
	if err != nil {
		return err
	}
	return sv.addTo(c)
}

func (h *hfTokenizer) idOf(tok string) (int64, bool) {
	if a, ok := h.addedByText[tok]; ok {
		return a.id, true
	}
	id, ok := h.vocab[tok]
	return id, ok
}

// specialTokens returns transformers' all_special_tokens: the named special tokens of
// tokenizer_config.json and its additional_special_tokens.
func (h *hfTokenizer) specialTokens() []string {
	var out []string
	seen := map[string]bool{}
	addTok := func(v any) {
		if s, ok := tokenContent(v); ok && s != "" && !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	if h.config == nil {
		return nil
	}
	for _, k := range []string{"bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token"} {
		addTok(h.config[k])
	}
	for _, v := range listOf(h.config["additional_special_tokens"]) {
		addTok(v)
	}
	return out
}
