package tokenizer

import (
	"fmt"
	"strings"

	"github.com/dlclark/regexp2"
)

// This file reimplements llama.cpp's unicode_regex_split (src/unicode.cpp, MIT): the text is
// split by a list of regexes applied in turn, each one refining the pieces of the previous one
// (a match and the gaps between matches all become pieces). Some regexes have hand-written
// splitters in llama.cpp (unicode_regex_split_custom_*), chosen by exact string comparison; the
// others run through std::regex, on a "collapsed" text where every non-ASCII codepoint is
// replaced by one byte standing for its Unicode category when the regex uses \p{..} classes.
// We port the custom splitters and emulate std::regex with regexp2 on the same collapsed text.

// Pre-tokenizer regexes of llama.cpp's llm_tokenizer_bpe, keyed by llama_vocab_pre_type. The
// strings are llama.cpp's own: the custom splitters are selected by comparing them.
const (
	reGPT2   = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)"
	reLlama3 = "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
	reQwen2  = "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
	reQwen35 = "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?[\\p{L}\\p{M}]+|\\p{N}| ?[^\\s\\p{L}\\p{M}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
	// the original Llama 3 regex, which llama.cpp also routes to the custom splitter
	reLlama3Orig = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
	reNewlines   = "[^\\n]+|[\\n]+"
	reAFMoE      = "\\p{AFMoE_digits}"
	reTinyAya    = "\\d{1,3}(?=(?:\\d{3})*\\b)"
	reKimiK2     = "\\p{Han}+"
	reGPT4o      = "[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))*((?=[\\p{L}])([^A-Z]))+(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))+((?=[\\p{L}])([^A-Z]))*(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
	reDeepseek3  = "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+"
	reBloom      = " ?[^(\\s|.,!?\u2026\u3002\uff0c\u3001\u0964\u06d4\u060c)]+"
)

// preRegexes maps a pre-tokenizer type to llama.cpp's regex list and byte_encode flag
// (llm_tokenizer_bpe's constructor in src/llama-vocab.cpp).
func preRegexes(typ string) (exprs []string, byteEncode bool, err error) {
	byteEncode = true
	switch typ {
	case preLlama3, preDBRX, preSmaug, preChatGLM4:
		exprs = []string{reLlama3}
	case preJais2:
		exprs = []string{"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s{512}(?!\\S)|\\s{256}(?!\\S)|\\s{128}(?!\\S)|\\s{64}(?!\\S)|\\s{32}(?!\\S)|\\s{16}(?!\\S)|\\s{8}(?!\\S)|\\s{4}(?!\\S)|\\s{1,2}(?!\\S)|\\s{1}"}
	case preDeepseekLLM:
		exprs = []string{
			"[\r\n]",
			"\\s?[A-Za-z\u00b5\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u01ba\u01bc-\u01bf\u01c4-\u0293\u0295-\u02af\u0370-\u0373\u0376\u0377\u037b-\u037d\u037f\u0386\u0388-\u038a\u038c\u038e-\u03a1\u03a3-\u03f5\u03f7-\u0481\u048a-\u052f\u0531-\u0556\u10a0-\u10c5\u13a0-\u13f5\u13f8-\u13fd\u1c90-\u1cba\u1cbd-\u1cbf\u1d00-\u1d2b\u1d6b-\u1d77\u1d79-\u1d9a\u1e00-\u1f15\u1f18-\u1f1d\u1f20-\u1f45\u1f48-\u1f4d\u1f50-\u1f57\u1f59\u1f5b\u1f5d\u1f5f-\u1f7d\u1f80-\u1fb4\u1fb6-\u1fbc\u1fbe\u1fc2-\u1fc4\u1fc6-\u1fcc\u1fd0-\u1fd3\u1fd6-\u1fdb\u1fe0-\u1fec\u1ff2-\u1ff4\u1ff6-\u1ffc\u2102\u2107\u210a-\u2113\u2115\u2119-\u211d\u2124\u2126\u2128\u212a-\u212d\u212f-\u2134\u2139\u213c-\u213f\u2145-\u2149\u214e\u2183\u2184\u2c00-\u2c7b\u2c7e-\u2ce4\u2ceb-\u2cee\u2cf2\u2cf3\ua640-\ua66d\ua680-\ua69b\ua722-\ua76f\ua771-\ua787\ua78b-\ua78e\uab70-\uabbf\ufb00-\ufb06\ufb13-\ufb17\uff21-\uff3a\uff41-\uff5a\U00010400-\U0001044f\U000104b0-\U000104d3\U000104d8-\U000104fb\U00010c80-\U00010cb2\U00010cc0-\U00010cf2\U000118a0-\U000118df\U0001e900-\U0001e943]+",
			"\\s?[!-/:-~\uff01-\uff0f\uff1a-\uff5e\u2018-\u201f\u3000-\u3002]+",
			"\\s+$",
			"[\u4e00-\u9fa5\u0800-\u4e00\uac00-\ud7ff]+",
			"\\p{N}+",
		}
	case preDeepseek3LLM, preHunyuanDense, preJoyAI, preHyV4:
		exprs = []string{"\\p{N}{1,3}", "[\u4e00-\u9fa5\u0800-\u4e00\uac00-\ud7ff]+", reDeepseek3}
	case preSpark25:
		exprs = []string{
			"\\p{N}{1,3}",
			"[\u4e00-\u9fa5\u0800-\u4e00\uac00-\ud7ff]+",
			"[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+|[\r\n]|\\s+(?!\\S)|\\s+",
			"\\p{N}",
		}
	case preYoutu:
		exprs = []string{
			"[\uac00-\ud7a3\u3131-\u318e]+|[\uff01\u2026\u201c\u201d\u2018\u2019\u2014\uff1a\uff1b\uff0c\u3001-\u303f\ufe30-\ufe4f]+|[\u3105-\u312f]+|[\u4e00-\u9fa5\u3040-\u309f\u30a0-\u30ff]+",
			"[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
		}
	case preDeepseekCoder:
		exprs = []string{"[\r\n]", "\\s?\\p{L}+", "\\s?\\p{P}+", "[\u4e00-\u9fa5\u0800-\u4e00\uac00-\ud7ff]+", "\\p{N}"}
	case preFalcon:
		exprs = []string{"[\\p{P}\\$\\+<=>\\^~\\|`]+", reGPT2, "[0-9][0-9][0-9]"}
	case preStarcoder, preRefact, preCommandR, preSmolLM, preCodeShell, preExaone, preMinerva, preMellum2:
		exprs = []string{"\\p{N}", reGPT2}
	case preGPT2, preMPT, preOLMo, preJais, preTrillion, preGraniteDocling:
		exprs = []string{reGPT2}
	case preStableLM2, preQwen2, preHunyuan, preSolarOpen, preGrok2:
		exprs = []string{reQwen2}
	case preQwen35:
		exprs = []string{reQwen35}
	case prePoro, preBloom, preGPT3Finnish:
		exprs = []string{reBloom}
	case preViking:
		exprs = []string{reBloom, "\\p{N}"}
	case preTekken:
		exprs = []string{"[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))*((?=[\\p{L}])([^A-Z]))+|[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))+((?=[\\p{L}])([^A-Z]))*|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"}
	case preChameleon:
		exprs = []string{
			"<sentinel:[0-9]+>",
			"(IMGIMG)((A|B|C|D|E|F|G|H|I){1,4})Z",
			"([\\t\\n]|    |  )",
			"\\p{N}",
			"[\\p{P}!-/:-@\\[-`{-~]",
			reGPT2,
		}
	case preGPT4o, preMinimaxM2:
		exprs = []string{reGPT4o}
	case preGraniteEmbMulti:
		exprs = []string{"[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}\\p{M}])([^a-z]))*((?=[\\p{L}\\p{M}])([^A-Z]))+(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}\\p{M}])([^a-z]))+((?=[\\p{L}\\p{M}])([^A-Z]))*(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"}
	case preTinyAya:
		exprs = []string{
			reTinyAya,
			"[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
		}
	case preKimiK2:
		return nil, false, fmt.Errorf("%w: pre-tokenizer %q (its custom splitter is not ported)", ErrUnsupported, typ)
	case preSuperBPE:
		exprs = []string{"\\p{N}+", "(?=(\\d{3})+(?!\\d))"}
	case preBailingMoE:
		exprs = []string{"'(?:[sSdDmMtT]|[lL][lL]|[vV][eE]|[rR][eE])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]|\\s+(?!\\S)|\\s+"}
	case preSeedCoder:
		exprs = []string{"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1}| ?[^\\s\\p{L}\\p{N}\\r\\n]+|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"}
	case preUfakzeka:
		exprs = []string{"[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"}
	case preAFMoE:
		exprs = []string{
			reAFMoE,
			"[\u4e00-\u9fff\u3400-\u4dbf\u8c48-\ufaff\u3040-\u309f\u30a0-\u30ff\uff65-\uff9f\u2f00-\u2fdf\u0e40-\u0e7f\u0e80-\u0eff\u1780-\u17ff\u1000-\u109f\uaa60-\uaa7f\ua9e0-\ua9ff\uac00-\ud7af\u1100-\u11ff]+",
			"[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\\r\\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
		}
	case preLaguna:
		exprs = []string{reNewlines, reQwen2}
	case preExaoneMoE:
		exprs = []string{"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?(?:\\p{L}\\p{M}*(?: \\p{L}\\p{M}*)*)+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]?|\\s*[\\r\\n]|\\s+(?!\\S)|\\s+"}
	case preGemma4, preSarvamMoE:
		exprs = []string{reNewlines}
		byteEncode = false
	case preMiniCPM5:
		exprs = []string{"\\p{N}{1,3}", "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}+| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"}
	case preWhitespace:
		exprs = []string{"\\S+"}
		byteEncode = false
	case preDefault:
		exprs = []string{"[\\p{P}\\$\\+<=>\\^~\\|]+", reGPT2, "\\p{N}+", "[0-9][0-9][0-9]"}
	default:
		return nil, false, fmt.Errorf("%w: pre-tokenizer type %q", ErrUnsupported, typ)
	}
	return exprs, byteEncode, nil
}

// splitter refines a split of cpts: offs lists the lengths (in codepoints) of consecutive
// pieces covering cpts; it appends the refined lengths to out.
type splitter interface {
	split(cpts []rune, offs []int, out []int) []int
}

// regexSplitter is llama.cpp's unicode_regex_split for one regex list.
type regexSplitter struct {
	steps      []splitter
	needCollap bool
	byteEncode bool
}

func newRegexSplitter(exprs []string, byteEncode bool) (*regexSplitter, error) {
	rs := &regexSplitter{byteEncode: byteEncode}
	for _, e := range exprs {
		s, err := compileSplit(e)
		if err != nil {
			return nil, err
		}
		if st, ok := s.(*stdRegexSplit); ok && st.collapsed {
			rs.needCollap = true
		}
		rs.steps = append(rs.steps, s)
	}
	return rs, nil
}

// compileSplit mirrors unicode_regex_split_custom's dispatch, falling back to the emulated
// std::regex.
func compileSplit(e string) (splitter, error) {
	switch e {
	case reGPT2:
		return gpt2Split{}, nil
	case reLlama3, reLlama3Orig:
		return llama3Split{digits: 3}, nil
	case reQwen2:
		return llama3Split{digits: 1}, nil
	case reQwen35:
		return llama3Split{digits: 1, marks: true}, nil
	case reNewlines:
		return newlineSplit{}, nil
	case reAFMoE, reTinyAya:
		return afmoeSplit{}, nil
	case reKimiK2:
		return nil, fmt.Errorf("%w: the Kimi-K2 splitter", ErrUnsupported)
	}
	if s := fastSplit(e); s != nil {
		return s, nil
	}
	return newStdRegexSplit(e)
}

// words splits text into pre-tokenized words (byte-encoded for GPT-2 style BPE) and calls fn
// with each one; the slice passed to fn is reused.
func (rs *regexSplitter) words(text string, sc *splitScratch, fn func(word []byte)) {
	sc.cpts = appendCpts(sc.cpts[:0], text)
	cpts := sc.cpts
	if len(cpts) == 0 {
		return
	}
	offs := append(sc.offsA[:0], len(cpts))
	tmp := sc.offsB[:0]
	if rs.needCollap {
		sc.collapsed = collapse(sc.collapsed[:0], cpts)
	}
	for _, st := range rs.steps {
		if s, ok := st.(*stdRegexSplit); ok {
			tmp = s.splitStd(cpts, sc.collapsed, offs, tmp[:0])
		} else {
			tmp = st.split(cpts, offs, tmp[:0])
		}
		offs, tmp = tmp, offs
	}
	sc.offsA, sc.offsB = offs, tmp
	start := 0
	for _, n := range offs {
		w := sc.word[:0]
		for _, c := range cpts[start : start+n] {
			if rs.byteEncode {
				var u [4]byte
				for _, b := range appendCptUTF8(u[:0], c) {
					w = append(w, byteToUnicode[b]...)
				}
			} else {
				w = appendCptUTF8(w, c)
			}
		}
		start += n
		sc.word = w
		fn(w)
	}
}

// splitScratch holds buffers reused across calls.
type splitScratch struct {
	cpts         []rune
	collapsed    []rune
	offsA, offsB []int
	word         []byte
}

// Collapsed codepoints of llama.cpp's unicode_regex_split: ASCII stays, other whitespace
// becomes \v, and other codepoints one byte per category.
const (
	colOther  = 0xD0
	colNumber = 0xD1
	colLetter = 0xD2
	colPunct  = 0xD3
	colMark   = 0xD4
	colSymbol = 0xD5
)

func collapseCpt(c rune) rune {
	if c < 128 {
		return c
	}
	f := cptFlags(c)
	if f&cfWhitespace != 0 {
		return 0x0B
	}
	switch f & cfCategories {
	case cfNumber:
		return colNumber
	case cfLetter:
		return colLetter
	case cfPunct:
		return colPunct
	case cfMark:
		return colMark
	case cfSymbol:
		return colSymbol
	}
	return colOther
}

func collapse(dst []rune, cpts []rune) []rune {
	for _, c := range cpts {
		dst = append(dst, collapseCpt(c))
	}
	return dst
}

// ucat are the \p{..} classes llama.cpp collapses, with the collapsed byte and the ASCII members.
var ucat = map[string]struct {
	col   rune
	ascii string
}{
	"\\p{N}":  {colNumber, "0-9"},
	"\\p{L}":  {colLetter, "A-Za-z"},
	"\\p{P}":  {colPunct, "!-#%-*,-/:-;?-@\\[-\\]_\\{\\}"},
	"\\p{M}":  {colMark, ""},
	"\\p{S}":  {colSymbol, "\\$\\+<->\\^`\\|\\~"},
	"\\p{Lu}": {colLetter, "A-Za-z"},
	"\\p{Ll}": {colLetter, "A-Za-z"},
	"\\p{Lt}": {colLetter, "A-Za-z"},
	"\\p{Lm}": {colLetter, "A-Za-z"},
	"\\p{Lo}": {colLetter, "A-Za-z"},
}

// stdRegexSplit emulates llama.cpp's unicode_regex_split_stl: std::regex (ECMAScript) matches
// over each piece; matches and the gaps between them become pieces.
type stdRegexSplit struct {
	re        *regexp2.Regexp
	collapsed bool
}

func newStdRegexSplit(e string) (*stdRegexSplit, error) {
	useCollapsed := false
	for k := range ucat {
		if strings.Contains(e, k) {
			useCollapsed = true
			break
		}
	}
	pat := e
	if useCollapsed {
		for _, c := range e {
			if c >= 128 {
				return nil, fmt.Errorf("tokenizer: regex %q mixes unicode categories and non-ASCII characters", e)
			}
		}
		pat = collapseRegex(e)
	}
	pat, err := cLocaleClasses(pat)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: regex %q: %w", e, err)
	}
	re, err := regexp2.Compile(pat, regexp2.ECMAScript)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: regex %q: %w", e, err)
	}
	return &stdRegexSplit{re: re, collapsed: useCollapsed}, nil
}

// collapseRegex rewrites \p{..} classes as llama.cpp does, tracking brackets the same
// (simple-minded) way.
func collapseRegex(e string) string {
	var b strings.Builder
	inside := false
	for i := 0; i < len(e); i++ {
		if e[i] == '[' && (i == 0 || e[i-1] != '\\') {
			b.WriteByte('[')
			inside = true
			continue
		}
		if inside && e[i] == ']' && e[i-1] != '\\' {
			b.WriteByte(']')
			inside = false
			continue
		}
		if e[i] == '\\' && i+3 < len(e) && e[i+1] == 'p' && e[i+2] == '{' {
			if j := strings.IndexByte(e[i+3:], '}'); j >= 0 && i+3+j <= i+10 {
				closing := i + 3 + j
				if u, ok := ucat[e[i:closing+1]]; ok {
					if !inside {
						b.WriteByte('[')
					}
					b.WriteRune(u.col)
					b.WriteString(u.ascii)
					if !inside {
						b.WriteByte(']')
					}
					i = closing
					continue
				}
			}
		}
		b.WriteByte(e[i])
	}
	return b.String()
}

// cLocaleClasses replaces \s \S \d \D \w \W by the ASCII sets that libstdc++'s std::regex uses
// in the "C" locale (regexp2's ECMAScript \s also matches U+FEFF and other non-ASCII spaces).
func cLocaleClasses(p string) (string, error) {
	var b strings.Builder
	inside := false
	rs := []rune(p)
	for i := 0; i < len(rs); i++ {
		c := rs[i]
		if c == '\\' && i+1 < len(rs) {
			d := rs[i+1]
			var in, out string
			switch d {
			case 's':
				in, out = `\t-\r `, `[\t-\r ]`
			case 'S':
				out = `[^\t-\r ]`
			case 'd':
				in, out = `0-9`, `[0-9]`
			case 'D':
				out = `[^0-9]`
			case 'w':
				in, out = `0-9A-Za-z_`, `[0-9A-Za-z_]`
			case 'W':
				out = `[^0-9A-Za-z_]`
			default:
				b.WriteRune(c)
				b.WriteRune(d)
				i++
				continue
			}
			if inside {
				if in == "" {
					return "", fmt.Errorf("negated class \\%c inside brackets", d)
				}
				b.WriteString(in)
			} else {
				b.WriteString(out)
			}
			i++
			continue
		}
		if c == '[' && !inside {
			inside = true
			b.WriteRune(c)
			// a leading ] or ^] is literal
			if i+1 < len(rs) && rs[i+1] == '^' {
				b.WriteRune('^')
				i++
			}
			continue
		}
		if c == ']' && inside {
			inside = false
		}
		b.WriteRune(c)
	}
	return b.String(), nil
}

func (s *stdRegexSplit) split(cpts []rune, offs []int, out []int) []int {
	return s.splitStd(cpts, nil, offs, out)
}

func (s *stdRegexSplit) splitStd(cpts, collapsed []rune, offs []int, out []int) []int {
	text := cpts
	if s.collapsed {
		text = collapsed
	} else {
		// std::wregex does not know non-ASCII whitespace: llama.cpp maps it to \v
		var ws []rune
		for i, c := range cpts {
			if c > 0x7F && cptFlags(c)&cfWhitespace != 0 {
				if ws == nil {
					ws = append([]rune(nil), cpts...)
				}
				ws[i] = 0x0B
			}
		}
		if ws != nil {
			text = ws
		}
	}
	start := 0
	for _, n := range offs {
		piece := text[start : start+n : start+n]
		pos := 0
		m, err := s.re.FindRunesMatch(piece)
		for err == nil && m != nil {
			if m.Index > pos {
				out = append(out, m.Index-pos)
			}
			out = append(out, m.Length)
			pos = m.Index + m.Length
			m, err = s.re.FindNextMatch(m)
		}
		if pos < n {
			out = append(out, n-pos)
		}
		start += n
	}
	return out
}
