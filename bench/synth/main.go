// Command synth writes a synthetic Llama-architecture Hugging Face checkpoint (BF16 safetensors
// shards, index, config.json, a real SentencePiece tokenizer) of about the requested size, for
// the benchmarks of scripts/bench.sh:
//
//	go run ./bench/synth -size 2G -o /tmp/ggufy-bench/llama-2G
package main

import (
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/ggufy/ggufy/gguf"
	"github.com/ggufy/ggufy/internal/synth"
)

func main() {
	var c synth.Config
	size := flag.String("size", "2G", "total tensor bytes, e.g. 2G, 6G, 500M (sets the layer count)")
	out := flag.String("o", "", "output directory (required; created)")
	flag.IntVar(&c.Layers, "layers", 0, "layer count (overrides -size)")
	flag.IntVar(&c.Hidden, "hidden", 2048, "hidden_size (multiple of 256)")
	flag.IntVar(&c.FFN, "ffn", 5632, "intermediate_size (multiple of 256)")
	flag.IntVar(&c.Heads, "heads", 32, "num_attention_heads")
	flag.IntVar(&c.KVHeads, "kv-heads", 4, "num_key_value_heads")
	flag.IntVar(&c.Vocab, "vocab", 32000, "vocab_size (the tokenizer's pieces, then [PADn] as the converter pads)")
	shard := flag.String("shard-size", "1G", "max tensor bytes per safetensors shard")
	flag.StringVar(&c.TokenizerDir, "tokenizer", "testdata/models/tiny-trained", "directory with tokenizer.model and tokenizer_config.json")
	flag.Uint64Var(&c.Seed, "seed", 1, "weight generator seed")
	flag.Parse()
	if *out == "" || flag.NArg() != 0 {
		fmt.Fprintln(os.Stderr, "usage: synth -size 2G -o DIR [flags]")
		flag.PrintDefaults()
		os.Exit(2)
	}
	var err error
	if c.Size, err = gguf.ParseSize(*size); err != nil {
		fail(err)
	}
	if c.ShardSize, err = gguf.ParseSize(*shard); err != nil {
		fail(err)
	}
	start := time.Now()
	res, err := synth.Generate(*out, c)
	if err != nil {
		fail(err)
	}
	fmt.Printf("%s: %d layers, %d params, %.2f GB in %d shards (%.1fs)\n", *out, res.Layers, res.Params,
		float64(res.Bytes)/1e9, len(res.Shards), time.Since(start).Seconds())
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "synth:", err)
	os.Exit(1)
}
