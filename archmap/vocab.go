package archmap

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/ggufy/ggufy/gguf"
	"github.com/ggufy/ggufy/tokenizer"
)

// Token types of llama.cpp's vocabularies (gguf-py TokenType / SentencePieceTokenTypes).
const (
	tokNormal      = 1
	tokUnknown     = 2
	tokControl     = 3
	tokUserDefined = 4
	tokUnused      = 5
	tokByte        = 6
)

// errNoFile marks a missing tokenizer file, so families can fall back as the converter does
// (FileNotFoundError).
var errNoFile = errors.New("file not found")

// looksSpecial mirrors TextModel.does_token_look_special.
func looksSpecial(tok string) bool {
	switch tok {
	case "<pad>", "<mask>", "<2mass>", "[@BOS@]":
		return true
	}
	return (strings.HasPrefix(tok, "<|") && strings.HasSuffix(tok, "|>")) ||
		(strings.HasPrefix(tok, "<｜") && strings.HasSuffix(tok, "｜>")) ||
		(strings.HasPrefix(tok, "<unused") && strings.HasSuffix(tok, ">"))
}

// readJSON reads dir/name if it exists (nil, nil if not).
func (c *Converter) readJSON(name string) (map[string]any, error) {
	m, err := loadJSON(filepath.Join(c.Dir, name))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	return m, err
}

// SentencePieceVocab writes a SentencePiece vocabulary (_set_vocab_sentencepiece). It returns an
// error wrapping errNoFile when tokenizer.model is absent.
func (c *Converter) SentencePieceVocab() error {
	tokens, scores, types, err := c.sentencePieceTokens()
	if err != nil {
		return err
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

// sentencePieceTokens mirrors _create_vocab_sentencepiece.
func (c *Converter) sentencePieceTokens() ([]string, []float32, []int32, error) {
	path := filepath.Join(c.Dir, "tokenizer.model")
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil, nil, fmt.Errorf("%s: %w", path, errNoFile)
		}
		return nil, nil, nil, err
	}
	sp, err := tokenizer.ParseSentencePiece(f)
	f.Close()
	if err != nil {
		return nil, nil, nil, fmt.Errorf("archmap: %s: %w", path, err)
	}
	vocabSize := int64(len(sp.Pieces))
	if v, ok := c.HParams.FindInt("vocab_size_per_layer_input", "vocab_size"); ok && v != 0 {
		vocabSize = v
	}
	if vocabSize <= 0 || vocabSize > 1<<24 {
		return nil, nil, nil, fmt.Errorf("%w: vocab_size %d", ErrConfig, vocabSize)
	}
	tokens := make([]string, vocabSize)
	scores := make([]float32, vocabSize)
	types := make([]int32, vocabSize)
	for i := range tokens {
		tokens[i] = fmt.Sprintf("[PAD%d]", i)
		scores[i] = -10000
		types[i] = tokUnused
	}
	for id, p := range sp.Pieces {
		if int64(id) >= vocabSize {
			c.Warnf("ignore tokens from %d: id is out of range, max=%d", id, vocabSize-1)
			break
		}
		typ := int32(tokNormal)
		switch p.Type {
		case tokenizer.PieceUnknown:
			typ = tokUnknown
		case tokenizer.PieceControl:
			typ = tokControl
		case tokenizer.PieceUnused:
			typ = tokUnused
		case tokenizer.PieceByte:
			typ = tokByte
		}
		tokens[id], scores[id], types[id] = p.Piece, p.Score, typ
	}
	if added, err := c.readJSON("added_tokens.json"); err != nil {
		return nil, nil, nil, err
	} else if added != nil {
		for _, k := range jsonKeysInOrder(filepath.Join(c.Dir, "added_tokens.json"), added) {
			id, ok := asInt(added[k])
			if !ok {
				continue
			}
			if id >= vocabSize || id < 0 {
				c.Warnf("ignore token %d: id is out of range, max=%d", id, vocabSize-1)
				continue
			}
			tokens[id], scores[id], types[id] = k, -1000, tokUserDefined
		}
	}
	tc, err := c.readJSON("tokenizer_config.json")
	if err != nil {
		return nil, nil, nil, err
	}
	if dec, ok := tc["added_tokens_decoder"].(map[string]any); ok {
		for _, k := range jsonKeysInOrder(filepath.Join(c.Dir, "tokenizer_config.json"), dec) {
			id, err := strconv.ParseInt(k, 10, 64)
			if err != nil {
				continue
			}
			data, _ := dec[k].(map[string]any)
			content, _ := data["content"].(string)
			if id >= vocabSize || id < 0 {
				c.Warnf("ignore token %d: id is out of range, max=%d", id, vocabSize-1)
				continue
			}
			if truthy(data["special"]) || looksSpecial(content) {
				types[id] = tokControl
			} else {
				content = strings.ReplaceAll(content, "\u2581", " ")
				types[id] = tokUserDefined
			}
			scores[id] = -1000
			tokens[id] = content
		}
	}
	return tokens, scores, types, nil
}

// jsonKeysInOrder returns the keys of the top-level object in file order when m is that object,
// or of the nested object m (found by searching the file); Python dicts keep insertion order.
func jsonKeysInOrder(path string, m map[string]any) []string {
	b, err := os.ReadFile(path)
	if err == nil {
		if keys := objectKeyOrder(b, m); keys != nil {
			return keys
		}
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// objectKeyOrder finds, in the JSON text b, an object whose key set equals m's and returns its
// keys in text order.
func objectKeyOrder(b []byte, m map[string]any) []string {
	var found []string
	var walk func(dec *json.Decoder) error
	walk = func(dec *json.Decoder) error {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		switch tok {
		case json.Delim('{'):
			var keys []string
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return err
				}
				k, _ := kt.(string)
				keys = append(keys, k)
				if err := walk(dec); err != nil {
					return err
				}
			}
			if _, err := dec.Token(); err != nil {
				return err
			}
			if found == nil && len(keys) == len(m) {
				match := true
				for _, k := range keys {
					if _, ok := m[k]; !ok {
						match = false
						break
					}
				}
				if match {
					found = keys
				}
			}
		case json.Delim('['):
			for dec.More() {
				if err := walk(dec); err != nil {
					return err
				}
			}
			if _, err := dec.Token(); err != nil {
				return err
			}
		}
		return nil
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.UseNumber()
	if walk(dec) != nil {
		return nil
	}
	return found
}

// specialVocab mirrors gguf-py's SpecialVocab.
type specialVocab struct {
	merges        []string
	loadMerges    bool
	types         []string
	ids           []kvInt // insertion order
	add           []kvBool
	chatTemplate  any // nil, string or []map
	lowercase     *bool
	stripAccents  *bool
	nVocab        int
	tokenizerJSON map[string]any
}

type kvInt struct {
	typ string
	id  int64
}
type kvBool struct {
	typ string
	v   bool
}

func (s *specialVocab) setAdd(typ string, v bool) {
	for i := range s.add {
		if s.add[i].typ == typ {
			s.add[i].v = v
			return
		}
	}
	s.add = append(s.add, kvBool{typ, v})
}

func (s *specialVocab) hasID(typ string) bool {
	for _, e := range s.ids {
		if e.typ == typ {
			return true
		}
	}
	return false
}

// setID mirrors _set_special_token.
func (s *specialVocab) setID(c *Converter, typ string, v any) error {
	id, ok := asInt(v)
	if !ok || !isIntValue(v) {
		return nil
	}
	if id < 0 {
		return fmt.Errorf("%w: invalid value for special token type %s: %d", ErrConfig, typ, id)
	}
	if s.nVocab <= 0 || id < int64(s.nVocab) {
		if !s.hasID(typ) {
			s.ids = append(s.ids, kvInt{typ, id})
		}
		return nil
	}
	c.Warnf("special token type %s, id %d out of range, must be under %d - skipping", typ, id, s.nVocab)
	return nil
}

func isIntValue(v any) bool { return isJSONInt(v) || isGoInt(v) }

// newSpecialVocab loads special tokens, merges and the chat template (SpecialVocab.__init__).
func (c *Converter) newSpecialVocab(loadMerges bool, types []string, nVocab int) (*specialVocab, error) {
	s := &specialVocab{loadMerges: loadMerges, nVocab: nVocab, types: types}
	if s.types == nil {
		s.types = []string{"bos", "eos", "unk", "sep", "pad", "cls", "mask"}
	}
	if err := s.fromTokenizerJSON(c); err != nil {
		return nil, err
	}
	if err := s.fromConfigJSON(c); err != nil {
		return nil, err
	}
	if s.loadMerges && len(s.merges) == 0 {
		s.mergesTxt(c)
	}
	return s, nil
}

func (s *specialVocab) mergesTxt(c *Converter) {
	b, err := os.ReadFile(filepath.Join(c.Dir, "merges.txt"))
	if err != nil {
		return
	}
	lines := strings.Split(string(b), "\n")
	if len(lines) > 0 && strings.HasPrefix(strings.TrimSpace(lines[0]), "#") {
		lines = lines[1:]
	}
	var merges []string
	for _, l := range lines {
		l = strings.TrimSpace(l)
		if l == "" {
			continue
		}
		parts := strings.Fields(l)
		if len(parts) != 2 {
			c.Warnf("merges.txt: entry %q malformed, ignoring", l)
			continue
		}
		merges = append(merges, parts[0]+" "+parts[1])
	}
	s.merges = merges
}

func (s *specialVocab) parseNormalizer(n map[string]any) {
	t := true
	switch n["type"] {
	case "Lowercase":
		s.lowercase = &t
	case "StripAccents":
		s.stripAccents = &t
	case "BertNormalizer":
		if v, ok := n["lowercase"].(bool); ok {
			s.lowercase = &v
		}
		if v, ok := n["strip_accents"].(bool); ok {
			s.stripAccents = &v
		}
	case "Sequence":
		for _, sub := range listOf(n["normalizers"]) {
			if m, ok := sub.(map[string]any); ok {
				s.parseNormalizer(m)
			}
		}
	}
}

func tokenContent(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case map[string]any:
		s, ok := x["content"].(string)
		return s, ok
	}
	return "", false
}

func (s *specialVocab) fromTokenizerJSON(c *Converter) error {
	tok, err := c.readJSON("tokenizer.json")
	if err != nil {
		return err
	}
	s.tokenizerJSON = tok
	var added []any
	if tok != nil {
		if s.loadMerges {
			model, _ := tok["model"].(map[string]any)
			if merges, ok := model["merges"].([]any); ok && len(merges) > 0 {
				switch merges[0].(type) {
				case string:
					for _, m := range merges {
						ms, _ := m.(string)
						s.merges = append(s.merges, ms)
					}
				case []any:
					for _, m := range merges {
						pair, _ := m.([]any)
						if len(pair) != 2 {
							return fmt.Errorf("archmap: tokenizer.json: unknown merges format")
						}
						var parts [2]string
						for i, p := range pair {
							ps, _ := p.(string)
							// Spaces inside merge parts are encoded as U+0120 (' ' + 256).
							parts[i] = strings.ReplaceAll(ps, " ", "\u0120")
						}
						s.merges = append(s.merges, parts[0]+" "+parts[1])
					}
				default:
					return fmt.Errorf("archmap: tokenizer.json: unknown merges format")
				}
			}
		}
		if n, ok := tok["normalizer"].(map[string]any); ok {
			s.parseNormalizer(n)
		}
		added, _ = tok["added_tokens"].([]any)
	}
	tc, err := c.readJSON("tokenizer_config.json")
	if err != nil {
		return err
	}
	if tok != nil {
		get := func(k string) any {
			if tc == nil {
				return nil
			}
			return tc[k]
		}
		bos, cls, eos, sep := get("bos_token"), get("cls_token"), get("eos_token"), get("sep_token")
		if !truthy(bos) && truthy(cls) && tc != nil {
			tc["bos_token"], bos = cls, cls
		}
		if !truthy(eos) && truthy(sep) && tc != nil {
			tc["eos_token"], eos = sep, sep
		}
		if pp, ok := tok["post_processor"].(map[string]any); ok {
			procs := []any{pp}
			if ps, ok := pp["processors"].([]any); ok {
				procs = ps
			}
			for _, p := range procs {
				proc, _ := p.(map[string]any)
				switch proc["type"] {
				case "RobertaProcessing":
					s.setAdd("bos", true)
					s.setAdd("eos", true)
					s.setAdd("sep", true)
					if !truthy(cls) && tc != nil {
						if l, ok := proc["cls"].([]any); ok && len(l) > 0 {
							cls = l[0]
						} else {
							cls = bos
						}
						tc["cls_token"] = cls
					}
					if !truthy(sep) && tc != nil {
						if l, ok := proc["sep"].([]any); ok && len(l) > 0 {
							sep = l[0]
						} else {
							sep = eos
						}
						tc["sep_token"] = sep
					}
				case "TemplateProcessing":
					if err := s.templateProcessing(c, proc, tc, &bos, &cls, &eos, &sep); err != nil {
						return err
					}
				}
			}
		}
	}
	if tc == nil {
		return nil
	}
	// Chat template: tokenizer_config.json's, else chat_template.jinja (+ additional ones), else
	// chat_template.json.
	var alt any
	if b, err := os.ReadFile(filepath.Join(c.Dir, "chat_template.jinja")); err == nil {
		alt = string(b)
		extra, _ := filepath.Glob(filepath.Join(c.Dir, "additional_chat_templates", "*.jinja"))
		if len(extra) > 0 {
			list := []map[string]string{{"name": "default", "template": string(b)}}
			for _, p := range extra {
				tb, err := os.ReadFile(p)
				if err != nil {
					return err
				}
				list = append(list, map[string]string{"name": strings.TrimSuffix(filepath.Base(p), ".jinja"), "template": string(tb)})
			}
			alt = list
		}
	} else if ct, err := c.readJSON("chat_template.json"); err == nil && ct != nil {
		alt = ct["chat_template"]
	}
	ct, has := tc["chat_template"]
	if !has {
		ct = alt
	}
	switch x := ct.(type) {
	case nil, string:
		s.chatTemplate = x
	case []any:
		var list []map[string]string
		for _, e := range x {
			m, _ := e.(map[string]any)
			entry := map[string]string{}
			if n, ok := m["name"].(string); ok {
				entry["name"] = n
			}
			if t, ok := m["template"].(string); ok {
				entry["template"] = t
			}
			list = append(list, entry)
		}
		s.chatTemplate = list
	case []map[string]string:
		s.chatTemplate = x
	default:
		c.Warnf("bad type for chat_template in tokenizer_config.json - ignoring")
	}
	for _, typ := range s.types {
		if v, ok := tc["add_"+typ+"_token"].(bool); ok {
			s.setAdd(typ, v)
		}
		content, ok := tokenContent(tc[typ+"_token"])
		if !ok {
			continue
		}
		var id any
		for _, a := range added {
			am, _ := a.(map[string]any)
			if am["content"] == content {
				id = am["id"]
				break
			}
		}
		if err := s.setID(c, typ, id); err != nil {
			return err
		}
	}
	return nil
}

// templateProcessing mirrors the crude TemplateProcessing parsing of SpecialVocab.
func (s *specialVocab) templateProcessing(c *Converter, proc, tc map[string]any, bos, cls, eos, sep *any) error {
	special := func(e any) string {
		m, _ := e.(map[string]any)
		st, _ := m["SpecialToken"].(map[string]any)
		id, _ := st["id"].(string)
		return id
	}
	seqID := func(e any) string {
		m, _ := e.(map[string]any)
		st, _ := m["Sequence"].(map[string]any)
		id, _ := st["id"].(string)
		return id
	}
	single, _ := proc["single"].([]any)
	pair, _ := proc["pair"].([]any)
	var first, last string
	eq := func(a string, b any) bool { s, ok := b.(string); return ok && a == s }
	if len(single) > 1 {
		if first = special(single[0]); first != "" {
			if tc == nil {
				*bos = first
			} else if !eq(first, *bos) && !eq(first, *cls) {
				if !truthy(*bos) {
					tc["bos_token"], *bos = first, first
				}
				if !truthy(*cls) {
					tc["cls_token"], *cls = first, first
				}
			}
			s.setAdd("bos", eq(first, *bos) || eq(first, *cls))
			if !eq(first, *bos) && !eq(first, *cls) {
				c.Warnf("unknown leading special token %q in TemplateProcessing<single>", first)
			}
		}
		if last = special(single[len(single)-1]); last != "" {
			if tc == nil {
				*eos = last
			} else if !eq(last, *eos) {
				if !contains(s.types, "eot") {
					s.types = append(s.types, "eot")
					tc["eot_token"] = *eos
				} else if !contains(s.types, "eom") {
					s.types = append(s.types, "eom")
					tc["eom_token"] = *eos
				} else {
					c.Warnf("overriding EOS token %v with %q without EOT/EOM fallback", *eos, last)
				}
				tc["eos_token"], *eos = last, last
			}
			s.setAdd("eos", eq(last, *eos))
		}
	}
	if len(pair) > 0 {
		start, stop := 0, len(pair)
		if first != "" && special(pair[0]) == first {
			start = 1
		}
		if last != "" && special(pair[len(pair)-1]) == last {
			stop = len(pair) - 1
		}
		if start < stop {
			mid := pair[start:stop]
			a, b := seqID(mid[0]), seqID(mid[len(mid)-1])
			if a == "A" && b == "B" && len(mid) > 2 {
				mid = mid[1 : len(mid)-1]
				addSep := false
				if e := special(mid[0]); e != "" {
					if (eq(e, *sep) || eq(e, *eos)) && last == "" {
						addSep = true
					}
				}
				if len(mid) == 2 {
					if e := special(mid[1]); e != "" && (eq(e, *sep) || eq(e, *eos)) {
						addSep = true
					}
				}
				s.setAdd("sep", addSep)
				if addSep && !truthy(*sep) && tc != nil {
					tc["sep_token"] = *eos
				}
			}
		}
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}

func (s *specialVocab) fromConfigJSON(c *Converter) error {
	cfg, err := c.readJSON("config.json")
	if err != nil || cfg == nil {
		return err
	}
	tc, _ := cfg["text_config"].(map[string]any)
	for _, typ := range s.types {
		v, ok := cfg[typ+"_token_id"]
		if (!ok || v == nil) && tc != nil {
			v = tc[typ+"_token_id"]
		}
		if err := s.setID(c, typ, v); err != nil {
			return err
		}
	}
	return nil
}

// setToken forces a special token id (SpecialVocab._set_special_token from a family).
func (s *specialVocab) setToken(c *Converter, typ string, id int64) error {
	return s.setID(c, typ, id)
}

// addTo writes the special vocabulary (SpecialVocab.add_to_gguf).
func (s *specialVocab) addTo(c *Converter) error {
	if len(s.merges) > 0 {
		c.AddStrings("tokenizer.ggml.merges", s.merges)
	} else if s.loadMerges {
		c.Warnf("adding merges requested but no merges found, output may be non-functional")
	}
	idKeys := map[string]string{"bos": "tokenizer.ggml.bos_token_id", "eos": "tokenizer.ggml.eos_token_id",
		"unk": "tokenizer.ggml.unknown_token_id", "sep": "tokenizer.ggml.seperator_token_id",
		"pad": "tokenizer.ggml.padding_token_id", "mask": "tokenizer.ggml.mask_token_id",
		"eot": "tokenizer.ggml.eot_token_id", "eom": "tokenizer.ggml.eom_token_id"}
	for _, e := range s.ids {
		key, ok := idKeys[e.typ]
		if !ok {
			continue // no handler in GGUFWriter (cls, prefix, suffix, middle, fsep)
		}
		c.AddUint32(key, e.id)
	}
	addKeys := map[string]string{"bos": "tokenizer.ggml.add_bos_token", "eos": "tokenizer.ggml.add_eos_token", "sep": "tokenizer.ggml.add_sep_token"}
	for _, e := range s.add {
		if key, ok := addKeys[e.typ]; ok {
			c.AddBool(key, e.v)
		}
	}
	switch t := s.chatTemplate.(type) {
	case string:
		c.AddString("tokenizer.chat_template", t)
	case []map[string]string:
		var def *string
		var names []string
		for _, e := range t {
			name := e["name"]
			tmpl, hasT := e["template"]
			name = strings.Map(func(r rune) rune {
				if r < 128 && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
					return r
				}
				return '_'
			}, name)
			if name == "" || !hasT {
				continue
			}
			if name == "default" {
				tm := tmpl
				def = &tm
			} else {
				names = append(names, name)
				c.AddString("tokenizer.chat_template."+name, tmpl)
			}
		}
		// gguf-py collects the names in a set; its iteration order is not stable across
		// Python runs, so keep them sorted.
		sort.Strings(names)
		c.AddStrings("tokenizer.chat_templates", names)
		if def != nil {
			c.AddString("tokenizer.chat_template", *def)
		}
	}
	// A nil template writes nothing: add_to_gguf only calls add_chat_template for a template
	// that is not None, so a template written earlier stays (GemmaModel's second special
	// vocabulary sets chat_template = None "to not add it twice").
	if s.lowercase != nil {
		c.AddBool("tokenizer.ggml.normalizer.lowercase", *s.lowercase)
	}
	if s.stripAccents != nil {
		c.AddBool("tokenizer.ggml.normalizer.strip_accents", *s.stripAccents)
	}
	return nil
}
