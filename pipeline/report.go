package pipeline

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/ggufy/ggufy/archmap"
	"github.com/ggufy/ggufy/hub"
	"github.com/ggufy/ggufy/internal/plot"
)

// writeReports writes report.json, report.md and the quality-against-size plot atomically.
func writeReports(spec Spec, rep *Report) error {
	js, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return fmt.Errorf("pipeline: %w", err)
	}
	if err := writeAtomic(filepath.Join(spec.OutDir, "report.json"), append(js, '\n')); err != nil {
		return err
	}
	if err := writeAtomic(filepath.Join(spec.OutDir, "report.md"), []byte(ReportMarkdown(rep))); err != nil {
		return err
	}
	name := spec.PlotFileName
	if name == "" {
		name = "report.png"
	}
	var buf bytes.Buffer
	if err := Plot(rep).WritePNG(&buf); err != nil {
		return fmt.Errorf("pipeline: plot: %w", err)
	}
	return writeAtomic(filepath.Join(spec.OutDir, name), buf.Bytes())
}

func writeAtomic(path string, b []byte) error {
	tmp := path + ".partial"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return fmt.Errorf("pipeline: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("pipeline: %w", err)
	}
	return nil
}

// ReportMarkdown renders the report's table.
func ReportMarkdown(rep *Report) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# %s: GGUF variants\n\n", rep.Model)
	fmt.Fprintf(&b, "Source: %s", rep.Source)
	if rep.Revision != "" {
		fmt.Fprintf(&b, " @ %s", rep.Revision)
	}
	fmt.Fprintf(&b, " (%s, %s parameters). Made by %s", rep.Arch, humanParams(rep.Parameters), rep.Tool)
	if rep.Imatrix != "" {
		fmt.Fprintf(&b, " with importance matrix %s", rep.Imatrix)
	}
	b.WriteString(".\n\n")
	b.WriteString("| variant | file | size | bits/weight | ppl | KLD (mean) | KLD (p99) | top-1 | time |\n")
	b.WriteString("|---|---|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, v := range rep.Variants {
		file := ""
		if len(v.Files) > 0 {
			file = v.Files[0]
			if len(v.Files) > 1 {
				file += fmt.Sprintf(" (+%d)", len(v.Files)-1)
			}
		}
		ppl, kld, p99, top1 := "–", "–", "–", "–"
		if q := v.Quality; q != nil {
			ppl = fmt.Sprintf("%.4f ± %.4f", q.PPL, q.PPLErr)
			kld = fmt.Sprintf("%.6f", q.KLDMean)
			p99 = fmt.Sprintf("%.6f", q.KLDP99)
			top1 = fmt.Sprintf("%.2f%%", 100*q.Top1)
		}
		t := fmt.Sprintf("%.1f s", v.Seconds)
		fmt.Fprintf(&b, "| %s | %s | %s | %.2f | %s | %s | %s | %s | %s |\n", v.Quant, file, humanBytes(v.Size), v.BitsPerWeight, ppl, kld, p99, top1, t)
	}
	if rep.BasePPL > 0 {
		fmt.Fprintf(&b, "\nPerplexity of the original checkpoint on the evaluation text (%s): %.4f.\n", rep.EvalText, rep.BasePPL)
	}
	fmt.Fprintf(&b, "\nTotal time %.1f s", rep.Seconds)
	if rep.PeakRSS > 0 {
		fmt.Fprintf(&b, ", peak memory %s", humanBytes(rep.PeakRSS))
	}
	b.WriteString(".\n\n![quality against size](report.png)\n")
	return b.String()
}

// Plot returns the quality-against-size chart: mean KLD (log scale) when measured, else bits
// per weight.
func Plot(rep *Report) *plot.Chart {
	c := &plot.Chart{Title: rep.Model + " variants", XLabel: "size (GB)"}
	measured := false
	for _, v := range rep.Variants {
		if v.Quality != nil {
			measured = true
		}
	}
	if measured {
		c.YLabel, c.LogY = "mean KLD vs original", true
	} else {
		c.YLabel = "bits per weight"
	}
	for _, v := range rep.Variants {
		y := v.BitsPerWeight
		if measured {
			if v.Quality == nil {
				continue
			}
			y = v.Quality.KLDMean
		}
		c.Points = append(c.Points, plot.Point{X: float64(v.Size) / 1e9, Y: y, Label: v.Quant})
	}
	return c
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.2f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

func humanParams(n int64) string {
	switch {
	case n >= 1e9:
		return fmt.Sprintf("%.2fB", float64(n)/1e9)
	case n >= 1e6:
		return fmt.Sprintf("%.2fM", float64(n)/1e6)
	}
	return fmt.Sprintf("%.1fK", float64(n)/1e3)
}

// peakRSS returns the process's peak resident set size (Linux VmHWM), or 0.
func peakRSS() int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if rest, ok := strings.CutPrefix(s.Text(), "VmHWM:"); ok {
			fields := strings.Fields(rest)
			if len(fields) >= 1 {
				kb, _ := strconv.ParseInt(fields[0], 10, 64)
				return kb * 1024
			}
		}
	}
	return 0
}

// PeakRSS returns the process's peak resident set size in bytes (0 where unknown).
func PeakRSS() int64 { return peakRSS() }

// publish uploads the variants, the report and a model card in one commit.
func publish(ctx context.Context, spec Spec, rep *Report, info *hub.RepoInfo, plan *archmap.Converter) (*hub.CommitInfo, error) {
	if spec.Hub == nil {
		return nil, fmt.Errorf("pipeline: publish: no Hub client")
	}
	card := hub.Card{Repo: spec.Publish, QuantizedBy: spec.QuantizedBy, Tool: Version, Title: rep.Model + " GGUF"}
	if info != nil {
		card = hub.CardFromSource(info)
		card.Repo, card.QuantizedBy, card.Tool, card.Title = spec.Publish, spec.QuantizedBy, Version, rep.Model+" GGUF"
	} else if plan.General != nil {
		card.License = plan.General.License
		if len(plan.General.BaseModels) > 0 {
			card.BaseModel = plan.General.BaseModels[0]["repo_url"]
		}
	}
	if rep.BasePPL > 0 {
		card.EvalNote = fmt.Sprintf("Perplexity and KL divergence against the original checkpoint, measured by ggufy's runtime on %s of text.", rep.EvalText)
	}
	include := []string{"report.md", "report.json", "report.png"}
	if rep.Imatrix == "imatrix.gguf" {
		include = append(include, "imatrix.gguf")
	}
	for _, v := range rep.Variants {
		cv := hub.Variant{File: v.Files[0], Quant: v.Quant, Size: v.Size, BitsPerWeight: v.BitsPerWeight}
		if q := v.Quality; q != nil {
			cv.Quality = &hub.Quality{Perplexity: q.PPL, BasePerplexity: q.PPLBase, MeanKLD: q.KLDMean}
		}
		card.Variants = append(card.Variants, cv)
		include = append(include, v.Files...)
	}
	spec.logf("publish %d files to %s", len(include), spec.Publish)
	return spec.Hub.Publish(ctx, hub.PublishOptions{Dir: spec.OutDir, Repo: spec.Publish, Private: spec.Private,
		Revision: spec.PublishRev, Include: include, Card: &card,
		CommitMessage: fmt.Sprintf("Upload %s GGUF variants (%s) with %s", rep.Model, strings.Join(quantsOf(rep), ", "), Version)})
}

func quantsOf(rep *Report) []string {
	var q []string
	for _, v := range rep.Variants {
		q = append(q, v.Quant)
	}
	return q
}
