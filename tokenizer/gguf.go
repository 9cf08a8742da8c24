package tokenizer

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/ggufy/ggufy/gguf"
)

// Pre-tokenizer types (llama_vocab_pre_type), named after llama.cpp's enum.
const (
	preDefault         = "default"
	preLlama3          = "llama3"
	preDeepseekLLM     = "deepseek-llm"
	preDeepseekCoder   = "deepseek-coder"
	preFalcon          = "falcon"
	preMPT             = "mpt"
	preStarcoder       = "starcoder"
	preGPT2            = "gpt-2"
	preRefact          = "refact"
	preCommandR        = "command-r"
	preStableLM2       = "stablelm2"
	preQwen2           = "qwen2"
	preQwen35          = "qwen35"
	preOLMo            = "olmo"
	preDBRX            = "dbrx"
	preSmaug           = "smaug"
	prePoro            = "poro"
	preChatGLM4        = "chatglm4"
	preViking          = "viking"
	preJais            = "jais"
	preJais2           = "jais2"
	preTekken          = "tekken"
	preSmolLM          = "smollm"
	preCodeShell       = "codeshell"
	preBloom           = "bloom"
	preGPT3Finnish     = "gpt3-finnish"
	preExaone          = "exaone"
	preExaoneMoE       = "exaone-moe"
	preChameleon       = "chameleon"
	preMinerva         = "minerva"
	preDeepseek3LLM    = "deepseek3-llm"
	preGPT4o           = "gpt-4o"
	preSuperBPE        = "superbpe"
	preTrillion        = "trillion"
	preBailingMoE      = "bailingmoe"
	preSeedCoder       = "seed-coder"
	preHunyuan         = "hunyuan"
	preHunyuanDense    = "hunyuan-dense"
	preHyV4            = "hy-v4"
	preKimiK2          = "kimi-k2"
	preGrok2           = "grok-2"
	preGraniteDocling  = "granite-docling"
	preMinimaxM2       = "minimax-m2"
	preAFMoE           = "afmoe"
	preSolarOpen       = "solar-open"
	preYoutu           = "youtu"
	preJoyAI           = "joyai-llm"
	preSpark25         = "spark2_5"
	preTinyAya         = "tiny-aya"
	preGemma4          = "gemma4"
	preSarvamMoE       = "sarvam-moe"
	preMiniCPM5        = "minicpm5"
	preWhitespace      = "whitespace"
	preLaguna          = "laguna"
	preUfakzeka        = "ufakzeka"
	preMellum2         = "mellum2"
	preGraniteEmbMulti = "granite-emb-multi"
)

// bpePre holds what llama_vocab::impl::load derives from tokenizer.ggml.pre for BPE vocabularies.
type bpePre struct {
	typ                                  string
	ignoreMerges, addBOS, escapeWS       bool
	keepCleanSpaces                      bool // clean_spaces stays true (the BPE default)
	addSEP, noBOS, whitespaceNoLowercase bool
}

// resolveBPEPre is the tokenizer.ggml.pre chain of llama_vocab::impl::load (llama-vocab.cpp).
func resolveBPEPre(pre string) (bpePre, error) {
	p := bpePre{keepCleanSpaces: true}
	switch pre {
	case "", "default":
		p.typ = preDefault
	case "minicpm5":
		p.typ, p.ignoreMerges = preMiniCPM5, true
	case "llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral", "midm-2.0", "lfm2", "jina-v5-nano":
		p.typ, p.ignoreMerges, p.addBOS = preLlama3, true, true
	case "deepseek-llm":
		p.typ, p.keepCleanSpaces = preDeepseekLLM, false
	case "deepseek-coder":
		p.typ, p.keepCleanSpaces = preDeepseekCoder, false
	case "deepseek-v3":
		p.typ, p.keepCleanSpaces = preDeepseek3LLM, false
	case "spark2_5":
		p.typ, p.keepCleanSpaces = preSpark25, false
	case "youtu":
		p.typ, p.keepCleanSpaces, p.ignoreMerges = preYoutu, false, true
	case "falcon":
		p.typ = preFalcon
	case "mpt":
		p.typ = preMPT
	case "starcoder":
		p.typ = preStarcoder
	case "gpt-2", "phi-2", "jina-es", "jina-de", "gigachat", "jina-v2-es", "jina-v2-de", "a.x-4.0", "mellum", "modern-bert":
		p.typ = preGPT2
	case "jais-2":
		p.typ = preJais2
	case "gemma4", "granite-embed-multi-311m":
		p.typ, p.escapeWS = preGemma4, true
	case "sarvam-moe":
		p.typ, p.escapeWS, p.keepCleanSpaces = preSarvamMoE, true, false
	case "jina-v1-en", "jina-v2-code", "roberta-bpe":
		p.typ, p.addSEP = preGPT2, true
	case "whitespace":
		p.typ, p.whitespaceNoLowercase = preWhitespace, true
	case "refact":
		p.typ = preRefact
	case "command-r":
		p.typ, p.keepCleanSpaces = preCommandR, false
	case "qwen2", "deepseek-r1-qwen", "kormo", "f2llmv2":
		p.typ, p.keepCleanSpaces = preQwen2, false
	case "qwen35":
		p.typ, p.keepCleanSpaces = preQwen35, false
	case "stablelm2":
		p.typ = preStableLM2
	case "olmo":
		p.typ = preOLMo
	case "dbrx":
		p.typ = preDBRX
	case "smaug-bpe":
		p.typ = preSmaug
	case "poro-chat":
		p.typ, p.keepCleanSpaces = prePoro, false
	case "glm4", "chatglm-bpe":
		p.typ, p.noBOS = preChatGLM4, true
	case "viking":
		p.typ, p.keepCleanSpaces = preViking, false
	case "jais":
		p.typ = preJais
	case "tekken":
		p.typ, p.keepCleanSpaces, p.ignoreMerges, p.addBOS = preTekken, false, true, true
	case "smollm":
		p.typ, p.keepCleanSpaces = preSmolLM, false
	case "codeshell":
		p.typ = preCodeShell
	case "bloom":
		p.typ = preBloom
	case "gpt3-finnish":
		p.typ = preGPT3Finnish
	case "exaone":
		p.typ = preExaone
	case "exaone4":
		p.typ = preGPT2
	case "exaone-moe":
		p.typ = preExaoneMoE
	case "chameleon":
		p.typ, p.addBOS, p.keepCleanSpaces = preChameleon, true, false
	case "minerva-7b":
		p.typ = preMinerva
	case "megrez":
		p.typ = preQwen2
	case "gpt-4o", "llama4", "kanana2", "talkie":
		p.typ, p.keepCleanSpaces = preGPT4o, false
	case "granite-embed-multi-97m":
		p.typ, p.keepCleanSpaces, p.ignoreMerges = preGraniteEmbMulti, false, true
	case "tiny_aya", "cohere2moe":
		p.typ, p.keepCleanSpaces = preTinyAya, false
	case "superbpe":
		p.typ, p.keepCleanSpaces = preSuperBPE, false
	case "trillion":
		p.typ, p.keepCleanSpaces = preTrillion, false
	case "granite-docling":
		p.typ, p.keepCleanSpaces = preGraniteDocling, false
	case "bailingmoe", "bailingmoe2", "llada-moe":
		p.typ, p.keepCleanSpaces = preBailingMoE, false
	case "seed-coder":
		p.typ, p.keepCleanSpaces = preSeedCoder, false
	case "hunyuan":
		p.typ, p.keepCleanSpaces = preHunyuan, false
	case "hunyuan-dense":
		p.typ, p.keepCleanSpaces = preHunyuanDense, false
	case "hy_v4":
		p.typ, p.keepCleanSpaces = preHyV4, false
	case "joyai-llm":
		p.typ, p.keepCleanSpaces = preJoyAI, false
	case "kimi-k2":
		p.typ, p.keepCleanSpaces = preKimiK2, false
	case "ufakzeka":
		p.typ, p.keepCleanSpaces = preUfakzeka, false
	case "grok-2":
		p.typ, p.keepCleanSpaces = preGrok2, false
	case "afmoe":
		p.typ, p.keepCleanSpaces = preAFMoE, false
	case "laguna":
		p.typ, p.keepCleanSpaces = preLaguna, false
	case "minimax-m2":
		p.typ, p.keepCleanSpaces = preMinimaxM2, false
	case "solar-open":
		p.typ, p.keepCleanSpaces = preSolarOpen, false
	case "mellum2":
		p.typ = preMellum2
	default:
		return p, fmt.Errorf("%w: unknown pre-tokenizer type %q", ErrFormat, pre)
	}
	return p, nil
}

// Metadata keys (llama-arch.cpp LLM_KV_TOKENIZER_*).
const (
	kvModel      = "tokenizer.ggml.model"
	kvPre        = "tokenizer.ggml.pre"
	kvTokens     = "tokenizer.ggml.tokens"
	kvTokenType  = "tokenizer.ggml.token_type"
	kvScores     = "tokenizer.ggml.scores"
	kvMerges     = "tokenizer.ggml.merges"
	kvAddBOS     = "tokenizer.ggml.add_bos_token"
	kvAddEOS     = "tokenizer.ggml.add_eos_token"
	kvAddSEP     = "tokenizer.ggml.add_sep_token"
	kvAddPrefix  = "tokenizer.ggml.add_space_prefix"
	kvRemoveWS   = "tokenizer.ggml.remove_extra_whitespaces"
	kvLowercase  = "tokenizer.ggml.normalizer.lowercase"
	kvGeneralNm  = "general.name"
	kvGeneralArc = "general.architecture"
)

// meta wraps gguf.Metadata with llama_model_loader's strictly typed get_key.
type meta struct{ m *gguf.Metadata }

func (m meta) str(key string) (string, bool, error) {
	v, ok := m.m.Get(key)
	if !ok {
		return "", false, nil
	}
	s, ok := v.Str()
	if !ok {
		return "", false, fmt.Errorf("%w: key %s has type %s, want STRING", ErrFormat, key, v.Type())
	}
	return s, true, nil
}

func (m meta) boolean(key string) (bool, bool, error) {
	v, ok := m.m.Get(key)
	if !ok {
		return false, false, nil
	}
	b, ok := v.Bool()
	if !ok {
		return false, false, fmt.Errorf("%w: key %s has type %s, want BOOL", ErrFormat, key, v.Type())
	}
	return b, true, nil
}

func (m meta) u32(key string) (uint32, bool, error) {
	v, ok := m.m.Get(key)
	if !ok {
		return 0, false, nil
	}
	if v.Type() != gguf.ValueUint32 {
		return 0, false, fmt.Errorf("%w: key %s has type %s, want UINT32", ErrFormat, key, v.Type())
	}
	x, _ := v.Int()
	return uint32(x), true, nil
}

func (m meta) array(key string, elem gguf.ValueType) (gguf.Array, bool, error) {
	v, ok := m.m.Get(key)
	if !ok {
		return gguf.Array{}, false, nil
	}
	a, ok := v.Array()
	if !ok || a.Elem != elem {
		return gguf.Array{}, false, fmt.Errorf("%w: key %s has type %s, want ARRAY of %s", ErrFormat, key, v.Type(), elem)
	}
	return a, true, nil
}

// FromGGUF builds the tokenizer llama.cpp builds from a GGUF file's metadata
// (llama_vocab::impl::load), for the SPM ("llama") and BPE ("gpt2", "gemma4") vocabularies.
func FromGGUF(md *gguf.Metadata) (*Tokenizer, error) {
	t, err := fromGGUF(md)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: gguf: %w", err)
	}
	return t, nil
}

func fromGGUF(md *gguf.Metadata) (*Tokenizer, error) {
	m := meta{md}
	model, ok, err := m.str(kvModel)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("%w: no %s", ErrFormat, kvModel)
	}
	pre, _, err := m.str(kvPre)
	if err != nil {
		return nil, err
	}
	lv := &llamaVocab{escapeWS: true, lowercase: true}
	t := &Tokenizer{model: model, eng: lv}
	// default special tokens per vocabulary type
	bos, eos, unk, sep, pad, mask := int32(1), int32(2), int32(0), NoToken, NoToken, NoToken
	var merges gguf.Array
	var bp bpePre
	switch model {
	case "llama":
		lv.kind = kindSPM
	case "gpt2", "gemma4":
		lv.kind = kindBPE
		var ok bool
		merges, ok, err = m.array(kvMerges, gguf.ValueString)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, fmt.Errorf("%w: cannot find tokenizer merges", ErrFormat)
		}
		if model == "gpt2" {
			bos, eos, unk = 11, 11, NoToken
		} else {
			bos, eos, unk = NoToken, NoToken, NoToken
			pre = "gemma4"
		}
	case "bert":
		lv.kind = kindWPM
		bos, eos, unk, sep, pad, mask = 101, NoToken, 100, 102, 0, 103
	case "no_vocab", "none", "t5", "rwkv", "plamo2", "test", "hybriddna", "whitespace":
		return nil, fmt.Errorf("%w: vocabulary type %q", ErrUnsupported, model)
	default:
		return nil, fmt.Errorf("%w: unknown tokenizer %q", ErrFormat, model)
	}
	addBOS, addEOS, addSEP := false, false, false
	switch lv.kind {
	case kindBPE:
		bp, err = resolveBPEPre(pre)
		if err != nil {
			return nil, err
		}
		lv.addSpacePrefix, lv.escapeWS, lv.cleanSpaces = false, bp.escapeWS, bp.keepCleanSpaces
		lv.ignoreMerges = bp.ignoreMerges
		addBOS, addSEP = bp.addBOS, bp.addSEP
		if bp.noBOS {
			bos = NoToken
		}
		t.pre = bp.typ
	case kindSPM:
		lv.addSpacePrefix, lv.cleanSpaces = true, false
		addBOS, addEOS = true, false
		t.pre = preDefault
	case kindWPM:
		lv.addSpacePrefix, lv.cleanSpaces = false, true
		addBOS, addEOS, addSEP = true, false, true
		t.pre = preDefault
	}
	if v, ok, err := m.boolean(kvAddPrefix); err != nil {
		return nil, err
	} else if ok {
		lv.addSpacePrefix = v
	}
	if v, ok, err := m.boolean(kvRemoveWS); err != nil {
		return nil, err
	} else if ok {
		lv.removeExtraWS = v
	}

	toks, ok, err := m.array(kvTokens, gguf.ValueString)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("%w: cannot find tokenizer vocab", ErrFormat)
	}
	words := toks.Values.([]string)
	n := len(words)
	var fscores []float32
	var iscores []int32
	if v, ok := md.Get(kvScores); ok {
		a, isArr := v.Array()
		switch {
		case isArr && a.Elem == gguf.ValueFloat32:
			fscores = a.Values.([]float32)
		case isArr && a.Elem == gguf.ValueInt32:
			iscores = a.Values.([]int32)
		default:
			return nil, fmt.Errorf("%w: invalid gguf type for %s", ErrFormat, kvScores)
		}
		if a.Len() < n {
			return nil, fmt.Errorf("%w: %d scores for %d tokens", ErrFormat, a.Len(), n)
		}
	}
	var types []int32
	if a, ok, err := m.array(kvTokenType, gguf.ValueInt32); err != nil {
		return nil, err
	} else if ok {
		types = a.Values.([]int32)
		if len(types) < n {
			return nil, fmt.Errorf("%w: %d token types for %d tokens", ErrFormat, len(types), n)
		}
	}

	t.init(n)
	for i, w := range words {
		if w == "" {
			w = "[EMPTY_" + strconv.Itoa(i) + "]"
		}
		t.ids[w] = int32(i)
		t.pieces[i] = w
		lv.maxTokenLen = max(lv.maxTokenLen, len(w))
		switch {
		case fscores != nil:
			t.scores[i] = fscores[i]
		case iscores != nil:
			t.scores[i] = float32(iscores[i])
		}
		t.attrs[i] = attrNormal
		if types != nil {
			t.attrs[i] = typeAttr(TokenType(types[i]))
		}
	}
	if len(t.ids) != n {
		return nil, fmt.Errorf("%w: duplicate tokens in the vocabulary (llama.cpp aborts on them)", ErrFormat)
	}
	if lv.kind == kindBPE {
		ms := merges.Values.([]string)
		lv.merges = make(map[string]int32, len(ms))
		for i, w := range ms {
			key := w
			if p := strings.IndexByte(w[min(1, len(w)):], ' '); p < 0 {
				key = " " // llama.cpp stores ("", ""), which no lookup can reach
			}
			if _, dup := lv.merges[key]; !dup {
				lv.merges[key] = int32(i)
			}
		}
		exprs, byteEncode, err := preRegexes(bp.typ)
		if err != nil {
			return nil, err
		}
		if lv.split, err = newRegexSplitter(exprs, byteEncode); err != nil {
			return nil, err
		}
		lv.gemma4 = bp.typ == preGemma4
	}

	// special token ids from metadata
	ids := []struct {
		key string
		id  *int32
	}{
		{"tokenizer.ggml.bos_token_id", &bos}, {"tokenizer.ggml.eos_token_id", &eos},
		{"tokenizer.ggml.eot_token_id", &t.eot}, {"tokenizer.ggml.eom_token_id", &t.eom},
		{"tokenizer.ggml.unknown_token_id", &unk}, {"tokenizer.ggml.seperator_token_id", &sep},
		{"tokenizer.ggml.padding_token_id", &pad}, {"tokenizer.ggml.mask_token_id", &mask},
		{"tokenizer.ggml.fim_pre_token_id", &t.fimPre}, {"tokenizer.ggml.fim_suf_token_id", &t.fimSuf},
		{"tokenizer.ggml.fim_mid_token_id", &t.fimMid}, {"tokenizer.ggml.fim_pad_token_id", &t.fimPad},
		{"tokenizer.ggml.fim_rep_token_id", &t.fimRep}, {"tokenizer.ggml.fim_sep_token_id", &t.fimSep},
		{"tokenizer.ggml.prefix_token_id", &t.fimPre}, {"tokenizer.ggml.suffix_token_id", &t.fimSuf},
		{"tokenizer.ggml.middle_token_id", &t.fimMid},
	}
	for _, s := range ids {
		if *s.id >= 0 && int(*s.id) >= n {
			*s.id = NoToken
		}
		v, ok, err := m.u32(s.key)
		if err != nil {
			return nil, err
		}
		if ok && int64(v) < int64(n) {
			*s.id = int32(v)
		}
	}
	t.bos, t.eos, t.unk, t.sep, t.pad, t.mask = bos, eos, unk, sep, pad, mask
	for _, b := range []struct {
		key string
		v   *bool
	}{{kvAddBOS, &addBOS}, {kvAddEOS, &addEOS}, {kvAddSEP, &addSEP}} {
		v, ok, err := m.boolean(b.key)
		if err != nil {
			return nil, err
		}
		if ok {
			*b.v = v
		}
	}
	if t.pre == preGemma4 && !addBOS {
		addBOS = true // llama.cpp's workaround for Gemma 4
	}
	t.addBOS, t.addEOS, t.addSEP = addBOS, addEOS, addSEP
	if lv.kind == kindBPE && t.pre == preWhitespace {
		lv.lowercase = false
	}
	if v, ok, err := m.boolean(kvLowercase); err != nil {
		return nil, err
	} else if ok {
		lv.lowercase = v
	}
	lv.stripAccents = lv.lowercase
	if v, ok, err := m.boolean("tokenizer.ggml.normalizer.strip_accents"); err != nil {
		return nil, err
	} else if ok {
		lv.stripAccents = v
	}

	t.detectSpecials()

	// the special-token cache, ordered by length as std::sort leaves it
	for id := range t.attrs {
		if t.attrs[id]&(attrControl|attrUserDefined|attrUnknown) != 0 {
			lv.special = append(lv.special, int32(id))
		}
	}
	stdSort(lv.special, func(a, b int32) bool { return len(t.pieces[a]) > len(t.pieces[b]) })

	if err := t.perModelAttrs(m); err != nil {
		return nil, err
	}
	switch lv.kind {
	case kindSPM:
		t.nl = lv.byteToken(t, '\n')
		if t.nl == NoToken {
			t.nl = t.pad
		}
	case kindWPM:
		t.nl = t.pad
	default:
		// llama.cpp tokenizes "\n" before it builds the special-token cache
		saved := lv.special
		lv.special = nil
		if ids := lv.encode(t, "\n", false, false, nil); len(ids) > 0 {
			t.nl = ids[0]
		} else {
			t.nl = t.pad
		}
		lv.special = saved
	}
	return t, nil
}

// detectSpecials is the part of llama_vocab::impl::load that finds EOT/EOM/FIM tokens by text,
// marks unused control tokens and builds the end-of-generation set.
func (t *Tokenizer) detectSpecials() {
	type cand struct {
		id    *int32
		texts []string
	}
	cands := []cand{
		{&t.eot, []string{"<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<|end_of_text|>", "<EOT>", "_<EOT>", "[EOT]", "<｜end▁of▁sentence｜>", "<end_of_utterance>"}},
		{&t.eom, []string{"<|eom_id|>"}},
		{&t.fimPre, []string{"<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>", "<｜fim▁begin｜>", "<PRE>", "▁<PRE>", "<|code_prefix|>", "<|prefix|>"}},
		{&t.fimSuf, []string{"<|fim_suffix|>", "<fim-suffix>", "<fim_suffix>", "<｜fim▁hole｜>", "<SUF>", "▁<SUF>", "<|code_suffix|>", "<|suffix|>"}},
		{&t.fimMid, []string{"<|fim_middle|>", "<fim-middle>", "<fim_middle>", "<｜fim▁end｜>", "<MID>", "▁<MID>", "<|code_middle|>", "<|middle|>"}},
		{&t.fimPad, []string{"<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]"}},
		{&t.fimRep, []string{"<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>"}},
		{&t.fimSep, []string{"<|file_sep|>"}},
	}
	// llama.cpp takes the first candidate in its unordered_map's iteration order; compute that
	// order only when it matters.
	var rank []int32
	for _, c := range cands {
		if *c.id != NoToken {
			continue
		}
		var found []int32
		for _, s := range c.texts {
			if id, ok := t.ids[s]; ok {
				found = append(found, id)
			}
		}
		if len(found) == 0 {
			continue
		}
		best := found[0]
		if len(found) > 1 {
			if rank == nil {
				rank = unorderedMapRank(t.pieces)
			}
			for _, id := range found[1:] {
				if rank[id] < rank[best] {
					best = id
				}
			}
		}
		*c.id = best
		t.attrs[best] |= attrControl
	}

	for id, a := range t.attrs {
		if a&attrControl != 0 && a&attrUnused == 0 && strings.Contains(t.pieces[id], "unused") {
			t.attrs[id] |= attrUnused
		}
	}

	for _, id := range []int32{t.fimPad, t.fimRep, t.fimSep} {
		if id != NoToken {
			t.eog[id] = struct{}{}
		}
	}
	for _, s := range []string{"<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>", "<|flush|>", "<|calls|>",
		"<end_of_turn>", "<|endoftext|>", "</s>", "<|eom_id|>", "<EOT>", "_<EOT>", "[EOT]", "[EOS]", "<|end_of_text|>",
		"<end_of_utterance>", "<eos>", "<turn|>", "<|tool_response>", "<｜end▁of▁sentence｜>", "[e~["} {
		if id, ok := t.ids[s]; ok {
			t.eog[id] = struct{}{}
			t.attrs[id] |= attrControl
		}
	}
	for _, s := range []string{"<|channel|>", "<|message|>", "<|start|>", "<|constrain|>"} {
		if id, ok := t.ids[s]; ok {
			t.attrs[id] = attrUserDefined
		}
	}
	for _, id := range []int32{t.eos, t.eot, t.eom} {
		if id != NoToken {
			t.eog[id] = struct{}{}
		}
	}
	has := func(s string) (int32, bool) {
		for id := range t.eog {
			if id >= 0 && int(id) < len(t.pieces) && t.pieces[id] == s {
				return id, true
			}
		}
		return NoToken, false
	}
	_, hasReturn := has("<|return|>")
	_, hasCall := has("<|call|>")
	if !hasCall {
		_, hasCall = has("<|calls|>")
	}
	_, hasFlush := has("<|flush|>")
	if endID, hasEnd := has("<|end|>"); hasEnd && (hasReturn && hasCall || hasCall && hasFlush) {
		delete(t.eog, endID)
		t.attrs[endID] = attrUserDefined
	}
	if _, ok := has("<|tool_response>"); ok {
		if sID, ok := has("</s>"); ok {
			delete(t.eog, sID)
			t.attrs[sID] = attrNormal
		}
	}
}

// perModelAttrs applies llama.cpp's per-model token attributes (lstrip/rstrip), chosen by
// general.name, tokenizer.ggml.pre and general.architecture.
func (t *Tokenizer) perModelAttrs(m meta) error {
	name, _, err := m.str(kvGeneralNm)
	if err != nil {
		return err
	}
	pre, _, _ := m.str(kvPre)
	arch, _, err := m.str(kvGeneralArc)
	if err != nil {
		return err
	}
	name = asciiLower(name)
	containsAny := func(s string, subs ...string) bool {
		for _, x := range subs {
			if strings.Contains(s, x) {
				return true
			}
		}
		return false
	}
	set := func(text string, a attr, v bool) error {
		id, ok := t.ids[text]
		if !ok {
			return fmt.Errorf("%w: token %q missing (llama.cpp throws)", ErrFormat, text)
		}
		if v {
			t.attrs[id] |= a
		} else {
			t.attrs[id] &^= a
		}
		return nil
	}
	switch {
	case containsAny(pre, "jina-v2-de", "jina-v2-es", "jina-v2-code") || containsAny(arch, "nomic-bert-moe", "jina-bert-v3"):
		if _, ok := t.ids["<mask>"]; ok {
			return set("<mask>", attrLstrip, true)
		}
	case containsAny(name, "phi-3", "phi3"):
		for _, id := range t.eng.(*llamaVocab).special {
			t.attrs[id] |= attrRstrip
		}
		if err := set("</s>", attrRstrip, true); err != nil {
			return err
		}
		for _, s := range []string{"<unk>", "<s>", "<|endoftext|>"} {
			if err := set(s, attrRstrip, false); err != nil {
				return err
			}
		}
	case containsAny(name, "modern-bert"):
		if _, ok := t.ids["[MASK]"]; ok {
			return set("[MASK]", attrLstrip, true)
		}
	}
	return nil
}

func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}
