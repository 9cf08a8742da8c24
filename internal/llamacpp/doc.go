// Package llamacpp drives the pinned prebuilt llama.cpp (v0.5.0, ggml 0.25.1) through cgo so that
// tests can compare ggufy with the real thing: ggml's quantizers and dequantizers, model loading,
// tokenization, logits, perplexity and llama_model_quantize.
//
// It is built only with the build tag "llamacpp" and needs the environment printed by
// scripts/llamacpp.sh (CGO_CFLAGS, CGO_LDFLAGS, GGUFY_LLAMACPP_LIB). Nothing outside tests may
// import it.
package llamacpp
