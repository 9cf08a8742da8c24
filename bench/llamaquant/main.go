//go:build llamacpp

// Command llamaquant is llama-quantize for the benchmarks: it runs the pinned llama.cpp's
// llama_model_quantize (through internal/llamacpp) on a GGUF, as "llama-quantize --threads N IN
// OUT TYPE" does. The npm package ships the libraries but not the llama-quantize binary. Build it
// with the environment of scripts/llamacpp.sh:
//
//	eval "$(scripts/llamacpp.sh)" && go build -tags llamacpp -o bin/llamaquant ./bench/llamaquant
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/ggufy/ggufy/internal/llamacpp"
)

func main() {
	threads := flag.Int("threads", 0, "threads (0: hardware concurrency, as llama-quantize)")
	flag.Parse()
	if flag.NArg() != 3 {
		fmt.Fprintln(os.Stderr, "usage: llamaquant [-threads N] IN OUT TYPE")
		os.Exit(2)
	}
	err := llamacpp.ModelQuantize(flag.Arg(0), flag.Arg(1), llamacpp.QuantizeOptions{FType: flag.Arg(2), Threads: *threads})
	if err != nil {
		fmt.Fprintln(os.Stderr, "llamaquant:", err)
		os.Exit(1)
	}
}
