package runtime

import (
	goruntime "runtime"
)

// Options are the settings of a Session and of the drivers built on it (perplexity, KL
// divergence, imatrix). The zero value means llama.cpp's defaults; use the With* functions.
type Options struct {
	// Threads is the number of worker threads for matrix products and attention (0: all cores).
	Threads int
	// Ctx is the context size: tokens per perplexity chunk and the capacity of the KV cache
	// (0: 512, llama-perplexity's default).
	Ctx int
	// Batch is the logical batch (llama.cpp's n_batch): at most this many tokens go into one
	// decode (0: 2048).
	Batch int
	// UBatch is the physical batch (n_ubatch): the tokens one forward pass processes at once
	// (0: 512). Like llama.cpp, the attention kernel depends on it: ggml-cpu's tiled float32
	// flash attention runs for 64 or more query rows, its fp16-accumulating one below that.
	UBatch int
	// KVF32 keeps the KV cache in float32 (llama.cpp's -ctk f32 -ctv f32) instead of fp16.
	KVF32 bool
	// Chunks limits perplexity, KL divergence and imatrix to the first Chunks chunks (0: all).
	Chunks int
}

// Option changes Options.
type Option func(*Options)

// WithThreads sets the number of worker threads (0: all cores).
func WithThreads(n int) Option { return func(o *Options) { o.Threads = n } }

// WithCtx sets the context size (tokens per chunk and KV cache capacity).
func WithCtx(n int) Option { return func(o *Options) { o.Ctx = n } }

// WithBatch sets the logical batch size (llama.cpp's -b).
func WithBatch(n int) Option { return func(o *Options) { o.Batch = n } }

// WithUBatch sets the physical batch size (llama.cpp's -ub).
func WithUBatch(n int) Option { return func(o *Options) { o.UBatch = n } }

// WithChunks limits the number of chunks evaluated (0: all).
func WithChunks(n int) Option { return func(o *Options) { o.Chunks = n } }

// WithKVF32 keeps the KV cache in float32 instead of fp16 (llama.cpp's -ctk f32 -ctv f32).
func WithKVF32(on bool) Option { return func(o *Options) { o.KVF32 = on } }

// NewOptions applies opts to the defaults.
func NewOptions(opts ...Option) Options {
	var o Options
	for _, f := range opts {
		f(&o)
	}
	return o.withDefaults()
}

func (o Options) withDefaults() Options {
	if o.Threads <= 0 {
		o.Threads = goruntime.NumCPU()
	}
	if o.Ctx <= 0 {
		o.Ctx = 512
	}
	if o.Batch <= 0 {
		o.Batch = 2048
	}
	if o.UBatch <= 0 {
		o.UBatch = 512
	}
	if o.Chunks < 0 {
		o.Chunks = 0
	}
	return o
}
