package tokenizer

// llama.cpp's WordPiece tokenizer for BERT vocabularies (llm_tokenizer_wpm_session in
// src/llama-vocab.cpp, MIT): lowercasing and accent stripping, splitting on whitespace,
// punctuation and CJK characters, then the longest vocabulary match from the left of
// "▁"+word, the whole word becoming the unknown token when some part matches nothing.

// nfdFirst is llama.cpp's unicode_cpts_normalize_nfd for one codepoint: the first codepoint of
// its canonical decomposition.
func nfdFirst(c rune) rune {
	if c >= hangulS && c < hangulS+hangulC {
		return hangulL + (c-hangulS)/hangulN
	}
	normOnce.Do(loadNorm)
	d, ok := normDec[c]
	for ok && !d.compat {
		c = d.to[0]
		d, ok = normDec[c]
	}
	return c
}

func isWPMChinese(c rune) bool {
	return c >= 0x4E00 && c <= 0x9FFF || c >= 0x3400 && c <= 0x4DBF || c >= 0x20000 && c <= 0x2A6DF ||
		c >= 0x2A700 && c <= 0x2B73F || c >= 0x2B740 && c <= 0x2B81F || c >= 0x2B920 && c <= 0x2CEAF ||
		c >= 0xF900 && c <= 0xFAFF || c >= 0x2F800 && c <= 0x2FA1F
}

// wpmWords is llm_tokenizer_wpm_session::preprocess.
func (lv *llamaVocab) wpmWords(text string, sc *llamaScratch) [][]byte {
	cpts := appendCpts(sc.split.cpts[:0], text)
	sc.split.cpts = cpts
	var words [][]byte
	cur := []byte{}
	var u [4]byte
	for _, c := range cpts {
		if lv.stripAccents {
			c = nfdFirst(c)
		}
		f := cptFlags(c)
		if f&cfWhitespace != 0 {
			if len(cur) > 0 {
				words, cur = append(words, cur), []byte{}
			}
			continue
		}
		if c == 0 || c == 0xFFFD || f&cfCategories == cfControl {
			continue
		}
		if lv.stripAccents && f&cfCategories == cfMark {
			continue
		}
		lc := c
		if lv.lowercase {
			lc = cptTolower(c)
		}
		s := appendCptUTF8(u[:0], lc)
		if f&cfCategories == cfPunct || c < 0x7F && f&cfCategories == cfSymbol || isWPMChinese(c) {
			if len(cur) > 0 {
				words = append(words, cur)
			}
			words, cur = append(words, append([]byte{}, s...)), []byte{}
			continue
		}
		cur = append(cur, s...)
	}
	if len(cur) > 0 {
		words = append(words, cur)
	}
	return words
}

// wpm is llm_tokenizer_wpm_session::tokenize.
func (lv *llamaVocab) wpm(t *Tokenizer, text string, out []int32, sc *llamaScratch) []int32 {
	for _, word := range lv.wpmWords(text, sc) {
		w := append([]byte("\u2581"), word...)
		n := len(w)
		start := len(out)
		for i := 0; i < n; i++ {
			match := false
			for j := min(n, i+lv.maxTokenLen+1); j > i; j-- {
				if id := t.lookupBytes(w[i:j]); id != NoToken {
					out = append(out, id)
					match = true
					i = j - 1
					break
				}
			}
			if !match {
				out = out[:start]
				break
			}
		}
		if len(out) == start && t.unk != NoToken {
			out = append(out, t.unk) // without one, llama.cpp writes LLAMA_TOKEN_NULL (-1)
		}
	}
	return out
}
