package tokenizer

import (
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"
)

// The BPE model of Hugging Face tokenizers (huggingface/tokenizers, Apache-2.0:
// tokenizers/src/models/bpe/model.rs and word.rs), reimplemented: a word is split into
// characters (with byte fallback or unknown-token handling for characters outside the
// vocabulary), then merged pairwise by rank, lowest rank first and leftmost first.

type hfBPE struct {
	vocab        map[string]int32
	merges       map[uint64]hfMerge // (left id, right id) -> rank and result
	unk          int32              // NoToken without unk_token
	byteFallback bool
	fuseUnk      bool
	ignoreMerges bool
	prefix       string // continuing_subword_prefix
	suffix       string // end_of_word_suffix
	byteTokens   [256]int32
}

type hfMerge struct{ rank, id int32 }

type hfModelJSON struct {
	Type                    string          `json:"type"`
	Vocab                   json.RawMessage `json:"vocab"`
	Merges                  json.RawMessage `json:"merges"`
	UnkToken                *string         `json:"unk_token"`
	ByteFallback            bool            `json:"byte_fallback"`
	FuseUnk                 bool            `json:"fuse_unk"`
	IgnoreMerges            bool            `json:"ignore_merges"`
	ContinuingSubwordPrefix *string         `json:"continuing_subword_prefix"`
	EndOfWordSuffix         *string         `json:"end_of_word_suffix"`
	Dropout                 *float64        `json:"dropout"`
}

func newHFBPE(m hfModelJSON) (*hfBPE, error) {
	if m.Type != "BPE" && m.Type != "" {
		return nil, fmt.Errorf("%w: tokenizer.json model %q", ErrUnsupported, m.Type)
	}
	if m.Dropout != nil && *m.Dropout != 0 {
		return nil, fmt.Errorf("%w: BPE dropout", ErrUnsupported)
	}
	b := &hfBPE{unk: NoToken, byteFallback: m.ByteFallback, fuseUnk: m.FuseUnk, ignoreMerges: m.IgnoreMerges}
	if err := json.Unmarshal(m.Vocab, &b.vocab); err != nil {
		return nil, fmt.Errorf("%w: BPE vocab: %v", ErrFormat, err)
	}
	if m.ContinuingSubwordPrefix != nil {
		b.prefix = *m.ContinuingSubwordPrefix
	}
	if m.EndOfWordSuffix != nil {
		b.suffix = *m.EndOfWordSuffix
	}
	if m.UnkToken != nil {
		id, ok := b.vocab[*m.UnkToken]
		if !ok {
			return nil, fmt.Errorf("%w: unk_token %q is not in the vocabulary", ErrFormat, *m.UnkToken)
		}
		b.unk = id
	}
	pairs, err := parseMerges(m.Merges)
	if err != nil {
		return nil, err
	}
	b.merges = make(map[uint64]hfMerge, len(pairs))
	for i, p := range pairs {
		a, ok1 := b.vocab[p[0]]
		c, ok2 := b.vocab[p[1]]
		if !ok1 || !ok2 {
			return nil, fmt.Errorf("%w: merge %q %q: token not in the vocabulary", ErrFormat, p[0], p[1])
		}
		right := p[1]
		if b.prefix != "" {
			right = strings.TrimPrefix(right, b.prefix) // BpeBuilder: b[prefix_len..]
		}
		id, ok := b.vocab[p[0]+right]
		if !ok {
			return nil, fmt.Errorf("%w: merge %q %q: result not in the vocabulary", ErrFormat, p[0], p[1])
		}
		b.merges[uint64(uint32(a))<<32|uint64(uint32(c))] = hfMerge{int32(i), id} // later duplicates win, as collect() into a HashMap
	}
	for i := range b.byteTokens {
		b.byteTokens[i] = NoToken
		if id, ok := b.vocab[fmt.Sprintf("<0x%02X>", i)]; ok {
			b.byteTokens[i] = id
		}
	}
	return b, nil
}

// parseMerges reads merges as "a b" strings or ["a", "b"] pairs.
func parseMerges(raw json.RawMessage) ([][2]string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var strs []string
	if err := json.Unmarshal(raw, &strs); err == nil {
		out := make([][2]string, len(strs))
		for i, s := range strs {
			a, b, ok := strings.Cut(s, " ")
			if !ok {
				return nil, fmt.Errorf("%w: merge %q has no space", ErrFormat, s)
			}
			out[i] = [2]string{a, b}
		}
		return out, nil
	}
	var pairs [][2]string
	if err := json.Unmarshal(raw, &pairs); err != nil {
		return nil, fmt.Errorf("%w: BPE merges: %v", ErrFormat, err)
	}
	return pairs, nil
}

type hfSym struct {
	id         int32
	prev, next int32
	n          int32 // 0 once merged away
}

type hfQueued struct{ rank, pos, id int32 }

// tokenize is BPE::tokenize for one pre-token (merge_word then merge_all).
func (b *hfBPE) tokenize(w string, out []int32) []int32 {
	if w == "" {
		return out
	}
	if b.ignoreMerges {
		if id, ok := b.vocab[w]; ok {
			return append(out, id)
		}
	}
	var syms []hfSym
	add := func(id int32, n int) {
		i := int32(len(syms))
		syms = append(syms, hfSym{id: id, prev: i - 1, next: i + 1, n: int32(n)})
	}
	unkID, unkLen := NoToken, 0
	for i := 0; i < len(w); {
		_, size := utf8.DecodeRuneInString(w[i:])
		s := w[i : i+size]
		first, last := i == 0, i+size == len(w)
		i += size
		if !first && b.prefix != "" {
			s = b.prefix + s
		}
		if last && b.suffix != "" {
			s += b.suffix
		}
		if id, ok := b.vocab[s]; ok {
			if unkID != NoToken {
				add(unkID, unkLen)
				unkID = NoToken
			}
			add(id, size)
			continue
		}
		if b.byteFallback {
			ok := true
			for j := 0; j < len(s); j++ {
				if b.byteTokens[s[j]] == NoToken {
					ok = false
					break
				}
			}
			if ok {
				for j := 0; j < len(s); j++ {
					add(b.byteTokens[s[j]], 1)
				}
				continue
			}
		}
		if b.unk != NoToken {
			switch {
			case unkID != NoToken && b.fuseUnk:
				unkLen += size
			case unkID != NoToken:
				add(unkID, unkLen)
				unkID, unkLen = b.unk, size
			default:
				unkID, unkLen = b.unk, size
			}
		}
	}
	if unkID != NoToken {
		add(unkID, unkLen)
	}
	if len(syms) == 0 {
		return out
	}
	syms[len(syms)-1].next = -1
	b.mergeAll(syms)
	for _, s := range syms {
		if s.n != 0 {
			out = append(out, s.id)
		}
	}
	return out
}

func (b *hfBPE) mergeAll(syms []hfSym) {
	var q []hfQueued
	less := func(x, y hfQueued) bool { return x.rank < y.rank || x.rank == y.rank && x.pos < y.pos }
	push := func(e hfQueued) {
		q = append(q, e)
		for i := len(q) - 1; i > 0; {
			p := (i - 1) / 2
			if !less(q[i], q[p]) {
				break
			}
			q[i], q[p] = q[p], q[i]
			i = p
		}
	}
	pop := func() hfQueued {
		top := q[0]
		last := len(q) - 1
		q[0] = q[last]
		q = q[:last]
		for i := 0; ; {
			l := 2*i + 1
			if l >= last {
				break
			}
			c := l
			if r := l + 1; r < last && less(q[r], q[l]) {
				c = r
			}
			if !less(q[c], q[i]) {
				break
			}
			q[i], q[c] = q[c], q[i]
			i = c
		}
		return top
	}
	lookup := func(a, c int32) (hfMerge, bool) {
		m, ok := b.merges[uint64(uint32(a))<<32|uint64(uint32(c))]
		return m, ok
	}
	for i := 0; i+1 < len(syms); i++ {
		if m, ok := lookup(syms[i].id, syms[i+1].id); ok {
			push(hfQueued{m.rank, int32(i), m.id})
		}
	}
	for len(q) > 0 {
		top := pop()
		cur := &syms[top.pos]
		if cur.n == 0 || cur.next == -1 {
			continue
		}
		nextPos := cur.next
		right := syms[nextPos]
		if m, ok := lookup(cur.id, right.id); !ok || m.id != top.id {
			continue // outdated entry
		}
		cur.id = top.id
		cur.n += right.n
		cur.next = right.next
		syms[nextPos].n = 0
		if right.next >= 0 && int(right.next) < len(syms) {
			syms[right.next].prev = top.pos
		}
		if cur.prev >= 0 {
			if m, ok := lookup(syms[cur.prev].id, cur.id); ok {
				push(hfQueued{m.rank, cur.prev, m.id})
			}
		}
		if cur.next >= 0 && int(cur.next) < len(syms) {
			if m, ok := lookup(cur.id, syms[cur.next].id); ok {
				push(hfQueued{m.rank, top.pos, m.id})
			}
		}
	}
}
