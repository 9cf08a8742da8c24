package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/ggufy/ggufy/archmap"
	"github.com/ggufy/ggufy/convert"
	"github.com/ggufy/ggufy/gguf"
	"github.com/ggufy/ggufy/quantize"
	"github.com/urfave/cli/v2"
)

func convertCommand() *cli.Command {
	return &cli.Command{
		Name:      "convert",
		Usage:     "convert a Hugging Face checkpoint to GGUF exactly as llama.cpp's convert_hf_to_gguf.py does",
		ArgsUsage: "SRC",
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "outfile", Aliases: []string{"o"}, Usage: "output file, or a directory for the conventional name (default: current directory)"},
			&cli.StringFlag{Name: "outtype", Value: "auto", Usage: "f32, f16, bf16, q8_0, tq1_0, tq2_0 or auto (the checkpoint's 16-bit type)"},
			&cli.StringFlag{Name: "model-name", Usage: "override general.name"},
			&cli.StringFlag{Name: "split-max-size", Usage: "split into shards of at most this size (e.g. 50G, 500M)"},
			&cli.IntFlag{Name: "split-max-tensors", Usage: "split into shards of at most this many tensors"},
			&cli.StringFlag{Name: "quant", Aliases: []string{"q"}, Usage: "also write these llama-quantize variants in the same pass, e.g. Q4_K_M,Q5_K_M,Q8_0 (-o is then a directory)"},
			&cli.IntFlag{Name: "threads", Aliases: []string{"t"}, Usage: "encoding threads (default: all cores)"},
			&cli.BoolFlag{Name: "quiet", Usage: "no progress bar"},
		}, quantizeFlags()...),
		Action: func(cctx *cli.Context) error {
			if cctx.NArg() != 1 {
				return usageError("convert needs one SRC (a checkpoint directory)")
			}
			src := cctx.Args().First()
			ft, err := convert.ParseOutType(cctx.String("outtype"))
			if err != nil {
				return usageError("%v", err)
			}
			split, err := splitOptions(cctx.String("split-max-size"), cctx.Int("split-max-tensors"))
			if err != nil {
				return usageError("%v", err)
			}
			plan, err := archmap.Open(src, ft, archmap.Options{ModelName: cctx.String("model-name")})
			if err != nil {
				return err
			}
			defer plan.Close()
			for _, w := range plan.Warnings {
				fmt.Fprintln(os.Stderr, "ggufy: warning:", w)
			}
			if q := cctx.String("quant"); q != "" {
				return convertVariants(cctx, plan, q, split)
			}
			out, err := outputPath(cctx.String("outfile"), plan)
			if err != nil {
				return err
			}
			srcs := convert.Sources(plan)
			var total int64
			for _, s := range srcs {
				total += s.Info.Size()
			}
			bar := newBar(progressOut(cctx.Bool("quiet")), total, "convert")
			paths, err := convert.Write(cctx.Context, out, plan.Meta, srcs, convert.Options{Threads: cctx.Int("threads"), Split: split, Progress: barFunc(bar)})
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

// outputPath resolves -o: a file name, or a directory (default ".") that gets the GGUF naming
// convention's name, as the converter does when given a directory.
func outputPath(o string, p *archmap.Converter) (string, error) {
	if o == "" {
		o = "."
	}
	if st, err := os.Stat(o); err == nil && st.IsDir() {
		g := p.General
		name := archmap.NamingConvention(g.Name, g.Basename, g.Finetune, g.Version, g.SizeLabel, fileTypeLabel(p.FileType))
		return filepath.Join(o, name+".gguf"), nil
	}
	return o, nil
}

// fileTypeLabel returns the encoding part of a file name (LlamaFileType name after MOSTLY_).
func fileTypeLabel(ft gguf.FileType) string {
	switch ft {
	case gguf.FileTypeAllF32:
		return "F32"
	case gguf.FileTypeMostlyF16:
		return "F16"
	case gguf.FileTypeMostlyBF16:
		return "BF16"
	case gguf.FileTypeMostlyQ8_0:
		return "Q8_0"
	case gguf.FileTypeMostlyTQ1_0:
		return "TQ1_0"
	case gguf.FileTypeMostlyTQ2_0:
		return "TQ2_0"
	}
	return strings.ToUpper(strings.ReplaceAll(ft.String(), " ", ""))
}

// splitOptions parses --split-max-size and
// --split-max-tensors.
func splitOptions(size string, tensors int) (gguf.SplitOptions, error) {
	opt := gguf.SplitOptions{MaxTensors: tensors}
	if size == "" {
		return opt, nil
	}
	n, err := parseSize(size)
	if err != nil {
		return opt, err
	}
	opt.MaxBytes = n
	return opt, nil
}

// parseSize parses sizes like 50G, 500M, 4096K or a byte count, in the units llama.cpp's
// gguf-split uses (powers of 1000, as its split_str_to_n_bytes).
func parseSize(s string) (int64, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, fmt.Errorf("empty size")
	}
	mult := int64(1)
	switch strings.ToUpper(s[len(s)-1:]) {
	case "K":
		mult = 1000
	case "M":
		mult = 1000 * 1000
	case "G":
		mult = 1000 * 1000 * 1000
	case "T":
		mult = 1000 * 1000 * 1000 * 1000
	}
	num := s
	if mult != 1 {
		num = s[:len(s)-1]
	}
	var n int64
	if _, err := fmt.Sscanf(num, "%d", &n); err != nil || n <= 0 {
		return 0, fmt.Errorf("bad size %q (want e.g. 50G, 500M)", s)
	}
	return n * mult, nil
}

// convertVariants writes the requested llama-quantize variants of a checkpoint in one pass over
// its tensors: each is byte-identical to converting (at the plan's outtype) and then running
// llama-quantize.
func convertVariants(cctx *cli.Context, plan *archmap.Converter, list string, split gguf.SplitOptions) error {
	dir := cctx.String("outfile")
	if dir == "" {
		dir = "."
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	in := convert.PlanInput(plan)
	var outs []convert.Output
	for _, name := range strings.Split(list, ",") {
		name = strings.TrimSpace(name)
		ft, err := quantize.ParseFileType(name)
		if err != nil {
			return usageError("%v", err)
		}
		opts, err := quantizeOptions(cctx, ft)
		if err != nil {
			return err
		}
		qp, err := convert.PlanQuantize(in, opts)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		g := plan.General
		file := archmap.NamingConvention(g.Name, g.Basename, g.Finetune, g.Version, g.SizeLabel, quantize.FileTypeName(ft)) + ".gguf"
		outs = append(outs, convert.Output{Path: filepath.Join(dir, file), Meta: qp.Meta, Sources: qp.Sources, Split: split})
	}
	var total int64
	for _, o := range outs {
		for _, s := range o.Sources {
			total += s.Info.Size()
		}
	}
	bar := newBar(progressOut(cctx.Bool("quiet")), total, "quantize")
	paths, err := convert.WriteOutputs(cctx.Context, outs, convert.Options{Threads: cctx.Int("threads"), Progress: barFunc(bar)})
	if err != nil {
		return err
	}
	for _, ps := range paths {
		for _, p := range ps {
			fmt.Fprintln(cctx.App.Writer, p)
		}
	}
	return nil
}
