"""Make the small tokenizer.json files of tokenizer/testdata/hf from real ones (installed by
scripts/tokenizers.sh): the first merges of a real BPE vocabulary, the tokens they use and
make, the base tokens, and pipelines that exercise the Hugging Face components.

    /usr/bin/python3 tokenizer/internal/gen/gen_tinyhf.py $GGUFY_TOKENIZERS tokenizer/testdata/hf
"""
import json, os, sys

home, out = sys.argv[1], sys.argv[2]

def cut(src, n, keep_bytes):
    j = json.load(open(os.path.join(home, "models", src, "tokenizer.json"), encoding="utf-8"))
    vocab, merges = j["model"]["vocab"], j["model"]["merges"]
    merges = [m if isinstance(m, list) else m.split(" ", 1) for m in merges[:n]]
    keep = set(keep_bytes)
    for a, b in merges:
        keep.update((a, b, a + b))
    toks = sorted((t for t in keep if t in vocab), key=lambda t: vocab[t])
    return {t: i for i, t in enumerate(toks)}, merges

def byte_level_alphabet():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs, n = bs[:], 0
    for b in range(256):
        if b not in bs:
            bs.append(b); cs.append(256 + n); n += 1
    return [chr(c) for c in cs]

def save(name, tj, cfg):
    d = os.path.join(out, name)
    os.makedirs(d, exist_ok=True)
    json.dump(tj, open(os.path.join(d, "tokenizer.json"), "w", encoding="utf-8"), ensure_ascii=False)
    json.dump(cfg, open(os.path.join(d, "tokenizer_config.json"), "w", encoding="utf-8"), ensure_ascii=False, indent=1)

def added(i, content, special, normalized=False, lstrip=False, rstrip=False):
    return {"id": i, "content": content, "single_word": False, "lstrip": lstrip, "rstrip": rstrip,
            "normalized": normalized, "special": special}

# 1. byte-level BPE (Qwen 2.5's first 1500 merges), NFC, Llama-3 style Split + ByteLevel, pair merges
vocab, merges = cut("qwen2_5", 1500, byte_level_alphabet())
n = len(vocab)
adds = [added(n, "<|endoftext|>", True), added(n + 1, "<|im_start|>", True), added(n + 2, "<|im_end|>", True),
        added(n + 3, "<tool>", False), added(n + 4, "[R]", True, rstrip=True), added(n + 5, "[L]", True, lstrip=True),
        added(n + 6, "café", False, normalized=True)]
save("tiny", {
    "version": "1.0", "truncation": None, "padding": None, "added_tokens": adds,
    "normalizer": {"type": "NFC"},
    "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
        {"type": "Split", "pattern": {"Regex": "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"}, "behavior": "Isolated", "invert": False},
        {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False}]},
    "post_processor": {"type": "TemplateProcessing",
        "single": [{"SpecialToken": {"id": "<|im_start|>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}, {"SpecialToken": {"id": "<|im_end|>", "type_id": 0}}],
        "pair": [{"Sequence": {"id": "A", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}}],
        "special_tokens": {"<|im_start|>": {"id": "<|im_start|>", "ids": [n + 1], "tokens": ["<|im_start|>"]},
                           "<|im_end|>": {"id": "<|im_end|>", "ids": [n + 2], "tokens": ["<|im_end|>"]}}},
    "decoder": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False},
    "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": "", "end_of_word_suffix": "",
              "fuse_unk": False, "byte_fallback": False, "ignore_merges": False, "vocab": vocab, "merges": merges}},
    {"bos_token": "<|im_start|>", "eos_token": "<|im_end|>", "clean_up_tokenization_spaces": False, "tokenizer_class": "Qwen2Tokenizer"})

# 2. SentencePiece-style BPE (Mistral v0.1's first 1500 merges): Prepend/Replace normalizer, byte
# fallback, fuse_unk, string merges
j = json.load(open(os.path.join(home, "models", "llama2", "tokenizer.json"), encoding="utf-8"))
base = [t for t in j["model"]["vocab"] if len(t) == 6 and t.startswith("<0x")] + ["<unk>", "<s>", "</s>", "\u2581"]
base += [t for t in j["model"]["vocab"] if len(t) == 1 and ord(t) < 0x250]
vocab, merges = cut("llama2", 1500, base)
save("tiny-spm", {
    "version": "1.0", "truncation": None, "padding": None,
    "added_tokens": [added(vocab["<unk>"], "<unk>", True), added(vocab["<s>"], "<s>", True), added(vocab["</s>"], "</s>", True)],
    "normalizer": {"type": "Sequence", "normalizers": [{"type": "Prepend", "prepend": "\u2581"}, {"type": "Replace", "pattern": {"String": " "}, "content": "\u2581"}]},
    "pre_tokenizer": None,
    "post_processor": {"type": "TemplateProcessing",
        "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
        "pair": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}}],
        "special_tokens": {"<s>": {"id": "<s>", "ids": [vocab["<s>"]], "tokens": ["<s>"]}}},
    "decoder": {"type": "Sequence", "decoders": [{"type": "Replace", "pattern": {"String": "\u2581"}, "content": " "}, {"type": "ByteFallback"}, {"type": "Fuse"}, {"type": "Strip", "content": " ", "start": 1, "stop": 0}]},
    "model": {"type": "BPE", "dropout": None, "unk_token": "<unk>", "continuing_subword_prefix": None, "end_of_word_suffix": None,
              "fuse_unk": True, "byte_fallback": True, "vocab": vocab, "merges": [a + " " + b for a, b in merges]}},
    {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "clean_up_tokenization_spaces": False, "tokenizer_class": "PreTrainedTokenizerFast"})
