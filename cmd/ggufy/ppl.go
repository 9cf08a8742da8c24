package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"time"

	"github.com/ggufy/ggufy/runtime"
	"github.com/schollz/progressbar/v3"
	"github.com/urfave/cli/v2"
)

// runtimeFlags are the evaluation flags ppl, compare and imatrix share (llama-perplexity's -c,
// -b, -t, --chunks).
func runtimeFlags(defCtx int) []cli.Flag {
	return []cli.Flag{
		&cli.IntFlag{Name: "ctx", Aliases: []string{"c"}, Value: defCtx, Usage: "tokens per chunk (llama.cpp's -c)"},
		&cli.IntFlag{Name: "batch", Aliases: []string{"b"}, Value: 2048, Usage: "logical batch size (llama.cpp's -b)"},
		&cli.IntFlag{Name: "ubatch", Value: 512, Usage: "physical batch size (llama.cpp's -ub)"},
		&cli.IntFlag{Name: "threads", Aliases: []string{"t"}, Usage: "threads (default: all cores)"},
		&cli.IntFlag{Name: "chunks", Usage: "evaluate at most this many chunks (default: all)"},
		&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "no progress bar"},
	}
}

// runtimeOptions reads runtimeFlags.
func runtimeOptions(cctx *cli.Context) ([]runtime.Option, error) {
	for _, f := range []string{"ctx", "batch", "ubatch", "threads", "chunks"} {
		if cctx.Int(f) < 0 {
			return nil, usageError("--%s must not be negative", f)
		}
	}
	if c := cctx.Int("ctx"); c < 3 {
		return nil, usageError("--ctx must be at least 3")
	}
	return []runtime.Option{
		runtime.WithCtx(cctx.Int("ctx")), runtime.WithBatch(cctx.Int("batch")), runtime.WithUBatch(cctx.Int("ubatch")),
		runtime.WithThreads(cctx.Int("threads")), runtime.WithChunks(cctx.Int("chunks")),
	}, nil
}

// newChunkBar returns a progress bar counting chunks, or nil when w is nil.
func newChunkBar(w io.Writer, desc string) *progressbar.ProgressBar {
	if w == nil {
		return nil
	}
	return progressbar.NewOptions(-1,
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription(desc),
		progressbar.OptionSetWidth(30),
		progressbar.OptionShowCount(),
		progressbar.OptionShowIts(),
		progressbar.OptionSetItsString("chunks"),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionClearOnFinish(),
	)
}

// loadModel loads a GGUF file or checkpoint directory for evaluation.
func loadModel(path string) (*runtime.Model, error) {
	m, err := runtime.Load(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}

func pplCommand() *cli.Command {
	return &cli.Command{
		Name:      "ppl",
		Usage:     "perplexity of a GGUF file or checkpoint directory over a text file, as llama-perplexity computes it",
		ArgsUsage: "MODEL TEXTFILE",
		Flags:     append(runtimeFlags(512), &cli.BoolFlag{Name: "json", Usage: `print {"ppl", "ppl_err", "tokens", "chunks", "ctx"} as JSON`}),
		Action: func(cctx *cli.Context) error {
			if cctx.NArg() != 2 {
				return usageError("ppl needs MODEL TEXTFILE")
			}
			opts, err := runtimeOptions(cctx)
			if err != nil {
				return err
			}
			text, err := os.ReadFile(cctx.Args().Get(1))
			if err != nil {
				return err
			}
			m, err := loadModel(cctx.Args().Get(0))
			if err != nil {
				return err
			}
			defer m.Close()
			asJSON := cctx.Bool("json")
			bar := newChunkBar(progressOut(cctx.Bool("quiet")), "perplexity")
			out := cctx.App.Writer
			progress := func(done, total int, running float64) {
				if bar != nil {
					bar.ChangeMax(total)
					bar.Describe(fmt.Sprintf("perplexity %.4f", running))
					bar.Set(done)
				}
				if !asJSON {
					fmt.Fprintf(out, "[%d]%.4f,", done, running)
					if done == total {
						fmt.Fprintln(out)
					}
				}
			}
			t0 := time.Now()
			r, err := runtime.Perplexity(cctx.Context, m, string(text), progress, opts...)
			if bar != nil {
				bar.Finish()
			}
			if err != nil {
				return err
			}
			if asJSON {
				return json.NewEncoder(out).Encode(map[string]any{
					"ppl": r.PPL, "ppl_err": jsonFloat(r.PPLErr), "tokens": r.Tokens, "chunks": r.Chunks, "ctx": r.Ctx,
				})
			}
			el := time.Since(t0).Seconds()
			scored := r.Chunks * r.Ctx
			fmt.Fprintf(out, "Final estimate: PPL = %.4f +/- %.5f\n", r.PPL, r.PPLErr)
			fmt.Fprintf(out, "%d chunks of %d tokens (%d tokens in the text), %.1f s, %.1f tokens/s\n",
				r.Chunks, r.Ctx, r.Tokens, el, float64(scored)/el)
			return nil
		},
	}
}

// jsonFloat maps NaN and infinities (which JSON cannot encode) to null.
func jsonFloat(f float64) any {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return nil
	}
	return f
}
