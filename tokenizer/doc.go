// Package tokenizer implements the tokenizers of llama.cpp (for GGUF vocabularies) and of
// Hugging Face (tokenizer.json, SentencePiece tokenizer.model), so that ggufy's runtime produces
// llama.cpp's token ids and its converter can recognize a tokenizer's pre-tokenizer the way
// llama.cpp's converter does. It is a leaf package: it imports only gguf, the standard library
// and github.com/dlclark/regexp2 (lookahead in pre-tokenizer regexes).
//
// Three constructors, three semantics, one Tokenizer type:
//
//   - FromGGUF is llama.cpp v0.5.0's llama_vocab (src/llama-vocab.cpp, src/unicode.cpp): SPM
//     ("llama"), BPE ("gpt2", "gemma4") with every tokenizer.ggml.pre llama.cpp knows but kimi-k2,
//     and WPM ("bert"); the special-token partition with lstrip/rstrip, parse_special, add_bos/
//     add_eos, EOT/EOG detection, detokenization. Where llama.cpp's choices depend on libstdc++
//     (unordered_map iteration, std::sort), libstdc++ is emulated. Ids equal llama.cpp's.
//   - FromHF is Hugging Face tokenizers on a tokenizer.json (BPE model, normalizers,
//     pre-tokenizers, post-processors, decoders, added tokens) plus tokenizer_config.json; for a
//     directory with only tokenizer.model it converts it as transformers' LlamaConverter does.
//   - FromSentencePiece is SentencePiece's BPE encoder on a tokenizer.model; ParseSentencePiece
//     exposes the model's pieces, scores and types.
//
// PreFromHF names a tokenizer's pre-tokenizer as llama.cpp's converter does (get_vocab_base_pre:
// sha256 of the ids of its check text, looked up in its table).
package tokenizer
