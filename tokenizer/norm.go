package tokenizer

import (
	"sort"
	"strings"
	"sync"
	"unicode/utf8"
)

// Unicode normalization forms (UAX #15) for the Hugging Face NFC/NFD/NFKC/NFKD normalizers;
// Go's standard library has none. The tables in normdata.go are generated from Python's
// unicodedata; the algorithms are the standard ones (full decomposition, canonical ordering,
// canonical composition with the blocking rule, algorithmic Hangul).

type normForm int

const (
	formNFD normForm = iota
	formNFC
	formNFKD
	formNFKC
)

type decompEntry struct {
	compat bool
	to     []rune
}

var (
	normOnce   sync.Once
	normDec    map[rune]decompEntry
	normCmp    map[uint64]rune
	normCCCLos []rune
)

func loadNorm() {
	normDec = make(map[rune]decompEntry, 6000)
	for _, line := range strings.Split(normDecomp, "\n") {
		if line == "" {
			continue
		}
		r, n := utf8.DecodeRuneInString(line)
		normDec[r] = decompEntry{compat: line[n] == 'k', to: []rune(line[n+1:])}
	}
	normCmp = make(map[uint64]rune, len(normComp)/3)
	for i := 0; i < len(normComp); i += 3 {
		normCmp[uint64(normComp[i])<<32|uint64(normComp[i+1])] = rune(normComp[i+2])
	}
	for i := 0; i < len(normCCC); i += 3 {
		normCCCLos = append(normCCCLos, rune(normCCC[i]))
	}
}

// combiningClass returns the canonical combining class of r.
func combiningClass(r rune) uint8 {
	i := sort.Search(len(normCCCLos), func(i int) bool { return normCCCLos[i] > r }) - 1
	if i < 0 || r > rune(normCCC[3*i+1]) {
		return 0
	}
	return uint8(normCCC[3*i+2])
}

const (
	hangulS = 0xAC00
	hangulL = 0x1100
	hangulV = 0x1161
	hangulT = 0x11A7
	hangulN = 21 * 28
	hangulC = 19 * hangulN
)

func decomposeRune(dst []rune, r rune, compat bool) []rune {
	if r >= hangulS && r < hangulS+hangulC {
		s := r - hangulS
		dst = append(dst, hangulL+s/hangulN, hangulV+(s%hangulN)/28)
		if t := s % 28; t != 0 {
			dst = append(dst, hangulT+t)
		}
		return dst
	}
	if d, ok := normDec[r]; ok && (compat || !d.compat) {
		for _, x := range d.to {
			dst = decomposeRune(dst, x, compat)
		}
		return dst
	}
	return append(dst, r)
}

func composePair(a, b rune) (rune, bool) {
	if a >= hangulL && a < hangulL+19 && b >= hangulV && b < hangulV+21 {
		return hangulS + ((a-hangulL)*21+(b-hangulV))*28, true
	}
	if a >= hangulS && a < hangulS+hangulC && (a-hangulS)%28 == 0 && b > hangulT && b < hangulT+28 {
		return a + (b - hangulT), true
	}
	c, ok := normCmp[uint64(a)<<32|uint64(b)]
	return c, ok
}

// normalizeString applies a Unicode normalization form. Invalid UTF-8 is read as U+FFFD.
func normalizeString(s string, f normForm) string {
	ascii := true
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			ascii = false
			break
		}
	}
	if ascii {
		return s
	}
	normOnce.Do(loadNorm)
	compat := f == formNFKD || f == formNFKC
	var rs []rune
	for _, r := range s {
		rs = decomposeRune(rs, r, compat)
	}
	// canonical ordering: stable sort of each run of non-starters by combining class
	for i := 0; i < len(rs); {
		if combiningClass(rs[i]) == 0 {
			i++
			continue
		}
		j := i
		for j < len(rs) && combiningClass(rs[j]) != 0 {
			j++
		}
		run := rs[i:j]
		sort.SliceStable(run, func(a, b int) bool { return combiningClass(run[a]) < combiningClass(run[b]) })
		i = j
	}
	if f == formNFC || f == formNFKC {
		rs = composeRunes(rs)
	}
	return string(rs)
}

// composeRunes is the canonical composition algorithm of UAX #15.
func composeRunes(rs []rune) []rune {
	if len(rs) == 0 {
		return rs
	}
	starterPos := 0
	starter := rs[0]
	lastClass := int(combiningClass(starter))
	if lastClass != 0 {
		lastClass = 256 // a leading non-starter blocks everything after it
	}
	out := 1
	for i := 1; i < len(rs); i++ {
		ch := rs[i]
		cc := int(combiningClass(ch))
		if c, ok := composePair(starter, ch); ok && (lastClass < cc || lastClass == 0) {
			rs[starterPos] = c
			starter = c
			continue
		}
		if cc == 0 {
			starterPos = out
			starter = ch
		}
		lastClass = cc
		rs[out] = ch
		out++
	}
	return rs[:out]
}
