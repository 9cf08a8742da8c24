// Package synth writes synthetic Llama-architecture Hugging Face checkpoints of a requested size
// for the speed and memory benchmarks: a real config.json, BF16 safetensors shards with
// model.safetensors.index.json laid out as transformers' save_pretrained does, and a real small
// SentencePiece tokenizer copied from a checkpoint directory. Weights are deterministic
// pseudo-random bf16 values from a cheap generator (one splitmix64 step per four values), so a
// checkpoint of several GB is written at disk speed and is the same on every run.
package synth

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"

	"github.com/ggufy/ggufy/internal/testmodel"
)

// Config describes the checkpoint. Zero fields take the defaults of TinyLlama-1.1B's shapes
// (hidden 2048, ffn 5632, 32 heads, 4 KV heads, vocabulary 32000), whose row lengths are
// multiples of 256 so that every k-quant applies to every matrix.
type Config struct {
	Size         int64  // target total tensor bytes; sets the layer count (at least 1)
	Layers       int    // explicit layer count (overrides Size)
	Hidden       int    // hidden_size
	FFN          int    // intermediate_size
	Heads        int    // num_attention_heads
	KVHeads      int    // num_key_value_heads
	Vocab        int    // vocab_size (the tokenizer's pieces, padded as the converter does)
	ShardSize    int64  // max bytes of tensor data per shard (default 1 GB)
	TokenizerDir string // where tokenizer.model, tokenizer_config.json (and friends) come from
	Seed         uint64 // generator seed
}

// Tokenizer files copied from TokenizerDir; tokenizer.model and tokenizer_config.json are required.
var tokenizerFiles = []struct {
	name     string
	required bool
}{
	{"tokenizer.model", true},
	{"tokenizer_config.json", true},
	{"special_tokens_map.json", false},
	{"generation_config.json", false},
}

func (c *Config) fill() error {
	def := func(p *int, v int) {
		if *p == 0 {
			*p = v
		}
	}
	def(&c.Hidden, 2048)
	def(&c.FFN, 5632)
	def(&c.Heads, 32)
	def(&c.KVHeads, 4)
	def(&c.Vocab, 32000)
	if c.ShardSize == 0 {
		c.ShardSize = 1_000_000_000
	}
	switch {
	case c.Hidden%256 != 0 || c.FFN%256 != 0:
		return fmt.Errorf("synth: hidden %d and ffn %d must be multiples of 256", c.Hidden, c.FFN)
	case c.Heads <= 0 || c.KVHeads <= 0 || c.Hidden%c.Heads != 0 || c.Heads%c.KVHeads != 0:
		return fmt.Errorf("synth: %d heads, %d KV heads do not divide hidden %d", c.Heads, c.KVHeads, c.Hidden)
	case c.Vocab <= 0 || c.Layers < 0 || c.Size < 0 || c.ShardSize < 0:
		return errors.New("synth: negative size")
	case c.Hidden > 1<<16 || c.FFN > 1<<18 || c.Vocab > 1<<20:
		return errors.New("synth: dimensions too large")
	}
	if c.Layers == 0 {
		fixed, per := c.bytes(0), c.bytes(1)-c.bytes(0)
		c.Layers = int(max(1, (c.Size-fixed+per-1)/per))
	}
	if c.Layers > 1<<12 {
		return fmt.Errorf("synth: %d layers: too many", c.Layers)
	}
	return nil
}

// tensor is one checkpoint tensor.
type tensor struct {
	name  string
	shape []int64
	norm  bool // a norm gain: values near 1
}

func (t tensor) elems() int64 {
	n := int64(1)
	for _, d := range t.shape {
		n *= d
	}
	return n
}

// tensors lists the model's tensors in save_pretrained's module order.
func (c *Config) tensors(layers int) []tensor {
	h, f, v := int64(c.Hidden), int64(c.FFN), int64(c.Vocab)
	kv := h / int64(c.Heads) * int64(c.KVHeads)
	ts := []tensor{{name: "model.embed_tokens.weight", shape: []int64{v, h}}}
	for i := range layers {
		p := fmt.Sprintf("model.layers.%d.", i)
		ts = append(ts,
			tensor{name: p + "self_attn.q_proj.weight", shape: []int64{h, h}},
			tensor{name: p + "self_attn.k_proj.weight", shape: []int64{kv, h}},
			tensor{name: p + "self_attn.v_proj.weight", shape: []int64{kv, h}},
			tensor{name: p + "self_attn.o_proj.weight", shape: []int64{h, h}},
			tensor{name: p + "mlp.gate_proj.weight", shape: []int64{f, h}},
			tensor{name: p + "mlp.up_proj.weight", shape: []int64{f, h}},
			tensor{name: p + "mlp.down_proj.weight", shape: []int64{h, f}},
			tensor{name: p + "input_layernorm.weight", shape: []int64{h}, norm: true},
			tensor{name: p + "post_attention_layernorm.weight", shape: []int64{h}, norm: true},
		)
	}
	return append(ts,
		tensor{name: "model.norm.weight", shape: []int64{h}, norm: true},
		tensor{name: "lm_head.weight", shape: []int64{v, h}})
}

// bytes is the tensor data size of a model with this many layers.
func (c *Config) bytes(layers int) int64 {
	var n int64
	for _, t := range c.tensors(layers) {
		n += 2 * t.elems()
	}
	return n
}

// Result says what Generate wrote.
type Result struct {
	Layers int
	Params int64
	Bytes  int64 // tensor data
	Shards []string
}

// Generate writes the checkpoint into dir (created if needed; existing files of the same names
// are replaced).
func Generate(dir string, c Config) (*Result, error) {
	if err := c.fill(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	for _, f := range tokenizerFiles {
		if err := copyFile(filepath.Join(c.TokenizerDir, f.name), filepath.Join(dir, f.name)); err != nil {
			if !f.required && errors.Is(err, os.ErrNotExist) {
				continue
			}
			return nil, fmt.Errorf("synth: tokenizer: %w", err)
		}
	}
	if err := writeJSON(filepath.Join(dir, "config.json"), c.configJSON()); err != nil {
		return nil, err
	}

	// Shards: tensors in module order, a new shard when the next tensor would overflow (as
	// transformers' shard_checkpoint does).
	ts := c.tensors(c.Layers)
	var shards [][]tensor
	var cur int64
	for _, t := range ts {
		b := 2 * t.elems()
		if len(shards) == 0 || (cur+b > c.ShardSize && cur > 0) {
			shards = append(shards, nil)
			cur = 0
		}
		shards[len(shards)-1] = append(shards[len(shards)-1], t)
		cur += b
	}
	res := &Result{Layers: c.Layers}
	weightMap := map[string]string{}
	for i, s := range shards {
		name := fmt.Sprintf("model-%05d-of-%05d.safetensors", i+1, len(shards))
		if err := writeShard(filepath.Join(dir, name), s, c.Seed); err != nil {
			return nil, err
		}
		for _, t := range s {
			weightMap[t.name] = name
			res.Params += t.elems()
		}
		res.Shards = append(res.Shards, name)
	}
	res.Bytes = 2 * res.Params
	index := map[string]any{"metadata": map[string]any{"total_size": res.Bytes}, "weight_map": weightMap}
	if err := writeJSON(filepath.Join(dir, "model.safetensors.index.json"), index); err != nil {
		return nil, err
	}
	return res, nil
}

// configJSON is a transformers LlamaConfig as save_pretrained writes it.
func (c *Config) configJSON() map[string]any {
	return map[string]any{
		"architectures":           []string{"LlamaForCausalLM"},
		"attention_bias":          false,
		"attention_dropout":       0.0,
		"bos_token_id":            1,
		"eos_token_id":            2,
		"head_dim":                c.Hidden / c.Heads,
		"hidden_act":              "silu",
		"hidden_size":             c.Hidden,
		"initializer_range":       0.02,
		"intermediate_size":       c.FFN,
		"max_position_embeddings": 4096,
		"mlp_bias":                false,
		"model_type":              "llama",
		"num_attention_heads":     c.Heads,
		"num_hidden_layers":       c.Layers,
		"num_key_value_heads":     c.KVHeads,
		"pretraining_tp":          1,
		"rms_norm_eps":            1e-05,
		"rope_scaling":            nil,
		"rope_theta":              10000.0,
		"tie_word_embeddings":     false,
		"torch_dtype":             "bfloat16",
		"transformers_version":    "4.46.3",
		"use_cache":               true,
		"vocab_size":              c.Vocab,
	}
}

// writeShard writes one safetensors file: the header (tensors sorted by name, as the
// safetensors library lays them out, padded with spaces to 8 bytes), then the data.
func writeShard(path string, ts []tensor, seed uint64) (err error) {
	ts = append([]tensor(nil), ts...)
	sort.Slice(ts, func(i, j int) bool { return ts[i].name < ts[j].name })
	var hdr strings.Builder
	hdr.WriteString(`{"__metadata__":{"format":"pt"}`)
	var off int64
	for _, t := range ts {
		shape, _ := json.Marshal(t.shape)
		end := off + 2*t.elems()
		fmt.Fprintf(&hdr, `,%q:{"dtype":"BF16","shape":%s,"data_offsets":[%d,%d]}`, t.name, shape, off, end)
		off = end
	}
	hdr.WriteString("}")
	for hdr.Len()%8 != 0 {
		hdr.WriteByte(' ')
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}()
	w := bufio.NewWriterSize(f, 4<<20)
	var n [8]byte
	binary.LittleEndian.PutUint64(n[:], uint64(hdr.Len()))
	w.Write(n[:])
	w.WriteString(hdr.String())
	for _, t := range ts {
		if err := writeTensor(w, t, seed); err != nil {
			return fmt.Errorf("synth: %s: %w", path, err)
		}
	}
	return w.Flush()
}

// chunkElems is the values one generator goroutine fills at a time (a multiple of 4).
const chunkElems = 1 << 20

// writeTensor generates a tensor's bf16 values in chunks, in parallel, and writes them in order.
// Each chunk has its own generator state, derived from the seed, the tensor name and the chunk
// index, so the bytes do not depend on the number of goroutines.
func writeTensor(w io.Writer, t tensor, seed uint64) error {
	total := t.elems()
	nChunks := int((total + chunkElems - 1) / chunkElems)
	workers := min(runtime.GOMAXPROCS(0), nChunks)
	base := seed ^ testmodel.FNV1a64(t.name)
	type result struct {
		buf  []byte
		done chan struct{}
	}
	results := make(chan *result, 2*workers)
	pool := sync.Pool{New: func() any { b := make([]byte, 2*chunkElems); return &b }}
	var wg sync.WaitGroup
	next := make(chan struct {
		i int
		r *result
	})
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for job := range next {
				n := min(int64(chunkElems), total-int64(job.i)*chunkElems)
				bp := pool.Get().(*[]byte)
				fill((*bp)[:2*n], base+uint64(job.i)*0x9e3779b97f4a7c15, t.norm)
				job.r.buf = (*bp)[:2*n]
				close(job.r.done)
			}
		}()
	}
	go func() {
		defer close(results)
		defer close(next)
		for i := range nChunks {
			r := &result{done: make(chan struct{})}
			results <- r
			next <- struct {
				i int
				r *result
			}{i, r}
		}
	}()
	var werr error
	for r := range results {
		<-r.done
		if werr == nil {
			_, werr = w.Write(r.buf)
		}
		b := r.buf[:cap(r.buf)]
		pool.Put(&b)
	}
	wg.Wait()
	return werr
}

// fill writes pseudo-random little-endian bf16 values into b. Weights: random sign, 7 random
// mantissa bits and an exponent that halves with each trailing zero of 8 random bits, so
// magnitudes are about 0.03 with a geometric tail down to 1e-4 (roughly Laplace, like trained
// weights). Norm gains: 1 + a random 4-bit fraction (1.0 to 1.06).
func fill(b []byte, state uint64, norm bool) {
	for i := 0; i < len(b); {
		r := testmodel.SplitMix64(&state)
		for k := 0; k < 4 && i < len(b); k++ {
			x := uint16(r >> (16 * k))
			var v uint16
			if norm {
				v = 0x3f80 | x&0x0f
			} else {
				tz := bits.TrailingZeros8(uint8(x >> 8)) // 8 for 0
				v = x&0x8000 | uint16(122-tz)<<7 | x&0x7f
			}
			b[i], b[i+1] = byte(v), byte(v>>8)
			i += 2
		}
	}
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
