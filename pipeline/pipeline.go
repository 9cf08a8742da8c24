// Package pipeline is ggufy's one command: from a Hub repo (or a local checkpoint) to validated,
// named, optionally published GGUF variants. It downloads the checkpoint into the Hugging Face
// cache, reads every source tensor once and quantizes it into all requested variants in the same
// pass, computes an importance matrix when asked, measures each variant against the original
// with the runtime, writes a report (Markdown, JSON, PNG) and publishes everything in one commit.
//
// Re-running the same command reuses the download and skips variants whose files are complete
// and were made from the same inputs.
package pipeline

import (
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/ggufy/ggufy/archmap"
	"github.com/ggufy/ggufy/convert"
	"github.com/ggufy/ggufy/gguf"
	"github.com/ggufy/ggufy/hub"
	"github.com/ggufy/ggufy/quantize"
)

// Version identifies the tool in reports and fingerprints; outputs of another version are
// remade.
const Version = "ggufy 0.1"

//go:embed text/calibration.txt
var defaultCalibration []byte

//go:embed text/eval.txt
var defaultEval []byte

// DefaultCalibration returns the calibration text that ships in the binary (public-domain KJV
// prose).
func DefaultCalibration() []byte { return defaultCalibration }

// DefaultEval returns the evaluation text that ships in the binary (public-domain KJV prose,
// disjoint from the calibration text).
func DefaultEval() []byte { return defaultEval }

// ErrQuality is returned (wrapped) when a variant exceeds Spec.MaxKLD.
var ErrQuality = errors.New("pipeline: quality check failed")

// Quality is a variant measured against the original model.
type Quality struct {
	PPL     float64 `json:"ppl"`
	PPLErr  float64 `json:"ppl_err"`
	PPLBase float64 `json:"ppl_base"`
	KLDMean float64 `json:"kld_mean"`
	KLDP99  float64 `json:"kld_p99"`
	KLDMax  float64 `json:"kld_max"`
	Top1    float64 `json:"top1"` // fraction of positions where both models agree on the top token
}

// Evaluator is what the pipeline needs from the runtime.
type Evaluator interface {
	// Imatrix computes an importance matrix of model (a checkpoint directory or GGUF) on text.
	Imatrix(ctx context.Context, model string, text []byte) (*quantize.Imatrix, error)
	// Compare measures test against base (each a checkpoint directory or GGUF) on text.
	Compare(ctx context.Context, base, test string, text []byte) (*Quality, error)
}

// Spec is one run of the pipeline.
type Spec struct {
	Source string   // "org/name[@rev]" or a local checkpoint directory
	Quants []string // llama-quantize types, e.g. Q4_K_M, Q5_K_M, Q8_0
	OutDir string

	// Imatrix is "" (none), "auto" (compute on Calib) or an imatrix file.
	Imatrix string
	Calib   []byte // calibration text for Imatrix "auto"; nil: DefaultCalibration
	// Eval, when non-nil, is the text every variant is measured on (DefaultEval for the
	// default); nil skips validation.
	Eval   []byte
	MaxKLD float64 // > 0: fail when a variant's mean KLD exceeds it

	Split   gguf.SplitOptions
	Threads int
	// Intermediate is the converter outtype the variants are quantized from (auto: the
	// checkpoint's 16-bit type), so each file equals "convert_hf_to_gguf.py, then llama-quantize".
	Intermediate gguf.FileType

	Publish     string // target Hub repo ("" : do not publish)
	Private     bool
	PublishRev  string
	QuantizedBy string
	Hub         *hub.Client // required for a Hub source or for publishing
	Evaluator   Evaluator   // required for Imatrix "auto" and Eval
	ArchOptions archmap.Options
	// QuantOptions, if set, gives llama-quantize's options for a file type (--pure,
	// --tensor-type, ...); the pipeline sets the importance matrix itself.
	QuantOptions func(ft gguf.FileType) (convert.QuantizeOptions, error)
	Progress     func(stage string, done, total int64) // may be nil
	Log          io.Writer                             // human-readable progress lines; may be nil
	PlotFileName string                                // default report.png
}

// VariantResult is one variant in the report.
type VariantResult struct {
	Quant         string   `json:"quant"`
	Files         []string `json:"files"` // base names, in order (several for a split file)
	SHA256        []string `json:"sha256"`
	Size          int64    `json:"size"`
	BitsPerWeight float64  `json:"bits_per_weight"`
	Quality       *Quality `json:"quality,omitempty"`
	Seconds       float64  `json:"seconds"` // time to write (shared pass: the pass's time)
	Skipped       bool     `json:"-"`       // reused from an earlier identical run
	Fingerprint   string   `json:"fingerprint"`
}

// Report is report.json.
type Report struct {
	Tool       string          `json:"tool"`
	Source     string          `json:"source"`
	Revision   string          `json:"revision,omitempty"`
	Model      string          `json:"model"`
	Arch       string          `json:"architecture"`
	Parameters int64           `json:"parameters"`
	Imatrix    string          `json:"imatrix,omitempty"`
	EvalText   string          `json:"eval_text,omitempty"`
	BasePPL    float64         `json:"base_ppl,omitempty"`
	Variants   []VariantResult `json:"variants"`
	Seconds    float64         `json:"seconds"`
	PeakRSS    int64           `json:"peak_rss_bytes,omitempty"`
	Published  *hub.CommitInfo `json:"-"` // what publishing did (not part of the published report)
}

func (s *Spec) logf(format string, args ...any) {
	if s.Log != nil {
		fmt.Fprintf(s.Log, format+"\n", args...)
	}
}

// resolveSource returns a local checkpoint directory for Spec.Source, downloading it into the
// Hugging Face cache when it is a repo id, and the repo info when it came from the Hub.
func (s *Spec) resolveSource(ctx context.Context) (dir string, info *hub.RepoInfo, err error) {
	if st, err := os.Stat(s.Source); err == nil && st.IsDir() {
		return s.Source, nil, nil
	}
	ref, err := hub.ParseRepoRef(s.Source)
	if err != nil {
		return "", nil, fmt.Errorf("pipeline: %q is neither a directory nor a Hub repo: %w", s.Source, err)
	}
	if s.Hub == nil {
		return "", nil, fmt.Errorf("pipeline: %s: no Hub client", s.Source)
	}
	info, err = s.Hub.Resolve(ctx, ref.ID, ref.Rev())
	if err != nil {
		return "", nil, err
	}
	s.logf("download %s@%s", ref.ID, info.SHA)
	dir, err = s.Hub.Download(ctx, ref.ID, info.SHA, hub.DownloadOptions{})
	if err != nil {
		return "", nil, err
	}
	return dir, info, nil
}

// Run executes the pipeline and writes the report next to the files.
func Run(ctx context.Context, spec Spec) (*Report, error) {
	start := time.Now()
	if len(spec.Quants) == 0 {
		return nil, errors.New("pipeline: no quantization types requested")
	}
	if spec.OutDir == "" {
		spec.OutDir = "."
	}
	if err := os.MkdirAll(spec.OutDir, 0o755); err != nil {
		return nil, fmt.Errorf("pipeline: %w", err)
	}
	fts := make([]gguf.FileType, len(spec.Quants))
	for i, q := range spec.Quants {
		ft, err := quantize.ParseFileType(q)
		if err != nil {
			return nil, err
		}
		fts[i] = ft
		spec.Quants[i] = quantize.FileTypeName(ft)
	}
	dir, info, err := spec.resolveSource(ctx)
	if err != nil {
		return nil, err
	}
	aopts := spec.ArchOptions
	rep := &Report{Tool: Version, Source: spec.Source}
	if info != nil {
		aopts.RepoID = info.ID
		rep.Revision = info.SHA
	}
	inter := spec.Intermediate
	if inter == 0 {
		inter = gguf.FileTypeGuessed
	}
	plan, err := archmap.Open(dir, inter, aopts)
	if err != nil {
		return nil, err
	}
	defer plan.Close()
	g := plan.General
	rep.Model, rep.Arch = g.Name, plan.Arch
	rep.Parameters, _, _, _ = plan.ParamCounts()
	srcPrint, err := sourceFingerprint(dir, info)
	if err != nil {
		return nil, err
	}

	// The importance matrix: a file, or computed on the calibration text.
	var im *quantize.Imatrix
	imPath := spec.Imatrix
	switch spec.Imatrix {
	case "":
	case "auto":
		if spec.Evaluator == nil {
			return nil, errors.New("pipeline: --imatrix auto needs the runtime")
		}
		calib := spec.Calib
		if calib == nil {
			calib = defaultCalibration
		}
		imPath = filepath.Join(spec.OutDir, "imatrix.gguf")
		if prev, err := quantize.ReadImatrix(imPath); err == nil && reuseImatrix(spec.OutDir, srcPrint, calib) {
			im = prev
			spec.logf("imatrix: reusing %s", imPath)
		} else {
			spec.logf("imatrix: computing on %d bytes of calibration text", len(calib))
			if im, err = spec.Evaluator.Imatrix(ctx, dir, calib); err != nil {
				return nil, fmt.Errorf("pipeline: imatrix: %w", err)
			}
			if err := writeImatrix(imPath, im); err != nil {
				return nil, err
			}
			if err := os.WriteFile(imatrixStamp(spec.OutDir), []byte(imatrixKey(srcPrint, calib)), 0o644); err != nil {
				return nil, fmt.Errorf("pipeline: %w", err)
			}
		}
		rep.Imatrix = "imatrix.gguf"
	default:
		if im, err = quantize.ReadImatrix(spec.Imatrix); err != nil {
			return nil, err
		}
		rep.Imatrix = spec.Imatrix
	}
	imPrint := ""
	if im != nil {
		b, err := os.ReadFile(imPath)
		if err != nil {
			return nil, fmt.Errorf("pipeline: %w", err)
		}
		sum := sha256.Sum256(b)
		imPrint = hex.EncodeToString(sum[:])
	}

	// Plan every variant; skip those already made from the same inputs.
	prevRep := readReport(filepath.Join(spec.OutDir, "report.json"))
	prev := map[string]VariantResult{}
	if prevRep != nil {
		for _, v := range prevRep.Variants {
			prev[v.Quant] = v
		}
	}
	in := convert.PlanInput(plan)
	var outs []convert.Output
	var todo []int
	rep.Variants = make([]VariantResult, len(fts))
	for i, ft := range fts {
		opts := convert.QuantizeOptions{Params: quantize.DefaultParams(ft)}
		if spec.QuantOptions != nil {
			if opts, err = spec.QuantOptions(ft); err != nil {
				return nil, err
			}
		}
		if im != nil {
			opts.Imatrix, opts.ImatrixPath = im, imPath
		}
		qp, err := convert.PlanQuantize(in, opts)
		if err != nil {
			return nil, fmt.Errorf("pipeline: %s: %w", spec.Quants[i], err)
		}
		name := archmap.NamingConvention(g.Name, g.Basename, g.Finetune, g.Version, g.SizeLabel, spec.Quants[i])
		path := filepath.Join(spec.OutDir, name+".gguf")
		fp := fingerprint(srcPrint, imPrint, spec.Quants[i], inter, spec.Split)
		v := VariantResult{Quant: spec.Quants[i], Fingerprint: fp}
		var elems, bytes int64
		for _, s := range qp.Sources {
			elems += int64(s.Info.NumElements())
			bytes += s.Info.Size()
		}
		if elems > 0 {
			v.BitsPerWeight = float64(bytes) * 8 / float64(elems)
		}
		if old, ok := prev[spec.Quants[i]]; ok && old.Fingerprint == fp && filesIntact(spec.OutDir, old) {
			old.Skipped = true
			rep.Variants[i] = old
			spec.logf("%s: up to date (%s)", spec.Quants[i], strings.Join(old.Files, ", "))
			continue
		}
		rep.Variants[i] = v
		outs = append(outs, convert.Output{Path: path, Meta: qp.Meta, Sources: qp.Sources, Split: spec.Split})
		todo = append(todo, i)
	}
	if len(outs) > 0 {
		spec.logf("quantize %s in one pass", strings.Join(pick(spec.Quants, todo), ", "))
		var total int64
		for _, o := range outs {
			for _, s := range o.Sources {
				total += s.Info.Size()
			}
		}
		t0 := time.Now()
		var progress func(done, total int64)
		if spec.Progress != nil {
			progress = func(done, total int64) { spec.Progress("quantize", done, total) }
		}
		paths, err := convert.WriteOutputs(ctx, outs, convert.Options{Threads: spec.Threads, Progress: progress})
		if err != nil {
			return nil, err
		}
		secs := time.Since(t0).Seconds()
		for k, i := range todo {
			v := &rep.Variants[i]
			v.Seconds = secs
			for _, p := range paths[k] {
				sum, size, err := fileSHA256(p)
				if err != nil {
					return nil, err
				}
				v.Files = append(v.Files, filepath.Base(p))
				v.SHA256 = append(v.SHA256, sum)
				v.Size += size
			}
		}
	}

	// Validation against the original checkpoint.
	redone := len(outs) > 0
	if spec.Eval != nil {
		if spec.Evaluator == nil {
			return nil, errors.New("pipeline: --eval needs the runtime")
		}
		rep.EvalText = fmt.Sprintf("%d bytes", len(spec.Eval))
		var failed []string
		for i := range rep.Variants {
			v := &rep.Variants[i]
			if v.Skipped && v.Quality != nil {
				continue
			}
			redone = true
			spec.logf("eval %s", v.Quant)
			q, err := spec.Evaluator.Compare(ctx, dir, filepath.Join(spec.OutDir, v.Files[0]), spec.Eval)
			if err != nil {
				return nil, fmt.Errorf("pipeline: eval %s: %w", v.Quant, err)
			}
			v.Quality = q
		}
		for _, v := range rep.Variants {
			if v.Quality != nil {
				rep.BasePPL = v.Quality.PPLBase
				if spec.MaxKLD > 0 && v.Quality.KLDMean > spec.MaxKLD {
					failed = append(failed, fmt.Sprintf("%s (mean KLD %.4g)", v.Quant, v.Quality.KLDMean))
				}
			}
		}
		if len(failed) > 0 {
			rep.Seconds = time.Since(start).Seconds()
			writeReports(spec, rep)
			return rep, fmt.Errorf("%w: %s above --max-kld %g", ErrQuality, strings.Join(failed, ", "), spec.MaxKLD)
		}
	}
	rep.Seconds = time.Since(start).Seconds()
	rep.PeakRSS = peakRSS()
	if !redone && prevRep != nil && len(prevRep.Variants) == len(rep.Variants) {
		// Nothing was remade: keep the report as it was, so that it stays byte-identical
		// (and publishing it again uploads nothing).
		rep.Seconds, rep.PeakRSS = prevRep.Seconds, prevRep.PeakRSS
	}
	if err := writeReports(spec, rep); err != nil {
		return nil, err
	}
	if spec.Publish != "" {
		ci, err := publish(ctx, spec, rep, info, plan)
		if err != nil {
			return rep, err
		}
		rep.Published = ci
	}
	return rep, nil
}

func pick(s []string, idx []int) []string {
	out := make([]string, len(idx))
	for i, k := range idx {
		out[i] = s[k]
	}
	return out
}

// sourceFingerprint identifies the source: the Hub commit, or the local checkpoint's config
// and safetensors headers (sizes and modification times of its files).
func sourceFingerprint(dir string, info *hub.RepoInfo) (string, error) {
	h := sha256.New()
	if info != nil {
		fmt.Fprintf(h, "hub %s %s\n", info.ID, info.SHA)
		return hex.EncodeToString(h.Sum(nil)), nil
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return "", fmt.Errorf("pipeline: %w", err)
	}
	names := make([]string, 0, len(ents))
	for _, e := range ents {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	for _, n := range names {
		st, err := os.Stat(filepath.Join(dir, n))
		if err != nil || st.IsDir() {
			continue
		}
		fmt.Fprintf(h, "%s %d %d\n", n, st.Size(), st.ModTime().UnixNano())
		if strings.HasSuffix(n, ".json") || n == "tokenizer.model" {
			b, err := os.ReadFile(filepath.Join(dir, n))
			if err == nil {
				h.Write(b)
			}
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func fingerprint(src, imatrix, quant string, inter gguf.FileType, split gguf.SplitOptions) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\n%s\n%s\n%s\n%d\n%d %d\n", Version, src, imatrix, quant, inter, split.MaxBytes, split.MaxTensors)
	return hex.EncodeToString(h.Sum(nil))[:32]
}

func imatrixKey(src string, calib []byte) string {
	sum := sha256.Sum256(calib)
	return Version + " " + src + " " + hex.EncodeToString(sum[:])
}

func imatrixStamp(dir string) string { return filepath.Join(dir, ".imatrix.source") }

func reuseImatrix(dir, src string, calib []byte) bool {
	b, err := os.ReadFile(imatrixStamp(dir))
	return err == nil && string(b) == imatrixKey(src, calib)
}

func writeImatrix(path string, im *quantize.Imatrix) error {
	tmp := path + ".partial"
	f, err := os.Create(tmp)
	if err != nil {
		return fmt.Errorf("pipeline: %w", err)
	}
	if err := quantize.WriteImatrix(f, im); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("pipeline: %w", err)
	}
	return os.Rename(tmp, path)
}

// ReadReport reads a report.json written by Run.
func ReadReport(path string) (*Report, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var r Report
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("pipeline: %s: %w", path, err)
	}
	return &r, nil
}

func readReport(path string) *Report {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	var r Report
	if json.Unmarshal(b, &r) != nil {
		return nil
	}
	return &r
}

// filesIntact reports whether a variant's files exist with the recorded contents.
func filesIntact(dir string, v VariantResult) bool {
	if len(v.Files) == 0 || len(v.Files) != len(v.SHA256) {
		return false
	}
	for i, f := range v.Files {
		sum, _, err := fileSHA256(filepath.Join(dir, f))
		if err != nil || sum != v.SHA256[i] {
			return false
		}
	}
	return true
}

func fileSHA256(path string) (string, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0, fmt.Errorf("pipeline: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return "", 0, fmt.Errorf("pipeline: %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}
