package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/ggufy/ggufy/archmap"
	"github.com/ggufy/ggufy/convert"
	"github.com/ggufy/ggufy/gguf"
	"github.com/ggufy/ggufy/pipeline"
	"github.com/schollz/progressbar/v3"
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
			&cli.StringFlag{Name: "quant", Aliases: []string{"q"}, Usage: "write these llama-quantize variants in one pass, e.g. Q4_K_M,Q5_K_M,Q8_0 (-o is then a directory)"},
			&cli.StringFlag{Name: "calib", Usage: "calibration text for --imatrix auto (default: a text that ships in ggufy)"},
			&cli.StringFlag{Name: "eval", Usage: "validate every variant against the original on this text file (\"default\": a text that ships in ggufy)"},
			&cli.Float64Flag{Name: "max-kld", Usage: "fail (exit code 3) when a variant's mean KL divergence exceeds this"},
			&cli.StringFlag{Name: "publish", Usage: "upload the variants, report and model card to this Hub repo in one commit"},
			&cli.BoolFlag{Name: "private", Usage: "with --publish: create the repo private"},
			&cli.StringFlag{Name: "quantized-by", Usage: "with --publish: who made the files (model card)"},
			&cli.BoolFlag{Name: "json", Usage: "print the report as JSON"},
			&cli.IntFlag{Name: "threads", Aliases: []string{"t"}, Usage: "encoding threads (default: all cores)"},
			&cli.BoolFlag{Name: "quiet", Usage: "no progress bar"},
		}, quantizeFlags()...),
		Action: func(cctx *cli.Context) error {
			if cctx.NArg() != 1 {
				return usageError("convert needs one SRC (a checkpoint directory)")
			}
			src := cctx.Args().First()
			if q := cctx.String("quant"); q != "" {
				return runPipeline(cctx, src, q)
			}
			ft, err := convert.ParseOutType(cctx.String("outtype"))
			if err != nil {
				return usageError("%v", err)
			}
			split, err := splitOptions(cctx.String("split-max-size"), cctx.Int("split-max-tensors"))
			if err != nil {
				return usageError("%v", err)
			}
			dir, repoID, err := sourceDir(cctx, src)
			if err != nil {
				return err
			}
			plan, err := archmap.Open(dir, ft, archmap.Options{ModelName: cctx.String("model-name"), RepoID: repoID})
			if err != nil {
				return err
			}
			defer plan.Close()
			for _, w := range plan.Warnings {
				fmt.Fprintln(os.Stderr, "ggufy: warning:", w)
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
	n, err := gguf.ParseSize(size)
	if err != nil {
		return opt, err
	}
	opt.MaxBytes = n
	return opt, nil
}

// runPipeline is the one command: variants of a checkpoint (local or on the Hub) in one pass,
// optionally with an importance matrix, validation, a report and publishing.
func runPipeline(cctx *cli.Context, src, list string) error {
	split, err := splitOptions(cctx.String("split-max-size"), cctx.Int("split-max-tensors"))
	if err != nil {
		return usageError("%v", err)
	}
	inter, err := convert.ParseOutType(cctx.String("outtype"))
	if err != nil || (inter != gguf.FileTypeGuessed && inter != gguf.FileTypeAllF32 && inter != gguf.FileTypeMostlyF16 && inter != gguf.FileTypeMostlyBF16) {
		return usageError("with -q, --outtype is the intermediate type the variants are quantized from: f32, f16, bf16 or auto")
	}
	spec := pipeline.Spec{Source: src, OutDir: cctx.String("outfile"), Imatrix: cctx.String("imatrix"),
		MaxKLD: cctx.Float64("max-kld"), Split: split, Threads: cctx.Int("threads"), Intermediate: inter,
		Publish: cctx.String("publish"), Private: cctx.Bool("private"), QuantizedBy: cctx.String("quantized-by"),
		ArchOptions: archmap.Options{ModelName: cctx.String("model-name")}}
	for _, q := range strings.Split(list, ",") {
		if q = strings.TrimSpace(q); q != "" {
			spec.Quants = append(spec.Quants, q)
		}
	}
	if spec.Imatrix == "auto" || cctx.IsSet("eval") {
		if spec.Evaluator, err = newEvaluator(cctx.Int("threads")); err != nil {
			return err
		}
	}
	if p := cctx.String("calib"); p != "" {
		if spec.Calib, err = os.ReadFile(p); err != nil {
			return err
		}
	}
	switch e := cctx.String("eval"); e {
	case "":
	case "default":
		spec.Eval = pipeline.DefaultEval()
	default:
		if spec.Eval, err = os.ReadFile(e); err != nil {
			return err
		}
	}
	spec.QuantOptions = func(ft gguf.FileType) (convert.QuantizeOptions, error) {
		return quantizeParams(cctx, ft) // the pipeline reads or computes the importance matrix
	}
	needsHub := spec.Publish != ""
	if st, err := os.Stat(src); err != nil || !st.IsDir() {
		needsHub = true
	}
	if needsHub {
		if spec.Hub, err = newHubClient(cctx.Bool("quiet")); err != nil {
			return err
		}
	}
	if !cctx.Bool("json") {
		spec.Log = os.Stderr
	}
	if w := progressOut(cctx.Bool("quiet")); w != nil {
		bars := map[string]*progressbar.ProgressBar{}
		spec.Progress = func(stage string, done, total int64) {
			b := bars[stage]
			if b == nil {
				b = newBar(w, total, stage)
				bars[stage] = b
			}
			b.Set64(done)
		}
	}
	rep, err := pipeline.Run(cctx.Context, spec)
	if rep != nil {
		if cctx.Bool("json") {
			enc := json.NewEncoder(cctx.App.Writer)
			enc.SetIndent("", "  ")
			enc.Encode(rep)
		} else {
			for _, v := range rep.Variants {
				for _, f := range v.Files {
					fmt.Fprintln(cctx.App.Writer, filepath.Join(spec.OutDir, f))
				}
			}
			fmt.Fprintf(os.Stderr, "ggufy: %d variants in %.1f s, peak memory %.0f MiB\n", len(rep.Variants), rep.Seconds, float64(pipeline.PeakRSS())/(1<<20))
			if rep.Published != nil {
				fmt.Fprintf(os.Stderr, "ggufy: published to %s (%d files uploaded, %d unchanged)\n", rep.Published.Repo, len(rep.Published.Uploaded), len(rep.Published.Unchanged))
			}
		}
	}
	if errors.Is(err, pipeline.ErrQuality) {
		return checkError{err.Error()}
	}
	return err
}
