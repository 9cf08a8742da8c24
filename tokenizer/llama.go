package tokenizer

import (
	"strings"
	"sync"
)

// This file reimplements llama.cpp's tokenizer for SPM and BPE vocabularies
// (src/llama-vocab.cpp, MIT): tokenizer_st_partition, llm_tokenizer_spm_session,
// llm_tokenizer_bpe_session, token_to_piece and detokenize.

type vocabKind int

const (
	kindSPM vocabKind = iota
	kindBPE
	kindWPM
)

// llamaVocab is the engine with llama.cpp's semantics.
type llamaVocab struct {
	kind    vocabKind
	merges  map[string]int32 // "left right" -> rank (BPE)
	split   *regexSplitter   // BPE pre-tokenizer
	special []int32          // cache_special_tokens, longest first

	addSpacePrefix, escapeWS, cleanSpaces, ignoreMerges, removeExtraWS, gemma4 bool

	lowercase, stripAccents bool // WPM normalizer options
	maxTokenLen             int

	piecesOnce sync.Once
	pieceCache []string

	scratch sync.Pool // *llamaScratch
}

type llamaScratch struct {
	frags, frags2 []fragment
	syms          []symbol
	heap          bigramHeap
	split         splitScratch
	buf           []byte
}

// fragment is a piece of the input: a token already identified, or raw text [off, off+n).
type fragment struct {
	tok    int32 // NoToken for raw text
	off, n int
}

// cIsSpace is isspace in the C locale.
func cIsSpace(c byte) bool {
	return c == ' ' || c >= '\t' && c <= '\r'
}

// partition is tokenizer_st_partition: it splits the special tokens out of the text, longest
// first; control and unknown tokens only when parseSpecial.
func (lv *llamaVocab) partition(t *Tokenizer, text string, parseSpecial bool, sc *llamaScratch) []fragment {
	frags := sc.frags[:0]
	if text == "" {
		return frags
	}
	frags = append(frags, fragment{NoToken, 0, len(text)})
	next := sc.frags2[:0]
	for _, id := range lv.special {
		a := t.attrs[id]
		if !parseSpecial && a&(attrControl|attrUnknown) != 0 {
			continue
		}
		tok := t.pieces[id]
		if !strings.Contains(text, tok) {
			continue
		}
		next = next[:0]
		for _, f := range frags {
			if f.tok != NoToken {
				next = append(next, f)
				continue
			}
			base, length := f.off, f.n
			for {
				i := strings.Index(text[base:base+length], tok)
				if i < 0 {
					if length > 0 {
						next = append(next, fragment{NoToken, base, length})
					}
					break
				}
				match := base + i
				if match > base {
					left := match - base
					if a&attrLstrip != 0 {
						for left > 0 && cIsSpace(text[base+left-1]) {
							left--
						}
					}
					if left > 0 {
						next = append(next, fragment{NoToken, base, left})
					}
				}
				next = append(next, fragment{id, 0, 0})
				if match+len(tok) >= base+length {
					break
				}
				roff := match + len(tok)
				rlen := length - (match - base + len(tok))
				if a&attrRstrip != 0 {
					for rlen > 0 && cIsSpace(text[roff]) {
						roff++
						rlen--
					}
				}
				base, length = roff, rlen
			}
		}
		frags, next = next, frags
	}
	sc.frags, sc.frags2 = frags, next
	return frags
}

func (lv *llamaVocab) getScratch() *llamaScratch {
	if sc, ok := lv.scratch.Get().(*llamaScratch); ok {
		return sc
	}
	return &llamaScratch{}
}

func (lv *llamaVocab) encode(t *Tokenizer, text string, addSpecial, parseSpecial bool, out []int32) []int32 {
	sc := lv.getScratch()
	defer lv.scratch.Put(sc)
	frags := lv.partition(t, text, parseSpecial, sc)
	switch lv.kind {
	case kindSPM:
		prevSpecial := true
		if addSpecial && t.addBOS && t.bos != NoToken {
			out = append(out, t.bos)
		}
		for _, f := range frags {
			if f.tok != NoToken {
				out = append(out, f.tok)
				prevSpecial = true
				continue
			}
			b := sc.buf[:0]
			if lv.addSpacePrefix && prevSpecial {
				b = append(b, "\u2581"...)
			}
			b = appendEscaped(b, text[f.off:f.off+f.n])
			sc.buf = b
			out = lv.spm(t, b, out, sc)
			prevSpecial = false
		}
		if addSpecial && t.addEOS && t.eos != NoToken {
			out = append(out, t.eos)
		}
	case kindWPM:
		if addSpecial && t.bos != NoToken {
			out = append(out, t.bos)
		}
		for _, f := range frags {
			if f.tok != NoToken {
				out = append(out, f.tok)
			} else {
				out = lv.wpm(t, text[f.off:f.off+f.n], out, sc)
			}
		}
		if addSpecial && t.sep != NoToken {
			out = append(out, t.sep)
		}
	case kindBPE:
		if addSpecial && t.addBOS && t.bos != NoToken {
			out = append(out, t.bos)
		}
		for _, f := range frags {
			if f.tok != NoToken {
				out = append(out, f.tok)
				continue
			}
			s := text[f.off : f.off+f.n]
			if lv.escapeWS {
				sc.buf = appendEscaped(sc.buf[:0], s)
				s = string(sc.buf)
			}
			lv.split.words(s, &sc.split, func(w []byte) {
				out = lv.bpeWord(t, w, out, sc)
			})
		}
		if addSpecial && t.addEOS && t.eos != NoToken {
			out = append(out, t.eos)
		}
	}
	return out
}

// appendEscaped is llama_escape_whitespace: spaces become U+2581.
func appendEscaped(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if s[i] == ' ' {
			dst = append(dst, "\u2581"...)
		} else {
			dst = append(dst, s[i])
		}
	}
	return dst
}

// symbol is llm_symbol: a run [start, start+n) of the word being merged.
type symbol struct {
	start, n   int32
	prev, next int32
}

// bigram is llm_bigram_spm / llm_bigram_bpe.
type bigram struct {
	left, right int32
	score       float32 // SPM: token score (higher first)
	rank        int32   // BPE: merge rank (lower first)
	lsize, size int32   // sizes when queued, to recognise outdated entries
}

// bigramHeap is a binary max-heap with llama.cpp's comparators: SPM by score (higher first),
// BPE by rank (lower first), then by left position (lower first).
type bigramHeap struct {
	items []bigram
	bpe   bool
}

func (h *bigramHeap) before(a, b *bigram) bool {
	if h.bpe {
		if a.rank != b.rank {
			return a.rank < b.rank
		}
		return a.left < b.left
	}
	if a.score != b.score {
		return a.score > b.score
	}
	return a.left < b.left
}

func (h *bigramHeap) push(b bigram) {
	h.items = append(h.items, b)
	i := len(h.items) - 1
	for i > 0 {
		p := (i - 1) / 2
		if !h.before(&h.items[i], &h.items[p]) {
			break
		}
		h.items[i], h.items[p] = h.items[p], h.items[i]
		i = p
	}
}

func (h *bigramHeap) pop() bigram {
	top := h.items[0]
	last := len(h.items) - 1
	h.items[0] = h.items[last]
	h.items = h.items[:last]
	i := 0
	for {
		l := 2*i + 1
		if l >= last {
			break
		}
		c := l
		if r := l + 1; r < last && h.before(&h.items[r], &h.items[l]) {
			c = r
		}
		if !h.before(&h.items[c], &h.items[i]) {
			break
		}
		h.items[i], h.items[c] = h.items[c], h.items[i]
		i = c
	}
	return top
}

func splitSymbols(syms []symbol, w []byte) []symbol {
	syms = syms[:0]
	for off := 0; off < len(w); {
		n := min(utf8Len(w[off]), len(w)-off)
		i := int32(len(syms))
		next := i + 1
		if off+n == len(w) {
			next = -1
		}
		syms = append(syms, symbol{start: int32(off), n: int32(n), prev: i - 1, next: next})
		off += n
	}
	return syms
}

// spm is llm_tokenizer_spm_session::tokenize on escaped text.
func (lv *llamaVocab) spm(t *Tokenizer, w []byte, out []int32, sc *llamaScratch) []int32 {
	syms := splitSymbols(sc.syms, w)
	h := &sc.heap
	h.items, h.bpe = h.items[:0], false
	tryAdd := func(l, r int32) {
		if l < 0 || r < 0 {
			return
		}
		a, b := syms[l], syms[r]
		id := t.lookupBytes(w[a.start : b.start+b.n])
		if id == NoToken {
			return
		}
		h.push(bigram{left: l, right: r, score: t.scores[id], size: a.n + b.n})
	}
	for i := 1; i < len(syms); i++ {
		tryAdd(int32(i-1), int32(i))
	}
	for len(h.items) > 0 {
		bg := h.pop()
		l, r := &syms[bg.left], &syms[bg.right]
		if l.n == 0 || r.n == 0 || l.n+r.n != bg.size {
			continue
		}
		l.n += r.n
		r.n = 0
		l.next = r.next
		if r.next >= 0 {
			syms[r.next].prev = bg.left
		}
		tryAdd(l.prev, bg.left)
		tryAdd(bg.left, l.next)
	}
	if len(syms) > 0 {
		for i := int32(0); i != -1; i = syms[i].next {
			s := syms[i]
			piece := w[s.start : s.start+s.n]
			if id := t.lookupBytes(piece); id != NoToken {
				out = append(out, id)
				continue
			}
			// llama.cpp's resegment: the merge history cannot help here (merges always form
			// tokens), so every byte goes out as a byte token
			for _, b := range piece {
				if id := lv.byteToken(t, b); id != NoToken {
					out = append(out, id)
				} else if t.unk != NoToken {
					out = append(out, t.unk) // llama.cpp throws std::out_of_range here
				}
			}
		}
	}
	sc.syms = syms
	return out
}

const hexDigits = "0123456789ABCDEF"

// byteToken is llama_vocab::byte_to_token for SPM vocabularies.
func (lv *llamaVocab) byteToken(t *Tokenizer, b byte) int32 {
	buf := [6]byte{'<', '0', 'x', hexDigits[b>>4], hexDigits[b&15], '>'}
	if id := t.lookupBytes(buf[:]); id != NoToken {
		return id
	}
	return t.lookupBytes([]byte{b})
}

// bpeWord is one word of llm_tokenizer_bpe_session::tokenize.
func (lv *llamaVocab) bpeWord(t *Tokenizer, w []byte, out []int32, sc *llamaScratch) []int32 {
	syms := sc.syms[:0]
	whole := false
	if lv.ignoreMerges && t.lookupBytes(w) != NoToken {
		whole = true
	} else if lv.gemma4 && allNewlines(w) && t.lookupBytes(w) != NoToken {
		whole = true
	}
	if whole {
		syms = append(syms, symbol{start: 0, n: int32(len(w)), prev: -1, next: -1})
	} else {
		syms = splitSymbols(syms, w)
	}
	h := &sc.heap
	h.items, h.bpe = h.items[:0], true
	key := sc.buf
	add := func(l, r int32) {
		if l < 0 || r < 0 {
			return
		}
		a, b := syms[l], syms[r]
		key = append(key[:0], w[a.start:a.start+a.n]...)
		key = append(key, ' ')
		key = append(key, w[b.start:b.start+b.n]...)
		rank, ok := lv.merges[string(key)]
		if !ok {
			return
		}
		h.push(bigram{left: l, right: r, rank: rank, lsize: a.n, size: a.n + b.n})
	}
	for i := 1; i < len(syms); i++ {
		add(int32(i-1), int32(i))
	}
	for len(h.items) > 0 {
		bg := h.pop()
		l, r := &syms[bg.left], &syms[bg.right]
		if l.n == 0 || r.n == 0 || l.n != bg.lsize || l.n+r.n != bg.size {
			continue
		}
		l.n += r.n
		r.n = 0
		l.next = r.next
		if r.next >= 0 {
			syms[r.next].prev = bg.left
		}
		add(l.prev, bg.left)
		add(bg.left, l.next)
	}
	sc.buf = key
	for _, s := range syms {
		if s.n == 0 {
			continue
		}
		piece := w[s.start : s.start+s.n]
		if id := t.lookupBytes(piece); id != NoToken {
			out = append(out, id)
			continue
		}
		for _, b := range piece {
			var id int32
			if lv.split.byteEncode {
				id = t.lookupBytes([]byte{b})
			} else {
				buf := [6]byte{'<', '0', 'x', hexDigits[b>>4], hexDigits[b&15], '>'}
				id = t.lookupBytes(buf[:])
			}
			if id != NoToken {
				out = append(out, id)
			}
		}
	}
	sc.syms = syms
	return out
}

func allNewlines(w []byte) bool {
	for _, c := range w {
		if c != '\n' {
			return false
		}
	}
	return true
}

// piece is token_to_piece(id, special=true) from llama.cpp's cache.
func (lv *llamaVocab) piece(t *Tokenizer, id int32) string {
	lv.piecesOnce.Do(func() { lv.buildPieces(t) })
	return lv.pieceCache[id]
}

func (lv *llamaVocab) buildPieces(t *Tokenizer) {
	c := make([]string, len(t.pieces))
	for id, text := range t.pieces {
		a := t.attrs[id]
		switch {
		case a&(attrUnknown|attrControl|attrUserDefined) != 0:
			c[id] = text
		case a&attrNormal != 0:
			if lv.kind != kindBPE || lv.escapeWS {
				c[id] = strings.ReplaceAll(text, "\u2581", " ")
			} else {
				c[id] = llamaDecodeText(text)
			}
		case a&attrByte != 0:
			c[id] = string([]byte{tokenByte(text)})
		}
	}
	lv.pieceCache = c
}

// tokenByte is token_to_byte: strtol of the two characters after "<0x".
func tokenByte(text string) byte {
	var v byte
	if len(text) < 3 {
		return 0
	}
	s := text[3:]
	if len(s) > 2 {
		s = s[:2]
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		var d byte
		switch {
		case c >= '0' && c <= '9':
			d = c - '0'
		case c >= 'a' && c <= 'f':
			d = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			d = c - 'A' + 10
		default:
			return v
		}
		v = v<<4 | d
	}
	return v
}

// llamaDecodeText is llama_decode_text: GPT-2 byte-level text back to bytes.
func llamaDecodeText(text string) string {
	var out []byte
	var u [4]byte
	for i := 0; i < len(text); {
		c, n := decodeCpt(text, i)
		i += n
		if b, ok := unicodeToByte[c]; ok {
			out = append(out, b)
			continue
		}
		out = append(out, "[UNK_BYTE_0x"...)
		for _, x := range appendCptUTF8(u[:0], c) {
			out = append(out, hexLower[x>>4], hexLower[x&15])
		}
		out = append(out, text...)
		out = append(out, ']')
	}
	return string(out)
}

const hexLower = "0123456789abcdef"

func (lv *llamaVocab) detokenize(t *Tokenizer, ids []int32, removeSpecial, unparseSpecial bool) string {
	removeSpace := lv.addSpacePrefix
	if removeSpecial && t.addBOS && len(ids) > 0 && ids[0] == t.bos {
		removeSpace = false
		ids = ids[1:]
	}
	if removeSpecial && t.addEOS && len(ids) > 0 && ids[len(ids)-1] == t.eos {
		ids = ids[:len(ids)-1]
	}
	var text []byte
	for _, id := range ids {
		if id < 0 || int(id) >= len(t.pieces) {
			removeSpace = false // llama.cpp throws on such ids
			continue
		}
		if !unparseSpecial && t.attrs[id]&(attrUnknown|attrControl) != 0 {
			removeSpace = false
			continue
		}
		p := lv.piece(t, id)
		if removeSpace && len(p) > 0 && p[0] == ' ' {
			p = p[1:]
		}
		removeSpace = false
		text = append(text, p...)
	}
	if lv.cleanSpaces {
		text = cleanSpaces(text)
	}
	return string(text)
}

// cleanSpaces is the clean_spaces post-processing of llama_vocab::impl::detokenize, done in
// place with the same index arithmetic.
func cleanSpaces(text []byte) []byte {
	total := len(text)
	// first pass: " ?", " !", " .", " ,"
	total1 := total
	total = min(total, 1)
	for i := 1; i < total1; i++ {
		x := text[i]
		if text[i-1] == ' ' && (x == '?' || x == '!' || x == '.' || x == ',') {
			total--
		}
		text[total] = x
		total++
	}
	// second pass: " ' "
	total2 := total
	total = min(total, 1)
	for i := 1; i < total2; i++ {
		x := text[i]
		if x == '\'' && i+1 < total2 && text[i-1] == ' ' && text[i+1] == ' ' {
			total--
			i++
			text[i] = 0
		}
		text[total] = x
		total++
	}
	// third pass: " 's", " 'm", " 're", " 've"
	total3 := total
	total = min(total, 1)
	for i := 1; i < total3; i++ {
		x := text[i]
		if text[i-1] == ' ' && x == '\'' && i+1 < total3 {
			x1 := text[i+1]
			if x1 == 's' || x1 == 'm' {
				total--
			} else if x1 != 't' && x1 != 'd' && i+2 < total3 {
				x2 := text[i+2]
				if x1 == 'r' && x2 == 'e' || x1 == 'v' && x2 == 'e' {
					total--
				}
			}
		}
		text[total] = x
		total++
	}
	return text[:total]
}
