package main

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/ggufy/ggufy/archmap"
	"github.com/ggufy/ggufy/convert"
	"github.com/ggufy/ggufy/gguf"
	"github.com/ggufy/ggufy/hub"
	"github.com/ggufy/ggufy/quantize"
	"github.com/urfave/cli/v2"
)

// typicalBPW are bits per weight of llama-quantize's mixes on Llama-class models (llama.cpp's
// tools/quantize/README.md, Llama-3.1-8B), used to estimate sizes before anything is downloaded.
var typicalBPW = map[string]float64{
	"IQ1_S": 2.00, "IQ1_M": 2.15, "IQ2_XXS": 2.38, "IQ2_XS": 2.59, "IQ2_S": 2.74, "IQ2_M": 2.93,
	"IQ3_XXS": 3.25, "IQ3_XS": 3.47, "IQ3_S": 3.66, "IQ3_M": 3.76, "IQ4_NL": 4.68, "IQ4_XS": 4.46,
	"Q2_K": 3.16, "Q2_K_S": 2.97, "Q3_K_S": 3.64, "Q3_K_M": 4.00, "Q3_K_L": 4.30, "Q4_0": 4.68,
	"Q4_1": 5.13, "Q4_K_S": 4.67, "Q4_K_M": 4.89, "Q5_0": 5.57, "Q5_1": 6.02, "Q5_K_S": 5.57,
	"Q5_K_M": 5.70, "Q6_K": 6.56, "Q8_0": 8.50, "TQ1_0": 1.69, "TQ2_0": 2.06, "MXFP4_MOE": 4.25,
	"F16": 16, "BF16": 16, "F32": 32,
}

// planVariant is one variant in `ggufy plan --json`.
type planVariant struct {
	Quant     string `json:"quant"`
	Bytes     int64  `json:"bytes"`
	Estimated bool   `json:"estimated"` // from typical bits per weight, not the exact plan
}

// planJob is one entry of the GitHub Actions matrix.
type planJob struct {
	Job    int    `json:"job"`
	Quants string `json:"quants"`
	Bytes  int64  `json:"bytes"` // the variants' bytes (the source comes on top)
}

type planReport struct {
	Source      string        `json:"source"`
	SourceBytes int64         `json:"source_bytes"`
	Parameters  int64         `json:"parameters"`
	Variants    []planVariant `json:"variants"`
	JobDisk     int64         `json:"job_disk_bytes"`
	Matrix      struct {
		Include []planJob `json:"include"`
	} `json:"matrix"`
}

func planCommand() *cli.Command {
	return &cli.Command{
		Name:      "plan",
		Usage:     "size the variants of SRC and split them into CI jobs that fit one runner's disk (a GitHub Actions matrix)",
		ArgsUsage: "SRC",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "quant", Aliases: []string{"q"}, Required: true, Usage: "variants, e.g. Q4_K_M,Q5_K_M,Q8_0"},
			&cli.StringFlag{Name: "job-disk", Value: "14G", Usage: "disk a job may use for the source and its variants"},
			&cli.BoolFlag{Name: "json", Usage: "print JSON (its \"matrix\" is a strategy.matrix for GitHub Actions)"},
			&cli.BoolFlag{Name: "quiet", Usage: "no progress bars"},
		},
		Action: func(cctx *cli.Context) error {
			if cctx.NArg() != 1 {
				return usageError("plan needs one SRC")
			}
			src := cctx.Args().First()
			disk, err := gguf.ParseSize(cctx.String("job-disk"))
			if err != nil {
				return usageError("--job-disk: %v", err)
			}
			var quants []string
			for _, q := range strings.Split(cctx.String("quant"), ",") {
				ft, err := quantize.ParseFileType(strings.TrimSpace(q))
				if err != nil {
					return usageError("%v", err)
				}
				quants = append(quants, quantize.FileTypeName(ft))
			}
			rep := planReport{Source: src, JobDisk: disk}
			if st, err := os.Stat(src); err == nil && st.IsDir() {
				err = planLocal(&rep, src, quants)
			} else {
				err = planHub(cctx, &rep, src, quants)
			}
			if err != nil {
				return err
			}
			packJobs(&rep)
			if cctx.Bool("json") {
				enc := json.NewEncoder(cctx.App.Writer)
				enc.SetIndent("", "  ")
				return enc.Encode(rep)
			}
			fmt.Fprintf(cctx.App.Writer, "%s: %s of weights, %s parameters\n", src, humanBytes(rep.SourceBytes), humanCount(uint64(rep.Parameters)))
			for _, v := range rep.Variants {
				est := ""
				if v.Estimated {
					est = " (estimated)"
				}
				fmt.Fprintf(cctx.App.Writer, "  %-8s %s%s\n", v.Quant, humanBytes(v.Bytes), est)
			}
			for _, j := range rep.Matrix.Include {
				fmt.Fprintf(cctx.App.Writer, "job %d: %s (%s + source)\n", j.Job, j.Quants, humanBytes(j.Bytes))
			}
			return nil
		},
	}
}

// planLocal sizes the variants exactly from the conversion plan.
func planLocal(rep *planReport, dir string, quants []string) error {
	p, err := archmap.Open(dir, gguf.FileTypeGuessed, archmap.Options{})
	if err != nil {
		return err
	}
	defer p.Close()
	for _, f := range p.Ckpt.Files {
		if st, err := os.Stat(f.Path); err == nil {
			rep.SourceBytes += st.Size()
		}
	}
	rep.Parameters, _, _, _ = p.ParamCounts()
	in := convert.PlanInput(p)
	for _, q := range quants {
		ft, _ := quantize.ParseFileType(q)
		params := quantize.DefaultParams(ft)
		params.HasImatrix = true // sizing only: the types that need one are planned as if given
		qp, err := convert.PlanQuantize(in, convert.QuantizeOptions{Params: params})
		if err != nil {
			return fmt.Errorf("%s: %w", q, err)
		}
		var n int64
		for _, s := range qp.Sources {
			n += s.Info.Size()
		}
		rep.Variants = append(rep.Variants, planVariant{Quant: q, Bytes: n})
	}
	return nil
}

// planHub estimates the variants from the repo's file list, without downloading weights.
func planHub(cctx *cli.Context, rep *planReport, src string, quants []string) error {
	ref, err := hub.ParseRepoRef(src)
	if err != nil {
		return usageError("%s is neither a directory nor a Hub repo: %v", src, err)
	}
	c, err := newHubClient(cctx.Bool("quiet"))
	if err != nil {
		return err
	}
	info, err := c.Resolve(cctx.Context, ref.ID, ref.Rev())
	if err != nil {
		return err
	}
	bytesPerParam := int64(2)
	for _, f := range info.Files {
		if strings.HasSuffix(f.Path, ".safetensors") {
			rep.SourceBytes += f.Size
		}
	}
	if rep.SourceBytes == 0 {
		for _, f := range info.Files {
			if strings.HasSuffix(f.Path, ".bin") && strings.HasPrefix(f.Path, "pytorch_model") {
				rep.SourceBytes += f.Size
			}
		}
	}
	if rep.SourceBytes == 0 {
		return fmt.Errorf("%s has no safetensors or pytorch_model*.bin weights", src)
	}
	rep.Parameters = rep.SourceBytes / bytesPerParam
	for _, q := range quants {
		rep.Variants = append(rep.Variants, planVariant{Quant: q, Bytes: int64(float64(rep.Parameters) * typicalBPW[q] / 8), Estimated: true})
	}
	return nil
}

// packJobs groups variants into jobs (first fit, largest first) so that each job's variants and
// the source fit the job disk; a variant too large for any job gets one to itself.
func packJobs(rep *planReport) {
	room := rep.JobDisk - rep.SourceBytes
	vs := append([]planVariant(nil), rep.Variants...)
	sort.SliceStable(vs, func(i, j int) bool { return vs[i].Bytes > vs[j].Bytes })
	var jobs []planJob
	for _, v := range vs {
		placed := false
		for i := range jobs {
			if jobs[i].Bytes+v.Bytes <= room {
				jobs[i].Quants += "," + v.Quant
				jobs[i].Bytes += v.Bytes
				placed = true
				break
			}
		}
		if !placed {
			jobs = append(jobs, planJob{Job: len(jobs) + 1, Quants: v.Quant, Bytes: v.Bytes})
		}
	}
	rep.Matrix.Include = jobs
}
