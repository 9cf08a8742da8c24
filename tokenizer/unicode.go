package tokenizer

import (
	"sync"
	"unicode"
	"unicode/utf8"
)

// Codepoint flags with the bit layout of llama.cpp's unicode_cpt_flags (src/unicode.h, MIT).
// The category flags are exclusive; whitespace is a separate property.
const (
	cfUndefined  uint16 = 0x0001 // Cn: unassigned
	cfNumber     uint16 = 0x0002 // \p{N}
	cfLetter     uint16 = 0x0004 // \p{L}
	cfSeparator  uint16 = 0x0008 // \p{Z}
	cfMark       uint16 = 0x0010 // \p{M}
	cfPunct      uint16 = 0x0020 // \p{P}
	cfSymbol     uint16 = 0x0040 // \p{S}
	cfControl    uint16 = 0x0080 // \p{C} but Cn
	cfCategories uint16 = 0x00FF
	cfWhitespace uint16 = 0x0100 // Unicode White_Space, as llama.cpp's unicode_set_whitespace
)

const maxCodepoints = 0x110000

var (
	flagsOnce  sync.Once
	flagsTable []uint16 // maxCodepoints entries
)

// unicode151 lists the codepoints assigned in Unicode 15.1, which llama.cpp's unicode-data.cpp
// (generated from UCD "latest") has and Go's unicode tables (Unicode 15.0.0) lack. The test
// TestFlagsMatchLlamaCpp checks the whole table against unicode-data.cpp when the llama.cpp
// source is at hand; these three ranges are the only differences.
var unicode151 = []struct {
	lo, hi rune
	flag   uint16
}{
	{0x2FFC, 0x2FFF, cfSymbol},   // ideographic description characters (So)
	{0x31EF, 0x31EF, cfSymbol},   // CJK stroke HXG (So)
	{0x2EBF0, 0x2EE5D, cfLetter}, // CJK Unified Ideographs Extension I (Lo)
}

// whitespaceCpts is llama.cpp's unicode_set_whitespace (the White_Space property).
var whitespaceCpts = []rune{
	0x0009, 0x000A, 0x000B, 0x000C, 0x000D, 0x0020, 0x0085, 0x00A0, 0x1680,
	0x2000, 0x2001, 0x2002, 0x2003, 0x2004, 0x2005, 0x2006, 0x2007, 0x2008, 0x2009, 0x200A,
	0x2028, 0x2029, 0x202F, 0x205F, 0x3000,
}

func buildFlags() {
	t := make([]uint16, maxCodepoints)
	for i := range t {
		t[i] = cfUndefined
	}
	cats := []struct {
		tab  *unicode.RangeTable
		flag uint16
	}{
		{unicode.L, cfLetter}, {unicode.M, cfMark}, {unicode.N, cfNumber},
		{unicode.P, cfPunct}, {unicode.S, cfSymbol}, {unicode.Z, cfSeparator},
		{unicode.Cc, cfControl}, {unicode.Cf, cfControl}, {unicode.Co, cfControl}, {unicode.Cs, cfControl},
	}
	for _, c := range cats {
		for _, r := range c.tab.R16 {
			for x := uint32(r.Lo); x <= uint32(r.Hi); x += uint32(r.Stride) {
				t[x] = c.flag
			}
		}
		for _, r := range c.tab.R32 {
			for x := r.Lo; x <= r.Hi; x += r.Stride {
				t[x] = c.flag
			}
		}
	}
	for _, r := range unicode151 {
		for x := r.lo; x <= r.hi; x++ {
			t[x] = r.flag
		}
	}
	for _, c := range whitespaceCpts {
		t[c] |= cfWhitespace
	}
	flagsTable = t
}

// cptFlags returns llama.cpp's unicode_cpt_flags_from_cpt: codepoints beyond U+10FFFF are undefined.
func cptFlags(c rune) uint16 {
	flagsOnce.Do(buildFlags)
	if c < 0 || c >= maxCodepoints {
		return cfUndefined
	}
	return flagsTable[c]
}

// cptTolower is llama.cpp's unicode_tolower: the simple lowercase mapping of UnicodeData.txt.
func cptTolower(c rune) rune {
	if c < 0x80 {
		if 'A' <= c && c <= 'Z' {
			return c + 'a' - 'A'
		}
		return c
	}
	if c >= maxCodepoints {
		return c
	}
	return unicode.ToLower(c)
}

// utf8Len is llama.cpp's unicode_len_utf8: the sequence length a lead byte announces, by its
// high nibble (continuation and invalid bytes count as 1).
func utf8Len(b byte) int {
	switch b >> 4 {
	case 0xC, 0xD:
		return 2
	case 0xE:
		return 3
	case 0xF:
		return 4
	}
	return 1
}

// decodeCpt is llama.cpp's unicode_cpt_from_utf8 with the fallback of unicode_cpts_from_utf8:
// it accepts overlong forms, surrogates and values up to 0x1FFFFF, and turns any other
// malformed sequence into U+FFFD consuming one byte. It returns the codepoint and its length.
func decodeCpt(s string, i int) (rune, int) {
	c := s[i]
	if c < 0x80 {
		return rune(c), 1
	}
	if c&0x40 == 0 {
		return 0xFFFD, 1
	}
	n := len(s) - i
	cont := func(k int) bool { return s[i+k]&0xC0 == 0x80 }
	if c&0x20 == 0 {
		if n < 2 || !cont(1) {
			return 0xFFFD, 1
		}
		return rune(c&0x1F)<<6 | rune(s[i+1]&0x3F), 2
	}
	if c&0x10 == 0 {
		if n < 3 || !cont(1) || !cont(2) {
			return 0xFFFD, 1
		}
		return rune(c&0x0F)<<12 | rune(s[i+1]&0x3F)<<6 | rune(s[i+2]&0x3F), 3
	}
	if c&0x08 == 0 {
		if n < 4 || !cont(1) || !cont(2) || !cont(3) {
			return 0xFFFD, 1
		}
		return rune(c&0x07)<<18 | rune(s[i+1]&0x3F)<<12 | rune(s[i+2]&0x3F)<<6 | rune(s[i+3]&0x3F), 4
	}
	return 0xFFFD, 1
}

// appendCpts appends the codepoints of s decoded as llama.cpp's unicode_cpts_from_utf8 does.
func appendCpts(dst []rune, s string) []rune {
	for i := 0; i < len(s); {
		if s[i] < 0x80 {
			dst = append(dst, rune(s[i]))
			i++
			continue
		}
		c, n := decodeCpt(s, i)
		dst = append(dst, c)
		i += n
	}
	return dst
}

// appendCptUTF8 is llama.cpp's unicode_cpt_to_utf8. It encodes surrogates as three bytes (as
// llama.cpp does); codepoints beyond U+10FFFF, on which llama.cpp throws, become U+FFFD.
func appendCptUTF8(dst []byte, c rune) []byte {
	switch {
	case c >= 0 && c <= 0x7F:
		return append(dst, byte(c))
	case c >= 0x80 && c <= 0x7FF:
		return append(dst, 0xC0|byte(c>>6)&0x1F, 0x80|byte(c)&0x3F)
	case c >= 0x800 && c <= 0xFFFF:
		return append(dst, 0xE0|byte(c>>12)&0x0F, 0x80|byte(c>>6)&0x3F, 0x80|byte(c)&0x3F)
	case c >= 0x10000 && c <= 0x10FFFF:
		return append(dst, 0xF0|byte(c>>18)&0x07, 0x80|byte(c>>12)&0x3F, 0x80|byte(c>>6)&0x3F, 0x80|byte(c)&0x3F)
	}
	return utf8.AppendRune(dst, utf8.RuneError)
}

// GPT-2's bytes_to_unicode table (openai/gpt-2 encoder.py, MIT; llama.cpp unicode.cpp):
// printable bytes map to themselves, the others to U+0100 upwards, in byte order.
var (
	byteToUnicode [256]string
	unicodeToByte map[rune]byte
)

func init() {
	unicodeToByte = make(map[rune]byte, 256)
	n := 0
	for b := 0; b < 256; b++ {
		r := rune(b)
		if !(b >= 0x21 && b <= 0x7E || b >= 0xA1 && b <= 0xAC || b >= 0xAE && b <= 0xFF) {
			r = rune(256 + n)
			n++
		}
		byteToUnicode[b] = string(r)
		unicodeToByte[r] = byte(b)
	}
}
