package tokenizer

import (
	"fmt"
	"os"
	"strings"
	"unicode/utf8"
)

// SentencePiece's BPE encoder (google/sentencepiece, Apache-2.0: src/bpe_model.cc,
// src/normalizer.cc, src/sentencepiece_processor.cc), reimplemented for models with the
// identity normalization (the Llama, Mistral, Phi-3 and Gemma tokenizer.model files).

// FromSentencePiece loads a tokenizer.model and tokenizes with SentencePiece's semantics:
// normalization (dummy prefix, whitespace escaping, optional removal of extra whitespace),
// score-ordered BPE merges over normal, user-defined and unused pieces, user-defined symbols
// kept whole, unused pieces resegmented, byte fallback. addSpecial adds BOS (as the Llama
// tokenizers do); parseSpecial lets control and unknown pieces written in the text ("</s>")
// become their ids, the text around them being encoded piece by piece (each with its dummy
// prefix), as llama.cpp does with a GGUF made from the same model.
func FromSentencePiece(path string) (*Tokenizer, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	defer f.Close()
	m, err := ParseSentencePiece(f)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %s: %w", path, err)
	}
	t, err := newSPTokenizer(m)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %s: %w", path, err)
	}
	return t, nil
}

// spModel is a SentencePiece BPE model.
type spModel struct {
	m         *SentencePieceModel
	pieces    map[string]int32 // NORMAL, USER_DEFINED and UNUSED pieces (pieces_)
	reserved  map[string]int32 // CONTROL, UNKNOWN and BYTE pieces (reserved_id_map_)
	user      *addedMatcher    // user-defined symbols, matched whole
	unk       int32
	byteIDs   [256]int32
	hasBytes  bool
	unusedIDs map[int32]bool
}

func newSPModel(m *SentencePieceModel) (*spModel, error) {
	if m.ModelType != SPBPE {
		return nil, fmt.Errorf("%w: SentencePiece model type %d (only BPE is implemented)", ErrUnsupported, m.ModelType)
	}
	if m.NormalizerName != "identity" && m.PrecompiledCharsmapSize > 0 {
		return nil, fmt.Errorf("%w: SentencePiece normalization %q", ErrUnsupported, m.NormalizerName)
	}
	s := &spModel{m: m, pieces: map[string]int32{}, reserved: map[string]int32{}, unk: NoToken, unusedIDs: map[int32]bool{}}
	var userPats []string
	var userToks []*hfAdded
	for i, p := range m.Pieces {
		id := int32(i)
		switch p.Type {
		case PieceNormal, PieceUserDefined, PieceUnused:
			if _, dup := s.pieces[p.Piece]; dup {
				return nil, fmt.Errorf("%w: piece %q is defined twice", ErrFormat, p.Piece)
			}
			s.pieces[p.Piece] = id
			if p.Type == PieceUserDefined && p.Piece != "" {
				userPats = append(userPats, p.Piece)
				userToks = append(userToks, &hfAdded{id: id, content: p.Piece})
			}
			if p.Type == PieceUnused {
				s.unusedIDs[id] = true
			}
		default:
			if _, dup := s.reserved[p.Piece]; dup {
				return nil, fmt.Errorf("%w: piece %q is defined twice", ErrFormat, p.Piece)
			}
			s.reserved[p.Piece] = id
			if p.Type == PieceUnknown {
				s.unk = id
			}
		}
	}
	if s.unk == NoToken {
		return nil, fmt.Errorf("%w: SentencePiece model without an unknown piece", ErrFormat)
	}
	s.user = newAddedMatcher(userPats, userToks)
	for b := range s.byteIDs {
		s.byteIDs[b] = NoToken
		if id, ok := s.reserved[fmt.Sprintf("<0x%02X>", b)]; ok && m.Pieces[id].Type == PieceByte {
			s.byteIDs[b] = id
			s.hasBytes = true
		}
	}
	return s, nil
}

// normalize is sentencepiece's Normalizer::Normalize with an empty character map.
func (s *spModel) normalize(text string) string {
	const ws = "\u2581"
	in := text
	if s.m.RemoveExtraWhitespaces {
		in = strings.TrimLeft(in, " ")
	}
	if in == "" {
		return ""
	}
	var b strings.Builder
	if s.m.AddDummyPrefix {
		if s.m.EscapeWhitespaces {
			b.WriteString(ws)
		} else {
			b.WriteByte(' ')
		}
	}
	prevSpace := s.m.RemoveExtraWhitespaces
	for len(in) > 0 {
		// normalize_prefix: a user-defined symbol, or one character (U+FFFD for a bad byte)
		var sp string
		n := 0
		if s.user != nil {
			if a, end := s.user.longest(in, 0); a != nil {
				sp, n = in[:end], end
			}
		}
		if n == 0 {
			r, size := utf8.DecodeRuneInString(in)
			n = size
			if r == utf8.RuneError && size == 1 {
				sp = "\uFFFD"
			} else {
				sp = in[:size]
			}
		}
		if prevSpace {
			sp = strings.TrimLeft(sp, " ")
		}
		if sp != "" {
			for i := 0; i < len(sp); i++ {
				if s.m.EscapeWhitespaces && sp[i] == ' ' {
					b.WriteString(ws)
				} else {
					b.WriteByte(sp[i])
				}
			}
			prevSpace = strings.HasSuffix(sp, " ")
		}
		in = in[n:]
		if !s.m.RemoveExtraWhitespaces {
			prevSpace = false
		}
	}
	out := b.String()
	if s.m.RemoveExtraWhitespaces {
		sp := " "
		if s.m.EscapeWhitespaces {
			sp = ws
		}
		for strings.HasSuffix(out, sp) {
			out = out[:len(out)-len(sp)]
		}
	}
	return out
}

type spSym struct {
	start, n   int32
	prev, next int32
	freeze     bool
}

// tokenize encodes one piece of text (normalization included), as
// SentencePieceProcessor::Encode does for a BPE model.
func (s *spModel) tokenize(text string, out []int32) []int32 {
	w := s.normalize(text)
	if w == "" {
		return out
	}
	var syms []spSym
	for off := 0; off < len(w); {
		n, freeze := 0, false
		if s.user != nil {
			if a, end := s.user.longest(w, off); a != nil {
				n, freeze = end-off, true
			}
		}
		if n == 0 {
			_, n = utf8.DecodeRuneInString(w[off:])
		}
		i := int32(len(syms))
		next := i + 1
		if off+n == len(w) {
			next = -1
		}
		syms = append(syms, spSym{start: int32(off), n: int32(n), prev: i - 1, next: next, freeze: freeze})
		off += n
	}
	revMerge := map[string][2]string{}
	h := &bigramHeap{}
	tryAdd := func(l, r int32) {
		if l < 0 || r < 0 || syms[l].freeze || syms[r].freeze {
			return
		}
		piece := w[syms[l].start : syms[r].start+syms[r].n]
		id, ok := s.pieces[piece]
		if !ok {
			return
		}
		h.push(bigram{left: l, right: r, score: s.m.Pieces[id].Score, size: syms[l].n + syms[r].n})
		if s.unusedIDs[id] {
			revMerge[piece] = [2]string{w[syms[l].start : syms[l].start+syms[l].n], w[syms[r].start : syms[r].start+syms[r].n]}
		}
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
		l.next = r.next
		if r.next >= 0 {
			syms[r.next].prev = bg.left
		}
		r.n = 0
		tryAdd(l.prev, bg.left)
		tryAdd(bg.left, l.next)
	}
	var resegment func(p string)
	resegment = func(p string) {
		id := s.pieceToID(p)
		if id != NoToken && s.unusedIDs[id] {
			if rm, ok := revMerge[p]; ok {
				resegment(rm[0])
				resegment(rm[1])
				return
			}
		}
		if id == s.unk && s.m.ByteFallback && s.hasBytes {
			for i := 0; i < len(p); i++ {
				if b := s.byteIDs[p[i]]; b != NoToken {
					out = append(out, b)
				} else {
					out = append(out, s.unk)
				}
			}
			return
		}
		out = append(out, id)
	}
	for i := int32(0); i != -1; i = syms[i].next {
		resegment(w[syms[i].start : syms[i].start+syms[i].n])
	}
	return out
}

func (s *spModel) pieceToID(p string) int32 {
	if id, ok := s.reserved[p]; ok {
		return id
	}
	if id, ok := s.pieces[p]; ok {
		return id
	}
	return s.unk
}

// spEngine is FromSentencePiece's engine.
type spEngine struct {
	sp      *spModel
	control *addedMatcher
}

func newSPTokenizer(m *SentencePieceModel) (*Tokenizer, error) {
	sp, err := newSPModel(m)
	if err != nil {
		return nil, err
	}
	e := &spEngine{sp: sp}
	t := &Tokenizer{model: "sentencepiece", eng: e}
	t.init(len(m.Pieces))
	var ctlPats []string
	var ctlToks []*hfAdded
	for i, p := range m.Pieces {
		t.pieces[i] = p.Piece
		t.scores[i] = p.Score
		t.ids[p.Piece] = int32(i)
		t.attrs[i] = typeAttr(TokenType(p.Type))
		if (p.Type == PieceControl || p.Type == PieceUnknown) && p.Piece != "" {
			ctlPats = append(ctlPats, p.Piece)
			ctlToks = append(ctlToks, &hfAdded{id: int32(i), content: p.Piece, special: true})
		}
	}
	e.control = newAddedMatcher(ctlPats, ctlToks)
	inRange := func(id int) int32 {
		if id >= 0 && id < len(m.Pieces) {
			return int32(id)
		}
		return NoToken
	}
	t.unk, t.bos, t.eos, t.pad = sp.unk, inRange(m.BosID), inRange(m.EosID), inRange(m.PadID)
	t.addBOS = t.bos != NoToken
	if t.eos != NoToken {
		t.eog[t.eos] = struct{}{}
	}
	return t, nil
}

func (e *spEngine) encode(t *Tokenizer, text string, addSpecial, parseSpecial bool, out []int32) []int32 {
	if addSpecial && t.addBOS {
		out = append(out, t.bos)
	}
	if !parseSpecial || e.control == nil {
		return e.sp.tokenize(text, out)
	}
	var segs []hfSeg
	for _, seg := range (&hfEngine{}).splitAdded(segs, text, true, e.control, true) {
		if seg.tok != NoToken {
			out = append(out, seg.tok)
		} else {
			out = e.sp.tokenize(seg.s, out)
		}
	}
	return out
}

// detokenize is SentencePieceProcessor::Decode: control pieces vanish (unless unparseSpecial),
// the unknown piece reads " ⁇ ", byte pieces are reassembled, ▁ becomes a space and the
// dummy-prefix space of the first piece is dropped.
func (e *spEngine) detokenize(t *Tokenizer, ids []int32, removeSpecial, unparseSpecial bool) string {
	var b []byte
	var bytes []byte
	flush := func() {
		for len(bytes) > 0 {
			r, n := utf8.DecodeRune(bytes)
			if r == utf8.RuneError && n == 1 {
				b = append(b, "\uFFFD"...)
			} else {
				b = append(b, bytes[:n]...)
			}
			bytes = bytes[n:]
		}
	}
	bosWS := e.sp.m.AddDummyPrefix
	for _, id := range ids {
		if id < 0 || int(id) >= len(t.pieces) {
			continue
		}
		p := e.sp.m.Pieces[id]
		switch p.Type {
		case PieceControl:
			if unparseSpecial {
				flush()
				b = append(b, p.Piece...)
			}
			continue
		case PieceByte:
			bytes = append(bytes, tokenByte(p.Piece))
			bosWS = false
			continue
		}
		flush()
		piece := p.Piece
		if p.Type == PieceUnknown {
			piece = " \u2047 "
		} else if bosWS {
			piece = strings.TrimPrefix(piece, "\u2581")
		}
		bosWS = false
		b = append(b, strings.ReplaceAll(piece, "\u2581", " ")...)
	}
	flush()
	return string(b)
}

func (e *spEngine) piece(t *Tokenizer, id int32) string {
	p := e.sp.m.Pieces[id]
	if p.Type == PieceByte {
		return string([]byte{tokenByte(p.Piece)})
	}
	return strings.ReplaceAll(p.Piece, "\u2581", " ")
}

// spToBPE builds the Hugging Face BPE model that transformers' converters make from a
// SentencePiece BPE model (SentencePieceExtractor.extract without scores, in transformers'
// convert_slow_tokenizer.py, Apache-2.0): every split of a piece into two pieces is a merge,
// ranked by the piece's id, then by the split point (shorter left half first). Unlike
// SentencePiece, which merges by piece score, this ranks Llama's whitespace pieces (score -1e9,
// low ids) first.
func spToBPE(m *SentencePieceModel) *hfBPE {
	b := &hfBPE{vocab: make(map[string]int32, len(m.Pieces)), unk: NoToken, byteFallback: true, fuseUnk: true}
	for i, p := range m.Pieces {
		if _, dup := b.vocab[p.Piece]; !dup {
			b.vocab[p.Piece] = int32(i)
		}
		if p.Type == PieceUnknown && b.unk == NoToken {
			b.unk = int32(i)
		}
	}
	b.merges = make(map[uint64]hfMerge)
	rank := int32(0)
	for id, p := range m.Pieces {
		if b.vocab[p.Piece] != int32(id) {
			continue // a duplicate piece: the dict keeps the first
		}
		for i := range p.Piece {
			if i == 0 {
				continue
			}
			l, okL := b.vocab[p.Piece[:i]]
			r, okR := b.vocab[p.Piece[i:]]
			if okL && okR {
				key := uint64(uint32(l))<<32 | uint64(uint32(r))
				if _, dup := b.merges[key]; !dup {
					b.merges[key] = hfMerge{rank, int32(id)}
				}
				rank++
			}
		}
	}
	for i := range b.byteTokens {
		b.byteTokens[i] = NoToken
		if id, ok := b.vocab[fmt.Sprintf("<0x%02X>", i)]; ok {
			b.byteTokens[i] = id
		}
	}
	return b
}
