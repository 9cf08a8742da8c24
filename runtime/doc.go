// Package runtime is ggufy's CPU inference runtime: it loads a GGUF file (any weight type
// ggufy writes, single or split) or a Hugging Face checkpoint directory (through archmap, so the
// original weights can serve as the baseline), runs the forward pass of every model family
// archmap converts, and computes what llama.cpp's tools compute from it: perplexity
// (llama-perplexity), KL divergence against a base model (llama-perplexity --kl-divergence) and
// importance matrices (llama-imatrix).
//
// The goal is numerical agreement with llama.cpp on the CPU, not just plausibility. Each family's
// graph (graph_*.go) follows the graph llama.cpp v0.5.0 builds for that GGUF architecture
// (src/models/*.cpp, MIT License), and the building blocks follow ggml-cpu's kernels: RMSNorm and
// LayerNorm in float32 with ggml's accumulation, RoPE with theta in float and cos/sin in float,
// GELU through ggml's fp16 lookup table, SiLU and softmax through ggml's vectorized expf, an F16 KV
// cache, flash attention as ggml-cpu computes it (its tiled float32 path for batches of 64 or more
// query rows, its per-row path with an fp16 accumulator otherwise), and matrix products whose
// activations are first quantized to the weight type's vec_dot type (package runtime/kernels).
package runtime
