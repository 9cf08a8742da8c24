package hub

import (
	"encoding/json"
	"fmt"
	"math"
	"path"
	"regexp"
	"sort"
	"strings"
)

// Card describes the model card (README.md) of a repo of GGUF files.
type Card struct {
	Repo        string   // the GGUF repo, "me/Model-GGUF" (used in the run instructions)
	BaseModel   string   // the source repo, "Qwen/Qwen2.5-0.5B-Instruct"
	License     string   // the source's license id ("apache-2.0", "llama3.1", "other", ...)
	LicenseName string   // for license "other"
	LicenseLink string   // for license "other"
	QuantizedBy string   // who made the files
	PipelineTag string   // e.g. "text-generation"
	Tags        []string // besides "gguf"
	Title       string   // heading; default "{base model name} GGUF"
	Description string   // optional Markdown paragraph after the heading
	EvalNote    string   // how perplexity and KLD were measured (dataset, context), shown under the table
	Tool        string   // what made the files, e.g. "ggufy v0.3.0"
	Variants    []Variant
}

// Variant is one GGUF file (or the first part of a split one) in the card's table.
type Variant struct {
	File          string   // path in the repo
	Quant         string   // "Q4_K_M": the tag in `llama-cli -hf repo:Q4_K_M`
	Size          int64    // bytes, all parts of a split file together
	BitsPerWeight float64  // 0: unknown
	Quality       *Quality // nil: not measured
}

// Quality is how a variant compares with the original model, measured elsewhere.
type Quality struct {
	Perplexity     float64 // of this variant
	BasePerplexity float64 // of the original model on the same text (0: unknown)
	MeanKLD        float64 // mean KL divergence of the token distributions against the original
}

// CardFromSource starts a card with what the source repo's own card says: base model,
// license and pipeline tag.
func CardFromSource(src *RepoInfo) Card {
	return Card{BaseModel: src.ID, License: src.License, LicenseName: src.LicenseName,
		LicenseLink: src.LicenseLink, PipelineTag: src.PipelineTag}
}

// ModelCard renders c as a README.md: YAML front matter the Hub indexes (base_model,
// base_model_relation, license, library_name, quantized_by, tags), a table of the variants,
// and how to run them with llama.cpp and Ollama.
func ModelCard(c Card) string {
	var b strings.Builder
	b.WriteString("---\n")
	if c.BaseModel != "" {
		b.WriteString("base_model: " + yamlScalar(c.BaseModel) + "\n")
		b.WriteString("base_model_relation: quantized\n")
	}
	b.WriteString("library_name: gguf\n")
	if c.License != "" {
		b.WriteString("license: " + yamlScalar(c.License) + "\n")
		if c.LicenseName != "" {
			b.WriteString("license_name: " + yamlScalar(c.LicenseName) + "\n")
		}
		if c.LicenseLink != "" {
			b.WriteString("license_link: " + yamlScalar(c.LicenseLink) + "\n")
		}
	}
	if c.PipelineTag != "" {
		b.WriteString("pipeline_tag: " + yamlScalar(c.PipelineTag) + "\n")
	}
	if c.QuantizedBy != "" {
		b.WriteString("quantized_by: " + yamlScalar(c.QuantizedBy) + "\n")
	}
	tags := []string{"gguf"}
	for _, t := range c.Tags {
		if t != "" && !contains(tags, t) {
			tags = append(tags, t)
		}
	}
	b.WriteString("tags:\n")
	for _, t := range tags {
		b.WriteString("- " + yamlScalar(t) + "\n")
	}
	b.WriteString("---\n\n")

	title := c.Title
	if title == "" {
		name := path.Base(c.BaseModel)
		if name == "." || name == "" {
			name = path.Base(c.Repo)
		}
		title = name + " GGUF"
	}
	b.WriteString("# " + mdText(title) + "\n\n")
	if c.BaseModel != "" {
		fmt.Fprintf(&b, "GGUF files of [%s](https://huggingface.co/%s) for [llama.cpp](https://github.com/ggml-org/llama.cpp)", mdText(c.BaseModel), c.BaseModel)
	} else {
		b.WriteString("GGUF files for [llama.cpp](https://github.com/ggml-org/llama.cpp)")
	}
	if c.Tool != "" {
		fmt.Fprintf(&b, ", made with %s", mdText(c.Tool))
	}
	if c.QuantizedBy != "" {
		fmt.Fprintf(&b, " by %s", mdText(c.QuantizedBy))
	}
	b.WriteString(".\n\n")
	if c.Description != "" {
		b.WriteString(strings.TrimSpace(c.Description) + "\n\n")
	}

	variants := append([]Variant(nil), c.Variants...)
	sort.SliceStable(variants, func(i, j int) bool { return variants[i].Size < variants[j].Size })
	if len(variants) > 0 {
		measured := false
		for _, v := range variants {
			measured = measured || v.Quality != nil
		}
		b.WriteString("## Files\n\n")
		if measured {
			b.WriteString("| File | Quant | Size | Bits/weight | Perplexity | KLD |\n|---|---|---:|---:|---:|---:|\n")
		} else {
			b.WriteString("| File | Quant | Size | Bits/weight |\n|---|---|---:|---:|\n")
		}
		for _, v := range variants {
			fmt.Fprintf(&b, "| `%s` | %s | %s | %s |", mdCell(v.File), mdCell(orDash(v.Quant)), decimalBytes(v.Size), bpw(v.BitsPerWeight))
			if measured {
				ppl, kld := "—", "—"
				if q := v.Quality; q != nil {
					ppl = fmt.Sprintf("%.4f", q.Perplexity)
					if q.BasePerplexity > 0 {
						ppl += fmt.Sprintf(" (%+.2f%%)", 100*(q.Perplexity/q.BasePerplexity-1))
					}
					kld = fmt.Sprintf("%.5f", q.MeanKLD)
				}
				fmt.Fprintf(&b, " %s | %s |", ppl, kld)
			}
			b.WriteString("\n")
		}
		b.WriteString("\n")
		if measured {
			note := "Perplexity (relative change against the original in parentheses) and mean KL divergence of the token distributions against the original model; — means not measured."
			if c.EvalNote != "" {
				note += " " + strings.TrimSpace(c.EvalNote)
			}
			b.WriteString(note + "\n\n")
		}
	}

	if c.Repo != "" {
		tag := pickTag(variants)
		ref := c.Repo
		if tag != "" {
			ref += ":" + tag
		}
		b.WriteString("## Run with llama.cpp\n\n")
		b.WriteString("```sh\nllama-cli -hf " + ref + "\n```\n\n")
		b.WriteString("or serve an OpenAI-compatible API:\n\n")
		b.WriteString("```sh\nllama-server -hf " + ref + "\n```\n\n")
		b.WriteString("## Run with Ollama\n\n")
		b.WriteString("```sh\nollama run hf.co/" + ref + "\n```\n\n")
		if tag != "" && len(variants) > 1 {
			b.WriteString("Replace `" + tag + "` with the quant of another file from the table.\n")
		}
	}
	return b.String()
}

// pickTag chooses the variant the run examples use: Q4_K_M when present, else the middle one.
func pickTag(vs []Variant) string {
	for _, v := range vs {
		if strings.EqualFold(v.Quant, "Q4_K_M") {
			return v.Quant
		}
	}
	if len(vs) == 0 {
		return ""
	}
	return vs[len(vs)/2].Quant
}

var plainYAML = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9._/+-]*$`)

// yamlScalar writes s as a plain YAML scalar when that is unambiguous, else double-quoted
// (JSON string syntax is valid YAML).
func yamlScalar(s string) string {
	switch strings.ToLower(s) {
	case "true", "false", "yes", "no", "on", "off", "null", "y", "n", "~":
		return quoteJSON(s)
	}
	if plainYAML.MatchString(s) {
		return s
	}
	return quoteJSON(s)
}

func quoteJSON(s string) string {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.Encode(s)
	return strings.TrimSuffix(b.String(), "\n")
}

// mdText keeps user text from opening Markdown/HTML constructs in headings and prose.
func mdText(s string) string {
	r := strings.NewReplacer("\n", " ", "\r", " ", "<", "&lt;", ">", "&gt;")
	return r.Replace(s)
}

// mdCell escapes text for a table cell.
func mdCell(s string) string {
	return strings.NewReplacer("|", `\|`, "`", "'", "\n", " ", "\r", " ").Replace(s)
}

func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}

func bpw(x float64) string {
	if x <= 0 || math.IsNaN(x) || math.IsInf(x, 0) {
		return "—"
	}
	return fmt.Sprintf("%.2f", x)
}

// decimalBytes formats sizes as the Hub shows them (powers of 1000).
func decimalBytes(n int64) string {
	switch {
	case n <= 0:
		return "—"
	case n < 1000:
		return fmt.Sprintf("%d B", n)
	case n < 1000*1000:
		return fmt.Sprintf("%.1f kB", float64(n)/1e3)
	case n < 1000*1000*1000:
		return fmt.Sprintf("%.1f MB", float64(n)/1e6)
	default:
		return fmt.Sprintf("%.2f GB", float64(n)/1e9)
	}
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}
