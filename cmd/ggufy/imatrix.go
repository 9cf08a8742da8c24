package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/ggufy/ggufy/quantize"
	"github.com/ggufy/ggufy/runtime"
	"github.com/urfave/cli/v2"
)

func imatrixCommand() *cli.Command {
	return &cli.Command{
		Name:      "imatrix",
		Usage:     "compute an importance matrix over a text file as llama-imatrix does (GGUF format, for quantize --imatrix)",
		ArgsUsage: "MODEL TEXTFILE",
		Flags: append(runtimeFlags(512),
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Value: "imatrix.gguf", Usage: "output file"}),
		Action: func(cctx *cli.Context) error {
			if cctx.NArg() != 2 {
				return usageError("imatrix needs MODEL TEXTFILE")
			}
			opts, err := runtimeOptions(cctx)
			if err != nil {
				return err
			}
			textPath := cctx.Args().Get(1)
			text, err := os.ReadFile(textPath)
			if err != nil {
				return err
			}
			m, err := loadModel(cctx.Args().Get(0))
			if err != nil {
				return err
			}
			defer m.Close()
			bar := newChunkBar(progressOut(cctx.Bool("quiet")), "imatrix")
			progress := func(done, total int, ppl float64) {
				if bar != nil {
					bar.ChangeMax(total)
					bar.Describe(fmt.Sprintf("imatrix (ppl %.4f)", ppl))
					bar.Set(done)
				}
			}
			r, err := runtime.ComputeImatrix(cctx.Context, m, string(text), textPath, progress, opts...)
			if bar != nil {
				bar.Finish()
			}
			if err != nil {
				return err
			}
			out := cctx.String("output")
			if err := writeImatrixFile(out, r.Imatrix); err != nil {
				return err
			}
			fmt.Fprintf(cctx.App.Writer, "%s: %d tensors from %d chunks of %d tokens (ppl %.4f)\n",
				out, len(r.Imatrix.Entries), r.Chunks, r.Imatrix.ChunkSize, r.PPL)
			return nil
		},
	}
}

// writeImatrixFile writes im to path through a temporary file, so that an interrupted run
// leaves nothing behind.
func writeImatrixFile(path string, im *quantize.Imatrix) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".imatrix-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	if err := quantize.WriteImatrix(f, im); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}
