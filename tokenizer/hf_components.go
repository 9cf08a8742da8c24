package tokenizer

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/dlclark/regexp2"
)

// Normalizers, pre-tokenizers, post-processors and decoders of Hugging Face tokenizers
// (huggingface/tokenizers, Apache-2.0: tokenizers/src/{normalizers,pre_tokenizers,processors,
// decoders}), reimplemented on plain strings: ggufy needs the ids, not the offsets.

// ---- patterns (String or Regex), matched like the Pattern trait of tokenizers ----

type hfPattern struct {
	lit string
	re  *regexp2.Regexp
}

type hfPatternJSON struct {
	String *string `json:"String"`
	Regex  *string `json:"Regex"`
}

func newHFPattern(p hfPatternJSON) (*hfPattern, error) {
	switch {
	case p.String != nil:
		return &hfPattern{lit: *p.String}, nil
	case p.Regex != nil:
		re, err := compileOniguruma(*p.Regex)
		if err != nil {
			return nil, err
		}
		return &hfPattern{re: re}, nil
	}
	return nil, fmt.Errorf("%w: pattern without String or Regex", ErrFormat)
}

// compileOniguruma compiles a tokenizers (Oniguruma) regex with regexp2, whose default syntax
// has the same lookaround, inline flags and Unicode classes; possessive quantifiers, which
// regexp2 lacks, become atomic groups.
func compileOniguruma(pat string) (*regexp2.Regexp, error) {
	re, err := regexp2.Compile(rewritePossessive(pat), regexp2.None)
	if err != nil {
		return nil, fmt.Errorf("%w: regex %q: %v", ErrUnsupported, pat, err)
	}
	return re, nil
}

// rewritePossessive turns X++, X*+ and X?+ (X a single atom: escape, class or char) into (?>X+).
func rewritePossessive(p string) string {
	if !strings.Contains(p, "++") && !strings.Contains(p, "*+") && !strings.Contains(p, "?+") {
		return p
	}
	var b strings.Builder
	rs := []rune(p)
	atomStart := -1
	for i := 0; i < len(rs); i++ {
		c := rs[i]
		switch {
		case c == '\\' && i+1 < len(rs):
			atomStart = b.Len()
			b.WriteRune(c)
			i++
			b.WriteRune(rs[i])
			if (rs[i] == 'p' || rs[i] == 'P') && i+1 < len(rs) && rs[i+1] == '{' {
				for i+1 < len(rs) {
					i++
					b.WriteRune(rs[i])
					if rs[i] == '}' {
						break
					}
				}
			}
			continue
		case c == '[':
			atomStart = b.Len()
			depth := 0
			for ; i < len(rs); i++ {
				b.WriteRune(rs[i])
				if rs[i] == '\\' && i+1 < len(rs) {
					i++
					b.WriteRune(rs[i])
					continue
				}
				if rs[i] == '[' {
					depth++
				} else if rs[i] == ']' {
					depth--
					if depth == 0 {
						break
					}
				}
			}
			continue
		case (c == '+' || c == '*' || c == '?') && i+1 < len(rs) && rs[i+1] == '+' && atomStart >= 0:
			s := b.String()
			atom := s[atomStart:]
			b.Reset()
			b.WriteString(s[:atomStart])
			b.WriteString("(?>" + atom + string(c) + ")")
			i++
			atomStart = -1
			continue
		}
		atomStart = b.Len()
		b.WriteRune(c)
	}
	return b.String()
}

// match is one piece of the text: a match of the pattern or a gap between matches.
type match struct {
	start, end int
	isMatch    bool
}

// findMatches is Pattern::find_matches: matches and gaps covering s, in byte offsets.
func (p *hfPattern) findMatches(s string) []match {
	if s == "" {
		return []match{{0, 0, false}}
	}
	var out []match
	prev := 0
	emit := func(st, en int) {
		if prev != st {
			out = append(out, match{prev, st, false})
		}
		out = append(out, match{st, en, true})
		prev = en
	}
	if p.re == nil {
		if p.lit == "" {
			return []match{{0, len(s), false}}
		}
		for i := 0; i <= len(s)-len(p.lit); {
			j := strings.Index(s[i:], p.lit)
			if j < 0 {
				break
			}
			emit(i+j, i+j+len(p.lit))
			i += j + len(p.lit)
		}
	} else {
		rs := []rune(s)
		// rune index -> byte offset
		offs := make([]int, len(rs)+1)
		o := 0
		for i, r := range rs {
			offs[i] = o
			o += utf8.RuneLen(r)
			if r == utf8.RuneError {
				_, n := utf8.DecodeRuneInString(s[offs[i]:])
				o = offs[i] + n
			}
		}
		offs[len(rs)] = len(s)
		m, err := p.re.FindRunesMatch(rs)
		for err == nil && m != nil {
			emit(offs[m.Index], offs[m.Index+m.Length])
			m, err = p.re.FindNextMatch(m)
		}
	}
	if prev != len(s) {
		out = append(out, match{prev, len(s), false})
	}
	return out
}

// charMatches is find_matches for a char predicate: every matching char is a match.
func charMatches(s string, pred func(rune) bool) []match {
	if s == "" {
		return []match{{0, 0, false}}
	}
	var out []match
	prev := 0
	for i, r := range s {
		if pred(r) {
			if prev != i {
				out = append(out, match{prev, i, false})
			}
			n := utf8.RuneLen(r)
			if r == utf8.RuneError {
				_, n = utf8.DecodeRuneInString(s[i:])
			}
			out = append(out, match{i, i + n, true})
			prev = i + n
		}
	}
	if prev != len(s) {
		out = append(out, match{prev, len(s), false})
	}
	return out
}

// splitBehavior is SplitDelimiterBehavior.
type splitBehavior int

const (
	behRemoved splitBehavior = iota
	behIsolated
	behMergedWithPrevious
	behMergedWithNext
	behContiguous
)

func parseBehavior(s string) (splitBehavior, error) {
	switch strings.ToLower(s) {
	case "removed":
		return behRemoved, nil
	case "isolated":
		return behIsolated, nil
	case "merged_with_previous", "mergedwithprevious":
		return behMergedWithPrevious, nil
	case "merged_with_next", "mergedwithnext":
		return behMergedWithNext, nil
	case "contiguous":
		return behContiguous, nil
	}
	return 0, fmt.Errorf("%w: split behavior %q", ErrFormat, s)
}

// pieceSpan is a split of a string, by byte offsets.
type pieceSpan struct{ start, end int }

// splitSpans is NormalizedString::split: it applies a behavior to the matches and returns the
// kept pieces (empty ones dropped, as PreTokenizedString::split does).
func splitSpans(ms []match, beh splitBehavior, invert bool) []pieceSpan {
	if invert {
		for i := range ms {
			ms[i].isMatch = !ms[i].isMatch
		}
	}
	type span struct {
		start, end int
		remove     bool
	}
	var sp []span
	switch beh {
	case behIsolated:
		for _, m := range ms {
			sp = append(sp, span{m.start, m.end, false})
		}
	case behRemoved:
		for _, m := range ms {
			sp = append(sp, span{m.start, m.end, m.isMatch})
		}
	case behContiguous:
		prev := false
		for _, m := range ms {
			if m.isMatch == prev && len(sp) > 0 {
				sp[len(sp)-1].end = m.end
			} else {
				sp = append(sp, span{m.start, m.end, false})
			}
			prev = m.isMatch
		}
	case behMergedWithPrevious:
		prev := false
		for _, m := range ms {
			if m.isMatch && !prev && len(sp) > 0 {
				sp[len(sp)-1].end = m.end
			} else {
				sp = append(sp, span{m.start, m.end, false})
			}
			prev = m.isMatch
		}
	case behMergedWithNext:
		prev := false
		for i := len(ms) - 1; i >= 0; i-- {
			m := ms[i]
			if m.isMatch && !prev && len(sp) > 0 {
				sp[len(sp)-1].start = m.start
			} else {
				sp = append(sp, span{m.start, m.end, false})
			}
			prev = m.isMatch
		}
		for i, j := 0, len(sp)-1; i < j; i, j = i+1, j-1 {
			sp[i], sp[j] = sp[j], sp[i]
		}
	}
	out := make([]pieceSpan, 0, len(sp))
	for _, x := range sp {
		if !x.remove && x.end > x.start {
			out = append(out, pieceSpan{x.start, x.end})
		}
	}
	return out
}

// ---- normalizers ----

type hfNormalizer func(string) string

type hfNormalizerJSON struct {
	Type               string            `json:"type"`
	Normalizers        []json.RawMessage `json:"normalizers"`
	Pattern            hfPatternJSON     `json:"pattern"`
	Content            string            `json:"content"`
	Prepend            string            `json:"prepend"`
	StripLeft          bool              `json:"strip_left"`
	StripRight         bool              `json:"strip_right"`
	CleanText          *bool             `json:"clean_text"`
	HandleChineseChars *bool             `json:"handle_chinese_chars"`
	StripAccents       *bool             `json:"strip_accents"`
	Lowercase          *bool             `json:"lowercase"`
}

// hfComponent decodes one tokenizer.json component into j (what names it in errors); ok is
// false for an absent or null component, which has no step.
func hfComponent(raw json.RawMessage, what string, j any) (ok bool, err error) {
	if len(raw) == 0 || string(raw) == "null" {
		return false, nil
	}
	if err := json.Unmarshal(raw, j); err != nil {
		return false, fmt.Errorf("%w: %s: %v", ErrFormat, what, err)
	}
	return true, nil
}

// hfMembers builds the members of a Sequence component with build, leaving out the null ones.
func hfMembers[T any](raws []json.RawMessage, build func(json.RawMessage) (T, error)) ([]T, error) {
	var out []T
	for _, r := range raws {
		if len(r) == 0 || string(r) == "null" {
			continue
		}
		c, err := build(r)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

func newHFNormalizer(raw json.RawMessage) (hfNormalizer, error) {
	var j hfNormalizerJSON
	if ok, err := hfComponent(raw, "normalizer", &j); !ok {
		return nil, err
	}
	switch j.Type {
	case "Sequence":
		ns, err := hfMembers(j.Normalizers, newHFNormalizer)
		if err != nil {
			return nil, err
		}
		return func(s string) string {
			for _, n := range ns {
				s = n(s)
			}
			return s
		}, nil
	case "Prepend":
		p := j.Prepend
		return func(s string) string {
			if s == "" {
				return s
			}
			return p + s
		}, nil
	case "Replace":
		pat, err := newHFPattern(j.Pattern)
		if err != nil {
			return nil, err
		}
		content := j.Content
		return func(s string) string { return replacePattern(s, pat, content) }, nil
	case "NFC":
		return func(s string) string { return normalizeString(s, formNFC) }, nil
	case "NFD":
		return func(s string) string { return normalizeString(s, formNFD) }, nil
	case "NFKC":
		return func(s string) string { return normalizeString(s, formNFKC) }, nil
	case "NFKD":
		return func(s string) string { return normalizeString(s, formNFKD) }, nil
	case "Lowercase":
		return lowercaseFull, nil
	case "Strip":
		l, r := j.StripLeft, j.StripRight
		return func(s string) string {
			if l {
				s = strings.TrimLeftFunc(s, unicode.IsSpace)
			}
			if r {
				s = strings.TrimRightFunc(s, unicode.IsSpace)
			}
			return s
		}, nil
	case "StripAccents":
		return stripMarks, nil
	case "BertNormalizer":
		return bertNormalizer(j), nil
	case "ByteLevel":
		return byteLevelEncode, nil
	}
	return nil, fmt.Errorf("%w: normalizer %q", ErrUnsupported, j.Type)
}

func replacePattern(s string, p *hfPattern, content string) string {
	if p.re == nil {
		if p.lit == "" {
			return s
		}
		return strings.ReplaceAll(s, p.lit, content)
	}
	var b strings.Builder
	for _, m := range p.findMatches(s) {
		if m.isMatch {
			b.WriteString(content)
		} else {
			b.WriteString(s[m.start:m.end])
		}
	}
	return b.String()
}

// lowercaseFull is char::to_lowercase applied per character (full mapping: U+0130 becomes
// "i̇"; no final-sigma context).
func lowercaseFull(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r == 0x130 {
			b.WriteString("i\u0307")
			continue
		}
		b.WriteRune(unicode.ToLower(r))
	}
	return b.String()
}

func stripMarks(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.Is(unicode.M, r) {
			return -1
		}
		return r
	}, s)
}

func byteLevelEncode(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		b.WriteString(byteToUnicode[s[i]])
	}
	return b.String()
}

func isBertChinese(r rune) bool {
	return r >= 0x4E00 && r <= 0x9FFF || r >= 0x3400 && r <= 0x4DBF || r >= 0x20000 && r <= 0x2A6DF ||
		r >= 0x2A700 && r <= 0x2B73F || r >= 0x2B740 && r <= 0x2B81F || r >= 0x2B920 && r <= 0x2CEAF ||
		r >= 0xF900 && r <= 0xFAFF || r >= 0x2F800 && r <= 0x2FA1F
}

func bertNormalizer(j hfNormalizerJSON) hfNormalizer {
	def := func(p *bool, d bool) bool {
		if p == nil {
			return d
		}
		return *p
	}
	clean, chinese, lower := def(j.CleanText, true), def(j.HandleChineseChars, true), def(j.Lowercase, true)
	strip := def(j.StripAccents, lower)
	return func(s string) string {
		var b strings.Builder
		for _, r := range s {
			if clean {
				if r == 0 || r == 0xFFFD || (r != '\t' && r != '\n' && r != '\r' && unicode.In(r, unicode.Cc, unicode.Cf, unicode.Co, unicode.Cs)) {
					continue
				}
				if r == '\t' || r == '\n' || r == '\r' || unicode.Is(unicode.White_Space, r) {
					r = ' '
				}
			}
			if chinese && isBertChinese(r) {
				b.WriteByte(' ')
				b.WriteRune(r)
				b.WriteByte(' ')
				continue
			}
			b.WriteRune(r)
		}
		out := b.String()
		if strip {
			out = stripMarks(normalizeString(out, formNFD))
		}
		if lower {
			out = lowercaseFull(out)
		}
		return out
	}
}

// ---- pre-tokenizers ----

// hfPiece is a split of the text on its way to the model.
type hfPiece struct {
	s     string
	first bool // starts at offset 0 of the original text (Metaspace's prepend_scheme "first")
}

type hfPreTokenizer func(p hfPiece) []hfPiece

type hfPreTokenizerJSON struct {
	Type              string            `json:"type"`
	Pretokenizers     []json.RawMessage `json:"pretokenizers"`
	Pattern           hfPatternJSON     `json:"pattern"`
	Behavior          string            `json:"behavior"`
	Invert            bool              `json:"invert"`
	AddPrefixSpace    *bool             `json:"add_prefix_space"`
	UseRegex          *bool             `json:"use_regex"`
	Replacement       string            `json:"replacement"`
	PrependScheme     string            `json:"prepend_scheme"`
	Split             *bool             `json:"split"`
	IndividualDigits  bool              `json:"individual_digits"`
	TrimOffsets       *bool             `json:"trim_offsets"`
	StrRep            string            `json:"str_rep"`
	AddPrefixSpaceOld *bool             `json:"add_prefix_space_old,omitempty"`
}

// gpt2Regex is the ByteLevel pre-tokenizer's regex.
const gpt2Regex = `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`

var gpt2Pattern = &hfPattern{re: regexp2.MustCompile(gpt2Regex, regexp2.None)}

func newHFPreTokenizer(raw json.RawMessage) (hfPreTokenizer, error) {
	var j hfPreTokenizerJSON
	if ok, err := hfComponent(raw, "pre_tokenizer", &j); !ok {
		return nil, err
	}
	switch j.Type {
	case "Sequence":
		ps, err := hfMembers(j.Pretokenizers, newHFPreTokenizer)
		if err != nil {
			return nil, err
		}
		return func(p hfPiece) []hfPiece {
			cur := []hfPiece{p}
			for _, pt := range ps {
				var next []hfPiece
				for _, c := range cur {
					next = append(next, pt(c)...)
				}
				cur = next
			}
			return cur
		}, nil
	case "Split":
		pat, err := newHFPattern(j.Pattern)
		if err != nil {
			return nil, err
		}
		beh, err := parseBehavior(j.Behavior)
		if err != nil {
			return nil, err
		}
		invert := j.Invert
		return func(p hfPiece) []hfPiece {
			return offsetPieces(p, splitSpans(pat.findMatches(p.s), beh, invert))
		}, nil
	case "ByteLevel":
		addPrefix := j.AddPrefixSpace != nil && *j.AddPrefixSpace
		useRegex := j.UseRegex == nil || *j.UseRegex
		return func(p hfPiece) []hfPiece {
			s := p.s
			if addPrefix && !strings.HasPrefix(s, " ") {
				s = " " + s
			}
			var parts []hfPiece
			if useRegex {
				parts = offsetPieces(hfPiece{s, p.first}, splitSpans(gpt2Pattern.findMatches(s), behIsolated, false))
			} else {
				parts = []hfPiece{{s, p.first}}
			}
			for i := range parts {
				parts[i].s = byteLevelEncode(parts[i].s)
			}
			return parts
		}, nil
	case "Metaspace":
		rep := '\u2581'
		if j.Replacement != "" {
			rep, _ = utf8.DecodeRuneInString(j.Replacement)
		}
		scheme := j.PrependScheme
		if scheme == "" {
			scheme = "always"
			if j.AddPrefixSpace != nil && !*j.AddPrefixSpace {
				scheme = "never"
			}
		}
		split := j.Split == nil || *j.Split
		repStr := string(rep)
		repPat := &hfPattern{lit: repStr}
		return func(p hfPiece) []hfPiece {
			s := strings.ReplaceAll(p.s, " ", repStr)
			switch scheme {
			case "always":
				if !strings.HasPrefix(s, repStr) {
					s = repStr + s
				}
			case "first":
				if !strings.HasPrefix(s, repStr) && p.first {
					s = repStr + s
				}
			}
			if !split {
				return []hfPiece{{s, p.first}}
			}
			return offsetPieces(hfPiece{s, p.first}, splitSpans(repPat.findMatches(s), behMergedWithNext, false))
		}, nil
	case "Whitespace":
		return func(p hfPiece) []hfPiece {
			return offsetPieces(p, splitSpans(regexMatches(p.s, whitespaceRE), behRemoved, true))
		}, nil
	case "WhitespaceSplit":
		return func(p hfPiece) []hfPiece {
			return offsetPieces(p, splitSpans(charMatches(p.s, unicode.IsSpace), behRemoved, false))
		}, nil
	case "Punctuation":
		beh := behIsolated
		if j.Behavior != "" {
			var err error
			if beh, err = parseBehavior(j.Behavior); err != nil {
				return nil, err
			}
		}
		return func(p hfPiece) []hfPiece {
			return offsetPieces(p, splitSpans(charMatches(p.s, isHFPunct), beh, false))
		}, nil
	case "Digits":
		beh := behContiguous
		if j.IndividualDigits {
			beh = behIsolated
		}
		return func(p hfPiece) []hfPiece {
			return offsetPieces(p, splitSpans(charMatches(p.s, isRustNumeric), beh, false))
		}, nil
	case "BertPreTokenizer":
		return func(p hfPiece) []hfPiece {
			var out []hfPiece
			for _, w := range offsetPieces(p, splitSpans(charMatches(p.s, unicode.IsSpace), behRemoved, false)) {
				out = append(out, offsetPieces(w, splitSpans(charMatches(w.s, isHFPunct), behIsolated, false))...)
			}
			return out
		}, nil
	}
	return nil, fmt.Errorf("%w: pre_tokenizer %q", ErrUnsupported, j.Type)
}

// whitespaceRE is the Whitespace pre-tokenizer's \w+|[^\w\s]+ with Unicode classes, as the
// Rust regex crate reads it.
var whitespaceRE = regexp.MustCompile(`[\p{L}\p{M}\p{Nd}\p{Nl}\p{Pc}]+|[^\p{L}\p{M}\p{Nd}\p{Nl}\p{Pc}\t\n\v\f\r \x{85}\p{Z}]+`)

func regexMatches(s string, re *regexp.Regexp) []match {
	if s == "" {
		return []match{{0, 0, false}}
	}
	var out []match
	prev := 0
	for _, m := range re.FindAllStringIndex(s, -1) {
		if prev != m[0] {
			out = append(out, match{prev, m[0], false})
		}
		out = append(out, match{m[0], m[1], true})
		prev = m[1]
	}
	if prev != len(s) {
		out = append(out, match{prev, len(s), false})
	}
	return out
}

func isHFPunct(r rune) bool {
	return r < 0x80 && (r >= '!' && r <= '/' || r >= ':' && r <= '@' || r >= '[' && r <= '`' || r >= '{' && r <= '~') ||
		unicode.IsPunct(r)
}

func isRustNumeric(r rune) bool { return unicode.Is(unicode.N, r) }

func offsetPieces(p hfPiece, spans []pieceSpan) []hfPiece {
	out := make([]hfPiece, len(spans))
	for i, sp := range spans {
		out[i] = hfPiece{p.s[sp.start:sp.end], p.first && sp.start == 0}
	}
	return out
}

// ---- post-processors ----

type hfTemplateItem struct {
	SpecialToken *struct {
		ID     string `json:"id"`
		TypeID int    `json:"type_id"`
	} `json:"SpecialToken"`
	Sequence *struct {
		ID     string `json:"id"`
		TypeID int    `json:"type_id"`
	} `json:"Sequence"`
}

type hfPostJSON struct {
	Type          string            `json:"type"`
	Processors    []json.RawMessage `json:"processors"`
	Single        []hfTemplateItem  `json:"single"`
	SpecialTokens map[string]struct {
		ID  string  `json:"id"`
		IDs []int32 `json:"ids"`
	} `json:"special_tokens"`
	Sep []json.RawMessage `json:"sep"`
	Cls []json.RawMessage `json:"cls"`
}

// hfPost holds what a post-processor adds around a single sequence.
type hfPost struct {
	prefix, suffix []int32
}

func newHFPost(raw json.RawMessage) (*hfPost, error) {
	var j hfPostJSON
	if ok, err := hfComponent(raw, "post_processor", &j); !ok {
		return nil, err
	}
	switch j.Type {
	case "ByteLevel":
		return &hfPost{}, nil
	case "Sequence":
		qs, err := hfMembers(j.Processors, newHFPost)
		if err != nil {
			return nil, err
		}
		p := &hfPost{}
		for _, q := range qs {
			p.prefix = append(q.prefix, p.prefix...)
			p.suffix = append(p.suffix, q.suffix...)
		}
		return p, nil
	case "TemplateProcessing":
		p := &hfPost{}
		seen := false
		for _, it := range j.Single {
			switch {
			case it.SpecialToken != nil:
				st, ok := j.SpecialTokens[it.SpecialToken.ID]
				if !ok {
					return nil, fmt.Errorf("%w: template special token %q undefined", ErrFormat, it.SpecialToken.ID)
				}
				if seen {
					p.suffix = append(p.suffix, st.IDs...)
				} else {
					p.prefix = append(p.prefix, st.IDs...)
				}
			case it.Sequence != nil:
				seen = true
			}
		}
		return p, nil
	case "RobertaProcessing", "BertProcessing":
		id := func(r []json.RawMessage) ([]int32, error) {
			if len(r) != 2 {
				return nil, fmt.Errorf("%w: %s cls/sep", ErrFormat, j.Type)
			}
			var v int32
			if err := json.Unmarshal(r[1], &v); err != nil {
				return nil, fmt.Errorf("%w: %s cls/sep: %v", ErrFormat, j.Type, err)
			}
			return []int32{v}, nil
		}
		cls, err := id(j.Cls)
		if err != nil {
			return nil, err
		}
		sep, err := id(j.Sep)
		if err != nil {
			return nil, err
		}
		return &hfPost{prefix: cls, suffix: sep}, nil
	}
	return nil, fmt.Errorf("%w: post_processor %q", ErrUnsupported, j.Type)
}

// ---- decoders ----

type hfDecoder func(tokens []string) []string

type hfDecoderJSON struct {
	Type           string            `json:"type"`
	Decoders       []json.RawMessage `json:"decoders"`
	Pattern        hfPatternJSON     `json:"pattern"`
	Content        json.RawMessage   `json:"content"`
	Start          int               `json:"start"`
	Stop           int               `json:"stop"`
	Replacement    string            `json:"replacement"`
	PrependScheme  string            `json:"prepend_scheme"`
	AddPrefixSpace *bool             `json:"add_prefix_space"`
	Prefix         string            `json:"prefix"`
	Cleanup        *bool             `json:"cleanup"`
	Suffix         string            `json:"suffix"`
}

func newHFDecoder(raw json.RawMessage) (hfDecoder, error) { return newHFDecoderWith(raw, nil) }

// newHFDecoderWith builds a decoder whose ByteLevel step writes the tokens of *added (the added
// tokens' texts) as they are, as tokenizers.js (and transformers' slow GPT-2 tokenizer) do,
// rather than reading their characters as bytes.
func newHFDecoderWith(raw json.RawMessage, added map[string]bool) (hfDecoder, error) {
	var j hfDecoderJSON
	if ok, err := hfComponent(raw, "decoder", &j); !ok {
		return nil, err
	}
	switch j.Type {
	case "Sequence":
		ds, err := hfMembers(j.Decoders, func(r json.RawMessage) (hfDecoder, error) { return newHFDecoderWith(r, added) })
		if err != nil {
			return nil, err
		}
		return func(t []string) []string {
			for _, d := range ds {
				t = d(t)
			}
			return t
		}, nil
	case "ByteLevel":
		return func(t []string) []string {
			var out []string
			var b []byte
			flush := func() {
				if len(b) > 0 {
					out = append(out, strings.ToValidUTF8(string(b), "\uFFFD"))
					b = b[:0]
				}
			}
			for _, tok := range t {
				if added[tok] {
					flush()
					out = append(out, tok)
					continue
				}
				var tb []byte
				ok := true
				for _, r := range tok {
					x, isByte := unicodeToByte[r]
					if !isByte {
						ok = false
						break
					}
					tb = append(tb, x)
				}
				if !ok {
					tb = []byte(tok)
				}
				b = append(b, tb...)
			}
			flush()
			return out
		}, nil
	case "Replace":
		pat, err := newHFPattern(j.Pattern)
		if err != nil {
			return nil, err
		}
		var content string
		if err := json.Unmarshal(j.Content, &content); err != nil {
			return nil, fmt.Errorf("%w: Replace decoder content: %v", ErrFormat, err)
		}
		return func(t []string) []string {
			out := make([]string, len(t))
			for i, s := range t {
				out[i] = replacePattern(s, pat, content)
			}
			return out
		}, nil
	case "ByteFallback":
		return byteFallbackDecode, nil
	case "Fuse":
		return func(t []string) []string { return []string{strings.Join(t, "")} }, nil
	case "Strip":
		var content string
		if err := json.Unmarshal(j.Content, &content); err != nil {
			return nil, fmt.Errorf("%w: Strip decoder content: %v", ErrFormat, err)
		}
		c, _ := utf8.DecodeRuneInString(content)
		start, stop := j.Start, j.Stop
		return func(t []string) []string {
			out := make([]string, len(t))
			for i, s := range t {
				rs := []rune(s)
				a := 0
				for a < len(rs) && a < start && rs[a] == c {
					a++
				}
				z := 0
				for z < len(rs)-a && z < stop && rs[len(rs)-1-z] == c {
					z++
				}
				out[i] = string(rs[a : len(rs)-z])
			}
			return out
		}, nil
	case "Metaspace":
		rep := '\u2581'
		if j.Replacement != "" {
			rep, _ = utf8.DecodeRuneInString(j.Replacement)
		}
		scheme := j.PrependScheme
		if scheme == "" {
			scheme = "always"
			if j.AddPrefixSpace != nil && !*j.AddPrefixSpace {
				scheme = "never"
			}
		}
		return func(t []string) []string {
			out := make([]string, len(t))
			for i, s := range t {
				var b strings.Builder
				for _, r := range s {
					if r == rep {
						if i == 0 && scheme != "never" {
							continue
						}
						r = ' '
					}
					b.WriteRune(r)
				}
				out[i] = b.String()
			}
			return out
		}, nil
	}
	return nil, fmt.Errorf("%w: decoder %q", ErrUnsupported, j.Type)
}

func byteFallbackDecode(t []string) []string {
	var out []string
	var pending []byte
	flush := func() {
		if len(pending) == 0 {
			return
		}
		if utf8.Valid(pending) {
			out = append(out, string(pending))
		} else {
			for range pending {
				out = append(out, "\uFFFD")
			}
		}
		pending = pending[:0]
	}
	for _, tok := range t {
		if len(tok) == 6 && strings.HasPrefix(tok, "<0x") && tok[5] == '>' {
			if v, ok := parseHexByte(tok[3:5]); ok {
				pending = append(pending, v)
				continue
			}
		}
		flush()
		out = append(out, tok)
	}
	flush()
	return out
}

func parseHexByte(s string) (byte, bool) {
	var v byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			v = v<<4 | (c - '0')
		case c >= 'a' && c <= 'f':
			v = v<<4 | (c - 'a' + 10)
		case c >= 'A' && c <= 'F':
			v = v<<4 | (c - 'A' + 10)
		default:
			return 0, false
		}
	}
	return v, true
}
