package main

import (
	"fmt"
	"os"
	"regexp"
	"strings"

	"github.com/ggufy/ggufy/archmap"
	"github.com/ggufy/ggufy/convert"
	"github.com/ggufy/ggufy/gguf"
	"github.com/ggufy/ggufy/quantize"
	"github.com/urfave/cli/v2"
)

func quantizeFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "imatrix", Usage: "importance matrix file (llama-imatrix GGUF or legacy .dat)"},
		&cli.StringSliceFlag{Name: "include-weights", Usage: "use the imatrix only for tensors whose name contains this"},
		&cli.StringSliceFlag{Name: "exclude-weights", Usage: "do not use the imatrix for tensors whose name contains this"},
		&cli.BoolFlag{Name: "pure", Usage: "quantize every tensor to the base type (no k-quant mixes)"},
		&cli.BoolFlag{Name: "allow-requantize", Usage: "allow requantizing already quantized tensors"},
		&cli.BoolFlag{Name: "leave-output-tensor", Usage: "do not quantize output.weight"},
		&cli.StringFlag{Name: "output-tensor-type", Usage: "type of output.weight (ggml type name)"},
		&cli.StringFlag{Name: "token-embedding-type", Usage: "type of token_embd.weight (ggml type name)"},
		&cli.StringSliceFlag{Name: "tensor-type", Usage: "PATTERN=TYPE: force the type of tensors whose name matches the regular expression"},
	}
}

// quantizeOptions reads the llama-quantize flags for file type ft, the importance matrix file
// included.
func quantizeOptions(cctx *cli.Context, ft gguf.FileType) (convert.QuantizeOptions, error) {
	opts, err := quantizeParams(cctx, ft)
	if err != nil {
		return opts, err
	}
	if path := cctx.String("imatrix"); path != "" {
		im, err := quantize.ReadImatrix(path)
		if err != nil {
			return opts, err
		}
		opts.Imatrix, opts.ImatrixPath = im, path
	}
	return opts, nil
}

// quantizeParams reads the llama-quantize flags other than --imatrix.
func quantizeParams(cctx *cli.Context, ft gguf.FileType) (convert.QuantizeOptions, error) {
	p := quantize.DefaultParams(ft)
	p.Pure = cctx.Bool("pure")
	p.AllowRequantize = cctx.Bool("allow-requantize")
	p.LeaveOutputTensor = cctx.Bool("leave-output-tensor")
	var err error
	if s := cctx.String("output-tensor-type"); s != "" {
		if p.OutputTensorType, err = gguf.ParseType(s); err != nil {
			return convert.QuantizeOptions{}, usageError("--output-tensor-type: %v", err)
		}
	}
	if s := cctx.String("token-embedding-type"); s != "" {
		if p.TokenEmbeddingType, err = gguf.ParseType(s); err != nil {
			return convert.QuantizeOptions{}, usageError("--token-embedding-type: %v", err)
		}
	}
	for _, tt := range cctx.StringSlice("tensor-type") {
		pat, typ, ok := strings.Cut(tt, "=")
		if !ok || pat == "" {
			return convert.QuantizeOptions{}, usageError("--tensor-type %q: want PATTERN=TYPE", tt)
		}
		t, err := gguf.ParseType(typ)
		if err != nil {
			return convert.QuantizeOptions{}, usageError("--tensor-type %q: %v", tt, err)
		}
		// llama-quantize lower-cases the pattern before compiling it.
		re, err := regexp.Compile(strings.ToLower(pat))
		if err != nil {
			return convert.QuantizeOptions{}, usageError("--tensor-type %q: %v", tt, err)
		}
		p.Overrides = append(p.Overrides, quantize.Override{Pattern: re, Type: t})
	}
	return convert.QuantizeOptions{Params: p, IncludeWeights: cctx.StringSlice("include-weights"), ExcludeWeights: cctx.StringSlice("exclude-weights")}, nil
}

func quantizeCommand() *cli.Command {
	return &cli.Command{
		Name:      "quantize",
		Usage:     "quantize a GGUF (or a checkpoint directory) exactly as llama-quantize does",
		ArgsUsage: "IN OUT TYPE",
		Flags: append(quantizeFlags(),
			&cli.IntFlag{Name: "threads", Aliases: []string{"t"}, Usage: "threads (default: all cores)"},
			&cli.StringFlag{Name: "intermediate", Value: "auto", Usage: "for a checkpoint IN: the converter outtype it is quantized from (f32, f16, bf16, auto)"},
			&cli.StringFlag{Name: "split-max-size", Usage: "split the output into shards of at most this size"},
			&cli.IntFlag{Name: "split-max-tensors", Usage: "split the output into shards of at most this many tensors"},
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "no progress bar"},
		),
		Action: func(cctx *cli.Context) error {
			if cctx.NArg() != 3 {
				return usageError("quantize needs IN OUT TYPE")
			}
			in, out, typ := cctx.Args().Get(0), cctx.Args().Get(1), cctx.Args().Get(2)
			ft, err := quantize.ParseFileType(typ)
			if err != nil {
				return usageError("%v", err)
			}
			opts, err := quantizeOptions(cctx, ft)
			if err != nil {
				return err
			}
			if opts.Split, err = splitOptions(cctx.String("split-max-size"), cctx.Int("split-max-tensors")); err != nil {
				return usageError("%v", err)
			}
			opts.Threads = cctx.Int("threads")
			input, err := openInput(in, cctx.String("intermediate"))
			if err != nil {
				return err
			}
			defer input.Close()
			plan, err := convert.PlanQuantize(input, opts)
			if err != nil {
				return err
			}
			var total int64
			for _, s := range plan.Sources {
				total += s.Info.Size()
			}
			opts.Progress = barFunc(newBar(progressOut(cctx.Bool("quiet")), total, typ))
			paths, err := convert.Write(cctx.Context, out, plan.Meta, plan.Sources, opts.Options)
			if err != nil {
				return err
			}
			for _, p := range paths {
				fmt.Fprintln(cctx.App.Writer, p)
			}
			return nil
		},
	}
}

// openInput opens a GGUF file, or a checkpoint directory planned for the intermediate outtype.
func openInput(path, intermediate string) (*convert.Input, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !st.IsDir() {
		return convert.OpenGGUFInput(path)
	}
	ft, err := convert.ParseOutType(intermediate)
	if err != nil {
		return nil, usageError("--intermediate: %v", err)
	}
	if ft != gguf.FileTypeAllF32 && ft != gguf.FileTypeMostlyF16 && ft != gguf.FileTypeMostlyBF16 && ft != gguf.FileTypeGuessed {
		return nil, usageError("--intermediate must be f32, f16, bf16 or auto")
	}
	p, err := archmap.Open(path, ft, archmap.Options{})
	if err != nil {
		return nil, err
	}
	return convert.PlanInput(p), nil
}
