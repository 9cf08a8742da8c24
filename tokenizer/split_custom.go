package tokenizer

import "strings"

// Ports of llama.cpp's hand-written splitters (src/unicode.cpp, MIT):
// unicode_regex_split_custom_gpt2, _llama3, _qwen2, _qwen35, _newlines and _afmoe. They work on
// codepoints and llama.cpp's category flags, and reproduce llama.cpp's output (not necessarily
// the regex's) on every input.

// span is the state shared by the splitters while scanning one piece [ini, end) of cpts.
type span struct {
	cpts     []rune
	ini, end int
	prevEnd  int
	out      []int
}

const outOfRange = rune(-1) // llama.cpp's OUT_OF_RANGE (0xFFFFFFFF)

func (s *span) cpt(p int) rune {
	if p >= s.ini && p < s.end {
		return s.cpts[p]
	}
	return outOfRange
}

func (s *span) flags(p int) uint16 {
	if p >= s.ini && p < s.end {
		return cptFlags(s.cpts[p])
	}
	return 0
}

// add closes the current token at end and returns its length.
func (s *span) add(end int) int {
	n := end - s.prevEnd
	if n > 0 {
		s.out = append(s.out, n)
	}
	s.prevEnd = end
	return n
}

func forPieces(cpts []rune, offs []int, out []int, fn func(s *span)) []int {
	s := span{cpts: cpts, out: out}
	start := 0
	for _, n := range offs {
		s.ini, s.end, s.prevEnd = start, start+n, start
		fn(&s)
		start += n
	}
	return s.out
}

const wsLN = cfWhitespace | cfLetter | cfNumber

// gpt2Split: 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)
type gpt2Split struct{}

func (gpt2Split) split(cpts []rune, offs []int, out []int) []int {
	return forPieces(cpts, offs, out, func(s *span) {
		for pos := s.ini; pos < s.end; {
			c := s.cpt(pos)
			f := s.flags(pos)
			if c == '\'' && pos+1 < s.end {
				n := s.cpt(pos + 1)
				if n == 's' || n == 't' || n == 'm' || n == 'd' {
					pos += s.add(pos + 2)
					continue
				}
				if pos+2 < s.end {
					nn := s.cpt(pos + 2)
					if n == 'r' && nn == 'e' || n == 'v' && nn == 'e' || n == 'l' && nn == 'l' {
						pos += s.add(pos + 3)
						continue
					}
				}
			}
			f2 := f
			if c == ' ' {
				f2 = s.flags(pos + 1)
			}
			sp := 0
			if c == ' ' {
				sp = 1
			}
			if f2&cfLetter != 0 {
				pos += sp
				for f2&cfLetter != 0 {
					pos++
					f2 = s.flags(pos)
				}
				s.add(pos)
				continue
			}
			if f2&cfNumber != 0 {
				pos += sp
				for f2&cfNumber != 0 {
					pos++
					f2 = s.flags(pos)
				}
				s.add(pos)
				continue
			}
			if f2&wsLN == 0 && f2 != 0 {
				pos += sp
				for f2&wsLN == 0 && f2 != 0 {
					pos++
					f2 = s.flags(pos)
				}
				s.add(pos)
				continue
			}
			nws := 0
			for s.flags(pos+nws)&cfWhitespace != 0 {
				nws++
			}
			if nws > 1 && s.cpt(pos+nws) != outOfRange {
				pos += nws - 1
				s.add(pos)
				continue
			}
			if nws > 0 {
				pos += nws
				s.add(pos)
				continue
			}
			pos++
			s.add(pos)
		}
	})
}

// llama3Split covers three llama.cpp splitters:
//   - llama3 (digits 3):  (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
//   - qwen2 (digits 1):   the same with \p{N}
//   - qwen35 (marks):     qwen2 with [\p{L}\p{M}]+ letter runs and [^\s\p{L}\p{M}\p{N}]
type llama3Split struct {
	digits int
	marks  bool
}

func (sp llama3Split) split(cpts []rune, offs []int, out []int) []int {
	word := cfLetter
	excl := wsLN
	if sp.marks {
		word |= cfMark
		excl |= cfMark
	}
	return forPieces(cpts, offs, out, func(s *span) {
		for pos := s.ini; pos < s.end; {
			c := s.cpt(pos)
			f := s.flags(pos)
			if c == '\'' && pos+1 < s.end {
				n := cptTolower(s.cpt(pos + 1))
				if n == 's' || n == 't' || n == 'm' || n == 'd' {
					pos += s.add(pos + 2)
					continue
				}
				if pos+2 < s.end {
					nn := cptTolower(s.cpt(pos + 2))
					if n == 'r' && nn == 'e' || n == 'v' && nn == 'e' || n == 'l' && nn == 'l' {
						pos += s.add(pos + 3)
						continue
					}
				}
			}
			if !(c == '\r' || c == '\n' || f&cfNumber != 0) {
				if f&word != 0 || s.flags(pos+1)&word != 0 {
					pos++
					for s.flags(pos)&word != 0 {
						pos++
					}
					s.add(pos)
					continue
				}
			}
			if f&cfNumber != 0 {
				if sp.digits == 1 {
					pos++
					s.add(pos)
					continue
				}
				ini := pos
				for s.flags(pos)&cfNumber != 0 {
					pos++
					if pos-ini >= sp.digits {
						s.add(pos)
						ini = pos
					}
				}
				s.add(pos)
				continue
			}
			f2 := f
			if c == ' ' {
				f2 = s.flags(pos + 1)
			}
			if f2&excl == 0 && f != 0 {
				if c == ' ' {
					pos++
				}
				for f2&excl == 0 && f2 != 0 {
					pos++
					f2 = s.flags(pos)
				}
				c2 := s.cpt(pos)
				for c2 == '\r' || c2 == '\n' {
					pos++
					c2 = s.cpt(pos)
				}
				s.add(pos)
				continue
			}
			nws, lastRN := 0, 0
			for s.flags(pos+nws)&cfWhitespace != 0 {
				c2 := s.cpt(pos + nws)
				if c2 == '\r' || c2 == '\n' {
					lastRN = pos + nws + 1
				}
				nws++
			}
			if lastRN > 0 {
				pos = lastRN
				s.add(pos)
				continue
			}
			if nws > 1 && s.cpt(pos+nws) != outOfRange {
				pos += nws - 1
				s.add(pos)
				continue
			}
			if nws > 0 {
				pos += nws
				s.add(pos)
				continue
			}
			pos++
			s.add(pos)
		}
	})
}

// newlineSplit: [^\n]+|[\n]+
type newlineSplit struct{}

func (newlineSplit) split(cpts []rune, offs []int, out []int) []int {
	start := 0
	for _, n := range offs {
		pos, end := start, start+n
		for pos < end {
			nl := cpts[pos] == '\n'
			run := pos
			for pos < end && (cpts[pos] == '\n') == nl {
				pos++
			}
			out = append(out, pos-run)
		}
		start = end
	}
	return out
}

// afmoeSplit is llama.cpp's AFMoE digit splitter (also used for tiny_aya's
// \d{1,3}(?=(?:\d{3})*\b)): a digit run is cut into a 1-2 digit head and groups of 3; as in
// llama.cpp, the text before a digit run is emitted together with the run's first group.
type afmoeSplit struct{}

func (afmoeSplit) split(cpts []rune, offs []int, out []int) []int {
	return forPieces(cpts, offs, out, func(s *span) {
		for pos := s.ini; pos < s.end; {
			if s.flags(pos)&cfNumber != 0 {
				start, count := pos, 0
				for s.flags(pos)&cfNumber != 0 && pos < s.end {
					count++
					pos++
				}
				cur := start
				if r := count % 3; r > 0 {
					s.add(cur + r)
					cur += r
				}
				for cur < start+count {
					s.add(cur + 3)
					cur += 3
				}
				continue
			}
			pos++
		}
		if s.prevEnd < s.end {
			s.add(s.end)
		}
	})
}

// fastSplit returns a hand-written equivalent of the std::regex split of the simple regexes the
// common pre-tokenizers use (their character classes read the way llama.cpp's collapsed text
// makes std::regex read them), or nil. TestFastSplitMatchesRegex checks each against the
// emulated std::regex.
func fastSplit(e string) splitter {
	switch e {
	case "\\p{N}":
		return runSplit{run: colIsNumber, max: 1}
	case "\\p{N}+":
		return runSplit{run: colIsNumber}
	case "\\p{N}{1,3}":
		return runSplit{run: colIsNumber, max: 3}
	case "[\r\n]":
		return runSplit{run: func(c rune) bool { return c == '\r' || c == '\n' }, max: 1}
	case "[0-9][0-9][0-9]":
		return runSplit{run: func(c rune) bool { return c >= '0' && c <= '9' }, max: 3, exact: true}
	case "\\s?\\p{L}+":
		return runSplit{opt: colIsSpace, run: colIsLetter}
	case "\\s?\\p{P}+":
		return runSplit{opt: colIsSpace, run: colIsPunct}
	case "[\\p{P}\\$\\+<=>\\^~\\|]+":
		return runSplit{run: func(c rune) bool { return colIsPunct(c) || strings.ContainsRune("$+<=>^~|", c) }}
	case "[\\p{P}\\$\\+<=>\\^~\\|`]+":
		return runSplit{run: func(c rune) bool { return colIsPunct(c) || strings.ContainsRune("$+<=>^~|`", c) }}
	case "[\u4e00-\u9fa5\u0800-\u4e00\uac00-\ud7ff]+":
		// a std::wregex on codepoints, where llama.cpp turns non-ASCII whitespace into \v first
		return runSplit{run: func(c rune) bool {
			return (c >= 0x4e00 && c <= 0x9fa5 || c >= 0x0800 && c <= 0x4e00 || c >= 0xac00 && c <= 0xd7ff) && cptFlags(c)&cfWhitespace == 0
		}}
	}
	return nil
}

// Character classes as std::regex sees them on llama.cpp's collapsed text: ASCII by its own
// ranges, other codepoints by their collapsed category byte.
func colIsNumber(c rune) bool { return c >= '0' && c <= '9' || c >= 128 && collapseCpt(c) == colNumber }
func colIsLetter(c rune) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= 128 && collapseCpt(c) == colLetter
}
func colIsPunct(c rune) bool {
	if c < 128 {
		return strings.ContainsRune("!\"#%&'()*,-./:;?@[\\]_{}", c)
	}
	return collapseCpt(c) == colPunct
}
func colIsSpace(c rune) bool {
	return c == ' ' || c >= '\t' && c <= '\r' || c >= 128 && cptFlags(c)&cfWhitespace != 0
}

// runSplit matches opt? run+ (at most max run characters when max > 0; exactly max when exact),
// leftmost and greedy like the regex.
type runSplit struct {
	opt, run func(rune) bool
	max      int
	exact    bool
}

func (r runSplit) split(cpts []rune, offs []int, out []int) []int {
	start := 0
	for _, n := range offs {
		end := start + n
		prev := start
		for p := start; p < end; {
			m := p
			if r.opt != nil && r.opt(cpts[p]) && p+1 < end && r.run(cpts[p+1]) {
				m = p + 1
			}
			if !r.run(cpts[m]) {
				p++
				continue
			}
			q := m
			for q < end && r.run(cpts[q]) && (r.max == 0 || q-m < r.max) {
				q++
			}
			if r.exact && q-m < r.max {
				p = q // too short for the regex, and so is any later start in this run
				continue
			}
			if p > prev {
				out = append(out, p-prev)
			}
			out = append(out, q-p)
			prev, p = q, q
		}
		if end > prev {
			out = append(out, end-prev)
		}
		start = end
	}
	return out
}
