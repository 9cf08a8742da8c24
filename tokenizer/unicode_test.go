package tokenizer

import (
	"sort"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

func hexPairs(t *testing.T, path string) [][2]int64 {
	t.Helper()
	var out [][2]int64
	for _, l := range readLines(t, path) {
		f := strings.Fields(l)
		a, err1 := strconv.ParseInt(f[0], 16, 64)
		b, err2 := strconv.ParseInt(f[1], 16, 64)
		if err1 != nil || err2 != nil {
			t.Fatalf("%s: bad line %q", path, l)
		}
		out = append(out, [2]int64{a, b})
	}
	return out
}

// TestFlagsMatchLlamaCpp checks our codepoint categories (Go's unicode tables plus the Unicode
// 15.1 additions) against llama.cpp's unicode-data.cpp, codepoint by codepoint.
func TestFlagsMatchLlamaCpp(t *testing.T) {
	ranges := hexPairs(t, "testdata/llamacpp/unicode-flags.txt")
	bad := 0
	for i := 0; i+1 < len(ranges); i++ {
		for c := ranges[i][0]; c < ranges[i+1][0]; c++ {
			if got := cptFlags(rune(c)) & cfCategories; int64(got) != ranges[i][1] {
				if bad++; bad < 10 {
					t.Errorf("U+%04X: flags %#x, llama.cpp %#x", c, got, ranges[i][1])
				}
			}
		}
	}
	if bad > 0 {
		t.Errorf("%d codepoints differ", bad)
	}
	ws := map[rune]bool{}
	for _, c := range whitespaceCpts {
		ws[c] = true
	}
	for c := rune(0); c < maxCodepoints; c++ {
		if (cptFlags(c)&cfWhitespace != 0) != ws[c] {
			t.Errorf("U+%04X: whitespace flag wrong", c)
		}
	}
	if cptFlags(maxCodepoints) != cfUndefined || cptFlags(-1) != cfUndefined {
		t.Error("codepoints out of range must be undefined")
	}
}

// TestTolowerMatchesLlamaCpp checks cptTolower against llama.cpp's unicode_map_lowercase.
func TestTolowerMatchesLlamaCpp(t *testing.T) {
	m := map[rune]rune{}
	for _, p := range hexPairs(t, "testdata/llamacpp/unicode-lower.txt") {
		m[rune(p[0])] = rune(p[1])
	}
	for c := rune(0); c < maxCodepoints; c++ {
		want, ok := m[c]
		if !ok {
			want = c
		}
		if got := cptTolower(c); got != want {
			t.Errorf("tolower(U+%04X) = U+%04X, llama.cpp U+%04X", c, got, want)
		}
	}
}

func TestDecodeCpt(t *testing.T) {
	for _, c := range []struct {
		in   string
		want []rune
	}{
		{"a\xc3\xa9", []rune{'a', 0xE9}},
		{"\xc0\x80", []rune{0}},                // overlong accepted
		{"\xed\xa0\x80", []rune{0xD800}},       // surrogate accepted
		{"\xf7\xbf\xbf\xbf", []rune{0x1FFFFF}}, // beyond U+10FFFF accepted
		{"\x80x", []rune{0xFFFD, 'x'}},         // lone continuation
		{"\xe2\x82", []rune{0xFFFD, 0xFFFD}},   // truncated
		{"\xf8\x88\x80\x80", []rune{0xFFFD, 0xFFFD, 0xFFFD, 0xFFFD}},
	} {
		if got := appendCpts(nil, c.in); string(got) != string(c.want) {
			t.Errorf("appendCpts(%q) = %U, want %U", c.in, got, c.want)
		}
	}
	for c := rune(0); c < 0x110000; c += 7 {
		b := appendCptUTF8(nil, c)
		if r, n := decodeCpt(string(b), 0); r != c || n != len(b) {
			t.Fatalf("round trip U+%04X: %U %d", c, r, n)
		}
		if c < 0xD800 || c > 0xDFFF {
			if string(b) != string(utf8.AppendRune(nil, c)) {
				t.Fatalf("U+%04X encodes as %x", c, b)
			}
		}
	}
}

// TestNFDFirstMatchesLlamaCpp checks nfdFirst against llama.cpp's unicode_ranges_nfd.
func TestNFDFirstMatchesLlamaCpp(t *testing.T) {
	type rng struct{ lo, hi, nfd rune }
	var rs []rng
	for _, l := range readLines(t, "testdata/llamacpp/unicode-nfd.txt") {
		f := strings.Fields(l)
		var v [3]int64
		for i := range v {
			v[i], _ = strconv.ParseInt(f[i], 16, 64)
		}
		rs = append(rs, rng{rune(v[0]), rune(v[1]), rune(v[2])})
	}
	want := func(c rune) rune {
		i := sort.Search(len(rs), func(i int) bool { return rs[i].lo > c }) - 1
		if i >= 0 && rs[i].lo <= c && c <= rs[i].hi {
			return rs[i].nfd
		}
		return c
	}
	bad := 0
	for c := rune(0); c < maxCodepoints; c++ {
		if got, w := nfdFirst(c), want(c); got != w {
			if bad++; bad <= 10 {
				t.Errorf("nfd(U+%04X) = U+%04X, llama.cpp U+%04X", c, got, w)
			}
		}
	}
	if bad > 0 {
		t.Errorf("%d codepoints differ", bad)
	}
}
