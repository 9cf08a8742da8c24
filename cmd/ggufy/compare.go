package main

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/ggufy/ggufy/runtime"
	"github.com/urfave/cli/v2"
)

func compareCommand() *cli.Command {
	return &cli.Command{
		Name:      "compare",
		Usage:     "KL divergence of TEST against BASE (GGUF files or checkpoint directories) over a text file, as llama-perplexity --kl-divergence reports it",
		ArgsUsage: "BASE TEST TEXTFILE",
		Flags:     append(runtimeFlags(512), &cli.BoolFlag{Name: "json", Usage: `print {"kld_mean", "kld_p99", "kld_max", "top1", "ppl_base", "ppl_test"} as JSON (top1 in percent)`}),
		Action: func(cctx *cli.Context) error {
			if cctx.NArg() != 3 {
				return usageError("compare needs BASE TEST TEXTFILE")
			}
			opts, err := runtimeOptions(cctx)
			if err != nil {
				return err
			}
			text, err := os.ReadFile(cctx.Args().Get(2))
			if err != nil {
				return err
			}
			base, err := loadModel(cctx.Args().Get(0))
			if err != nil {
				return err
			}
			defer base.Close()
			test, err := loadModel(cctx.Args().Get(1))
			if err != nil {
				return err
			}
			defer test.Close()
			bar := newChunkBar(progressOut(cctx.Bool("quiet")), "KL divergence")
			progress := func(done, total int, kld float64) {
				if bar != nil {
					bar.ChangeMax(total)
					bar.Describe(fmt.Sprintf("KLD %.6f", kld))
					bar.Set(done)
				}
			}
			r, err := runtime.KLDivergence(cctx.Context, base, test, string(text), progress, opts...)
			if bar != nil {
				bar.Finish()
			}
			if err != nil {
				return err
			}
			out := cctx.App.Writer
			if cctx.Bool("json") {
				return json.NewEncoder(out).Encode(map[string]any{
					"kld_mean": r.KLDMean, "kld_p99": r.KLDP99, "kld_max": r.KLDMax, "top1": r.Top1,
					"ppl_base": r.PPLBase, "ppl_test": r.PPLTest,
				})
			}
			if !r.TestTokenizationIdentical {
				fmt.Fprintln(out, "warning: the test model tokenizes the text differently; both were evaluated on the base model's tokens")
			}
			fmt.Fprintf(out, "%d chunks of %d tokens, %d positions\n\n", r.Chunks, r.Ctx, r.Positions)
			fmt.Fprintln(out, "====== Perplexity statistics ======")
			fmt.Fprintf(out, "Mean PPL(Q)                   : %10.6f ± %10.6f\n", r.PPLTest, r.PPLTestErr)
			fmt.Fprintf(out, "Mean PPL(base)                : %10.6f ± %10.6f\n", r.PPLBase, r.PPLBaseErr)
			fmt.Fprintf(out, "Cor(ln(PPL(Q)), ln(PPL(base))): %6.2f%%\n", 100*r.CorLnPPL)
			fmt.Fprintf(out, "Mean ln(PPL(Q)/PPL(base))     : %10.6f ± %10.6f\n", r.LnPPLRatio, r.LnPPLRatioErr)
			fmt.Fprintf(out, "Mean PPL(Q)/PPL(base)         : %10.6f ± %10.6f\n", r.PPLRatio, r.PPLRatioErr)
			fmt.Fprintln(out)
			fmt.Fprintln(out, "====== KL divergence statistics ======")
			fmt.Fprintf(out, "Mean    KLD: %10.6f ± %10.6f\n", r.KLDMean, r.KLDErr)
			for _, p := range []struct {
				name string
				v    float64
			}{{"Maximum", r.KLDMax}, {"99.9%  ", r.KLDP999}, {"99.0%  ", r.KLDP99}, {"95.0%  ", r.KLDP95}, {"90.0%  ", r.KLDP90},
				{"Median ", r.KLDMedian}, {"10.0%  ", r.KLDP10}, {" 5.0%  ", r.KLDP5}, {" 1.0%  ", r.KLDP1}, {"Minimum", r.KLDMin}} {
				fmt.Fprintf(out, "%s KLD: %10.6f\n", p.name, p.v)
			}
			fmt.Fprintln(out)
			fmt.Fprintln(out, "====== Token probability statistics ======")
			fmt.Fprintf(out, "Mean    Δp: %6.3f ± %5.3f %%\n", r.DeltaPMean, r.DeltaPMeanErr)
			fmt.Fprintf(out, "Maximum Δp: %6.3f%%\n", r.DeltaPMax)
			fmt.Fprintf(out, "99.0%%   Δp: %6.3f%%\n", r.DeltaPP99)
			fmt.Fprintf(out, "Median  Δp: %6.3f%%\n", r.DeltaPMedian)
			fmt.Fprintf(out, " 1.0%%   Δp: %6.3f%%\n", r.DeltaPP1)
			fmt.Fprintf(out, "Minimum Δp: %6.3f%%\n", r.DeltaPMin)
			fmt.Fprintf(out, "RMS Δp    : %6.3f ± %5.3f %%\n", r.DeltaPRMS, r.DeltaPRMSErr)
			fmt.Fprintf(out, "Same top p: %6.3f ± %5.3f %%\n", r.Top1, r.Top1Err)
			return nil
		},
	}
}
