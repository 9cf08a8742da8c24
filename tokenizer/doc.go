// Package tokenizer implements the tokenizers of llama.cpp (for GGUF vocabularies) and of
// Hugging Face (tokenizer.json, SentencePiece tokenizer.model), so that ggufy's runtime produces
// llama.cpp's token ids and its converter can recognize a tokenizer's pre-tokenizer the way
// llama.cpp's converter does. It is a leaf package: it imports only gguf.
package tokenizer
