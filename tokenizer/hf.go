package tokenizer

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// FromHF loads a Hugging Face tokenizer directory: tokenizer.json (a BPE model with its
// normalizer, pre-tokenizer, post-processor, decoder and added tokens) and, when present,
// tokenizer_config.json (BOS/EOS tokens, add_bos_token/add_eos_token, clean-up of decoded
// text). Encode then gives the ids of Hugging Face tokenizers: addSpecial runs the
// post-processor, parseSpecial=false is split_special_tokens=True.
func FromHF(dir string) (*Tokenizer, error) {
	t, err := fromHF(dir)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %s: %w", dir, err)
	}
	return t, nil
}

type tokenizerJSON struct {
	AddedTokens   []hfAddedJSON   `json:"added_tokens"`
	Normalizer    json.RawMessage `json:"normalizer"`
	PreTokenizer  json.RawMessage `json:"pre_tokenizer"`
	Model         hfModelJSON     `json:"model"`
	PostProcessor json.RawMessage `json:"post_processor"`
	Decoder       json.RawMessage `json:"decoder"`
}

type hfAddedJSON struct {
	ID         int32  `json:"id"`
	Content    string `json:"content"`
	SingleWord bool   `json:"single_word"`
	Lstrip     bool   `json:"lstrip"`
	Rstrip     bool   `json:"rstrip"`
	Normalized *bool  `json:"normalized"`
	Special    bool   `json:"special"`
}

// hfConfig is the part of tokenizer_config.json that changes tokenization.
type hfConfig struct {
	AddBOSToken    *bool           `json:"add_bos_token"`
	AddEOSToken    *bool           `json:"add_eos_token"`
	BOSToken       json.RawMessage `json:"bos_token"`
	EOSToken       json.RawMessage `json:"eos_token"`
	UNKToken       json.RawMessage `json:"unk_token"`
	PADToken       json.RawMessage `json:"pad_token"`
	CleanUp        *bool           `json:"clean_up_tokenization_spaces"`
	TokenizerClass string          `json:"tokenizer_class"`
	// Used only without tokenizer.json, to convert tokenizer.model as transformers does.
	AddedTokensDecoder map[string]hfAddedJSON `json:"added_tokens_decoder"`
	Legacy             *bool                  `json:"legacy"`
	AddPrefixSpace     *bool                  `json:"add_prefix_space"`
}

// tokenText reads a special token given as a string or as {"content": ...}.
func tokenText(raw json.RawMessage) (string, bool) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", false
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s, true
	}
	var o struct {
		Content string `json:"content"`
	}
	if json.Unmarshal(raw, &o) == nil && o.Content != "" {
		return o.Content, true
	}
	return "", false
}

type hfAdded struct {
	id                                              int32
	content                                         string
	special, normalized, lstrip, rstrip, singleWord bool
}

// hfModel turns one pre-token into ids.
type hfModel interface {
	tokenize(w string, out []int32) []int32
}

// hfEngine is the engine with Hugging Face tokenizers' semantics.
type hfEngine struct {
	norm  hfNormalizer
	pre   hfPreTokenizer
	model hfModel
	post  *hfPost
	dec   hfDecoder
	added map[int32]*hfAdded
	// addedContent holds the added tokens' texts, which the ByteLevel decoder keeps as they are
	addedContent map[string]bool
	raw, nrm     *addedMatcher // non-normalized and normalized added tokens
	byteLevel    bool          // the decoder is byte-level (for TokenPiece)
	cleanUp      bool
}

func fromHF(dir string) (*Tokenizer, error) {
	var cfg hfConfig
	if cb, err := os.ReadFile(filepath.Join(dir, "tokenizer_config.json")); err == nil {
		if err := json.Unmarshal(cb, &cfg); err != nil {
			return nil, fmt.Errorf("%w: tokenizer_config.json: %v", ErrFormat, err)
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	b, err := os.ReadFile(filepath.Join(dir, "tokenizer.json"))
	if errors.Is(err, fs.ErrNotExist) {
		// no tokenizer.json: transformers converts tokenizer.model into a fast tokenizer
		f, err2 := os.Open(filepath.Join(dir, "tokenizer.model"))
		if err2 != nil {
			return nil, err
		}
		defer f.Close()
		m, err := ParseSentencePiece(f)
		if err != nil {
			return nil, err
		}
		return newHFFromSentencePiece(m, cfg)
	}
	if err != nil {
		return nil, err
	}
	var j tokenizerJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return nil, fmt.Errorf("%w: tokenizer.json: %v", ErrFormat, err)
	}
	return newHFTokenizer(j, cfg)
}

func newHFTokenizer(j tokenizerJSON, cfg hfConfig) (*Tokenizer, error) {
	e := &hfEngine{added: map[int32]*hfAdded{}, addedContent: map[string]bool{}, cleanUp: cfg.CleanUp == nil || *cfg.CleanUp}
	bpe, err := newHFBPE(j.Model)
	if err != nil {
		return nil, err
	}
	e.model = bpe
	if e.norm, err = newHFNormalizer(j.Normalizer); err != nil {
		return nil, err
	}
	if e.pre, err = newHFPreTokenizer(j.PreTokenizer); err != nil {
		return nil, err
	}
	if e.post, err = newHFPost(j.PostProcessor); err != nil {
		return nil, err
	}
	if e.dec, err = newHFDecoder(j.Decoder); err != nil {
		return nil, err
	}
	e.byteLevel = strings.Contains(string(j.Decoder), `"ByteLevel"`)
	if e.byteLevel {
		e.dec, err = newHFDecoderWith(j.Decoder, e.addedContent)
		if err != nil {
			return nil, err
		}
	}

	n := 0
	for _, id := range bpe.vocab {
		n = max(n, int(id)+1)
	}
	for _, a := range j.AddedTokens {
		if a.ID < 0 {
			return nil, fmt.Errorf("%w: added token %q has id %d", ErrFormat, a.Content, a.ID)
		}
		n = max(n, int(a.ID)+1)
	}
	if n > 1<<24 {
		return nil, fmt.Errorf("%w: vocabulary of %d tokens", ErrFormat, n)
	}
	t := &Tokenizer{model: "hf", eng: e}
	t.init(n)
	for s, id := range bpe.vocab {
		if id < 0 {
			return nil, fmt.Errorf("%w: token %q has id %d", ErrFormat, s, id)
		}
		t.pieces[id] = s
		t.ids[s] = id
		t.attrs[id] = attrNormal
		if len(s) == 6 && strings.HasPrefix(s, "<0x") && s[5] == '>' {
			if _, ok := parseHexByte(s[3:5]); ok {
				t.attrs[id] = attrByte
			}
		}
	}
	if bpe.unk != NoToken {
		t.attrs[bpe.unk] = attrUnknown
		t.unk = bpe.unk
	}
	if err := e.finish(t, j.AddedTokens, cfg); err != nil {
		return nil, err
	}
	return t, nil
}

// newHFFromSentencePiece is FromHF for a directory with tokenizer.model but no tokenizer.json:
// transformers then converts the SentencePiece model into a BPE tokenizer (LlamaConverter in
// convert_slow_tokenizer.py): merges from the pieces, Prepend+Replace normalizer when legacy,
// else a Metaspace pre-tokenizer that prefixes the first piece; added tokens from
// tokenizer_config.json.
func newHFFromSentencePiece(m *SentencePieceModel, cfg hfConfig) (*Tokenizer, error) {
	if m.ModelType != SPBPE {
		return nil, fmt.Errorf("%w: SentencePiece model type %d (only BPE is implemented)", ErrUnsupported, m.ModelType)
	}
	bpe := spToBPE(m)
	e := &hfEngine{model: bpe, added: map[int32]*hfAdded{}, addedContent: map[string]bool{}, cleanUp: cfg.CleanUp == nil || *cfg.CleanUp}
	legacy := cfg.Legacy == nil || *cfg.Legacy
	addPrefix := cfg.AddPrefixSpace == nil || *cfg.AddPrefixSpace
	if legacy {
		norm := `{"type":"Replace","pattern":{"String":" "},"content":"\u2581"}`
		if addPrefix {
			norm = `{"type":"Sequence","normalizers":[{"type":"Prepend","prepend":"\u2581"},` + norm + `]}`
		}
		e.norm, _ = newHFNormalizer(json.RawMessage(norm))
	} else {
		scheme := "never"
		if addPrefix {
			scheme = "first"
		}
		e.pre, _ = newHFPreTokenizer(json.RawMessage(`{"type":"Metaspace","replacement":"\u2581","prepend_scheme":"` + scheme + `","split":false}`))
	}
	dec, _ := newHFDecoder(json.RawMessage(`{"type":"Sequence","decoders":[{"type":"Replace","pattern":{"String":"\u2581"},"content":" "},{"type":"ByteFallback"},{"type":"Fuse"},{"type":"Strip","content":" ","start":1,"stop":0}]}`))
	e.dec = dec
	var added []hfAddedJSON
	n := len(m.Pieces)
	for k, a := range cfg.AddedTokensDecoder {
		id, err := strconv.Atoi(k)
		if err != nil || id < 0 || id >= 1<<24 {
			return nil, fmt.Errorf("%w: added_tokens_decoder key %q", ErrFormat, k)
		}
		a.ID = int32(id)
		added = append(added, a)
		n = max(n, id+1)
	}
	sort.Slice(added, func(i, j int) bool { return added[i].ID < added[j].ID })
	t := &Tokenizer{model: "hf", eng: e}
	t.init(n)
	for i, p := range m.Pieces {
		t.pieces[i] = p.Piece
		t.scores[i] = p.Score
		t.ids[p.Piece] = int32(i)
		t.attrs[i] = typeAttr(TokenType(p.Type))
	}
	t.unk = bpe.unk
	if err := e.finish(t, added, cfg); err != nil {
		return nil, err
	}
	return t, nil
}

// finish adds the added tokens, the tokenizer_config.json special tokens and the
// post-processor's BOS/EOS to a tokenizer whose model vocabulary is set.
func (e *hfEngine) finish(t *Tokenizer, added []hfAddedJSON, cfg hfConfig) error {
	n := len(t.pieces)
	var rawPats, nrmPats []string
	var rawIDs, nrmIDs []*hfAdded
	for _, aj := range added {
		a := &hfAdded{id: aj.ID, content: aj.Content, special: aj.Special, lstrip: aj.Lstrip, rstrip: aj.Rstrip,
			singleWord: aj.SingleWord, normalized: !aj.Special}
		if aj.Normalized != nil {
			a.normalized = *aj.Normalized
		}
		e.added[a.id] = a
		e.addedContent[a.content] = true
		t.pieces[a.id] = a.content
		t.ids[a.content] = a.id
		if a.special {
			t.attrs[a.id] = attrControl
		} else {
			t.attrs[a.id] = attrUserDefined
		}
		if a.content == "" {
			continue
		}
		if a.normalized {
			p := a.content
			if e.norm != nil {
				p = e.norm(p)
			}
			nrmPats, nrmIDs = append(nrmPats, p), append(nrmIDs, a)
		} else {
			rawPats, rawIDs = append(rawPats, a.content), append(rawIDs, a)
		}
	}
	e.raw = newAddedMatcher(rawPats, rawIDs)
	e.nrm = newAddedMatcher(nrmPats, nrmIDs)

	if s, ok := tokenText(cfg.BOSToken); ok {
		t.bos = t.lookup(s)
	}
	if s, ok := tokenText(cfg.EOSToken); ok {
		t.eos = t.lookup(s)
	}
	if s, ok := tokenText(cfg.UNKToken); ok && t.unk == NoToken {
		t.unk = t.lookup(s)
	}
	if s, ok := tokenText(cfg.PADToken); ok {
		t.pad = t.lookup(s)
	}
	switch strings.TrimSuffix(cfg.TokenizerClass, "Fast") {
	case "LlamaTokenizer", "CodeLlamaTokenizer", "GemmaTokenizer":
		// transformers' LlamaTokenizerFast.update_post_processor rebuilds the template from
		// add_bos_token (default true) and add_eos_token (default false)
		addBOS, addEOS := cfg.AddBOSToken == nil || *cfg.AddBOSToken, cfg.AddEOSToken != nil && *cfg.AddEOSToken
		p := &hfPost{}
		if addBOS {
			if t.bos == NoToken {
				return fmt.Errorf("%w: add_bos_token without a BOS token", ErrFormat)
			}
			p.prefix = []int32{t.bos}
		}
		if addEOS {
			if t.eos == NoToken {
				return fmt.Errorf("%w: add_eos_token without an EOS token", ErrFormat)
			}
			p.suffix = []int32{t.eos}
		}
		e.post = p
	}
	if e.post != nil {
		for _, id := range append(append([]int32(nil), e.post.prefix...), e.post.suffix...) {
			if id < 0 || int(id) >= n {
				return fmt.Errorf("%w: post-processor token id %d outside the vocabulary", ErrFormat, id)
			}
		}
		t.addBOS = len(e.post.prefix) > 0 && (t.bos == NoToken || e.post.prefix[0] == t.bos)
		t.addEOS = len(e.post.suffix) > 0 && (t.eos == NoToken || e.post.suffix[len(e.post.suffix)-1] == t.eos)
		if t.bos == NoToken && len(e.post.prefix) > 0 {
			t.bos = e.post.prefix[0]
		}
	}
	for _, s := range []string{"<|eot_id|>", "<|im_end|>", "<end_of_turn>", "<|end|>"} {
		if id, ok := t.ids[s]; ok && t.eot == NoToken {
			t.eot = id
		}
	}
	for _, id := range []int32{t.eos, t.eot} {
		if id != NoToken {
			t.eog[id] = struct{}{}
		}
	}
	return nil
}

// addedMatcher finds added tokens leftmost-longest, as the aho-corasick automaton
// (MatchKind::LeftmostLongest) of tokenizers' AddedVocabulary.
type addedMatcher struct {
	root *trieNode
}

type trieNode struct {
	next map[byte]*trieNode
	tok  *hfAdded
}

func newAddedMatcher(pats []string, toks []*hfAdded) *addedMatcher {
	if len(pats) == 0 {
		return nil
	}
	root := &trieNode{}
	for i, p := range pats {
		if p == "" {
			continue
		}
		n := root
		for k := 0; k < len(p); k++ {
			if n.next == nil {
				n.next = map[byte]*trieNode{}
			}
			c := n.next[p[k]]
			if c == nil {
				c = &trieNode{}
				n.next[p[k]] = c
			}
			n = c
		}
		if n.tok == nil {
			n.tok = toks[i]
		}
	}
	return &addedMatcher{root: root}
}

// longest returns the longest token starting at s[i:], or nil.
func (m *addedMatcher) longest(s string, i int) (*hfAdded, int) {
	var best *hfAdded
	end := 0
	n := m.root
	for k := i; k < len(s); k++ {
		n = n.next[s[k]]
		if n == nil {
			break
		}
		if n.tok != nil {
			best, end = n.tok, k+1
		}
	}
	return best, end
}

// hfSeg is a piece of the input: text or an added token.
type hfSeg struct {
	s     string
	first bool
	tok   int32
}

func isWordChar(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) || r == '_' }

// splitAdded is AddedVocabulary::find_matches + split_with_indices.
func (e *hfEngine) splitAdded(dst []hfSeg, s string, first bool, m *addedMatcher, parseSpecial bool) []hfSeg {
	if m == nil || s == "" {
		if s != "" {
			dst = append(dst, hfSeg{s, first, NoToken})
		}
		return dst
	}
	startOff := 0
	emit := func(a, b int, tok int32) {
		if b > a {
			dst = append(dst, hfSeg{s[a:b], first && a == 0, tok})
		}
	}
	for i := 0; i < len(s); {
		a, end := m.longest(s, i)
		if a == nil {
			i++
			continue
		}
		start, stop := i, end
		i = end
		if !parseSpecial && a.special {
			continue
		}
		if a.singleWord {
			l, _ := utf8.DecodeLastRuneInString(s[:start])
			r, _ := utf8.DecodeRuneInString(s[stop:])
			if start > 0 && isWordChar(l) || stop < len(s) && isWordChar(r) {
				continue
			}
		}
		if a.lstrip {
			ns := len(strings.TrimRightFunc(s[:start], unicode.IsSpace))
			start = max(ns, startOff)
		}
		if a.rstrip {
			stop += len(s[stop:]) - len(strings.TrimLeftFunc(s[stop:], unicode.IsSpace))
			i = stop
		}
		if start < startOff {
			start = startOff
		}
		emit(startOff, start, NoToken)
		dst = append(dst, hfSeg{s[start:stop], first && start == 0, a.id})
		startOff = stop
	}
	emit(startOff, len(s), NoToken)
	return dst
}

func (e *hfEngine) encode(t *Tokenizer, text string, addSpecial, parseSpecial bool, out []int32) []int32 {
	if addSpecial && e.post != nil {
		out = append(out, e.post.prefix...)
	}
	for _, seg := range e.splitAdded(nil, text, true, e.raw, parseSpecial) {
		if seg.tok != NoToken {
			out = append(out, seg.tok)
			continue
		}
		s := seg.s
		if e.norm != nil {
			s = e.norm(s)
		}
		for _, seg2 := range e.splitAdded(nil, s, seg.first, e.nrm, parseSpecial) {
			if seg2.tok != NoToken {
				out = append(out, seg2.tok)
				continue
			}
			if e.pre == nil {
				out = e.model.tokenize(seg2.s, out)
				continue
			}
			for _, p := range e.pre(hfPiece{seg2.s, seg2.first}) {
				out = e.model.tokenize(p.s, out)
			}
		}
	}
	if addSpecial && e.post != nil {
		out = append(out, e.post.suffix...)
	}
	return out
}

func (e *hfEngine) detokenize(t *Tokenizer, ids []int32, removeSpecial, unparseSpecial bool) string {
	var toks []string
	for _, id := range ids {
		if id < 0 || int(id) >= len(t.pieces) {
			continue
		}
		if a, ok := e.added[id]; ok && a.special && !unparseSpecial {
			continue
		}
		toks = append(toks, t.pieces[id])
	}
	var text string
	if e.dec != nil {
		text = strings.Join(e.dec(toks), "")
	} else {
		text = strings.Join(toks, " ")
	}
	if e.cleanUp {
		text = cleanUpTokenization(text)
	}
	return text
}

// cleanUpTokenization is transformers' clean_up_tokenization.
func cleanUpTokenization(s string) string {
	for _, p := range [][2]string{{" .", "."}, {" ?", "?"}, {" !", "!"}, {" ,", ","}, {" ' ", "'"}, {" n't", "n't"},
		{" 'm", "'m"}, {" 's", "'s"}, {" 've", "'ve"}, {" 're", "'re"}} {
		s = strings.ReplaceAll(s, p[0], p[1])
	}
	return s
}

func (e *hfEngine) piece(t *Tokenizer, id int32) string {
	s := t.pieces[id]
	if _, ok := e.added[id]; ok {
		return s
	}
	if e.byteLevel {
		return llamaDecodeText(s)
	}
	if t.attrs[id] == attrByte {
		v, _ := parseHexByte(s[3:5])
		return string([]byte{v})
	}
	return strings.ReplaceAll(s, "\u2581", " ")
}
