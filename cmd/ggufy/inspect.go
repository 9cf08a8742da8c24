package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/ggufy/ggufy/gguf"
	"github.com/ggufy/ggufy/safetensors"
	"github.com/urfave/cli/v2"
)

func inspectCommand() *cli.Command {
	return &cli.Command{
		Name:      "inspect",
		Usage:     "show a GGUF file's metadata and tensors, or a Hugging Face checkpoint's config and tensors",
		ArgsUsage: "PATH",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "json", Usage: "print JSON (the shape of llama_oracle.py meta: kv, tensors with sha256, summary)"},
			&cli.BoolFlag{Name: "no-hash", Usage: "skip the sha256 of tensor data in --json output"},
			&cli.IntFlag{Name: "array-items", Value: 8, Usage: "array elements shown before summarizing"},
		},
		Action: func(cctx *cli.Context) error {
			if cctx.NArg() != 1 {
				return usageError("inspect needs one PATH (a .gguf file or a checkpoint directory)")
			}
			path := cctx.Args().First()
			st, err := os.Stat(path)
			if err != nil {
				return err
			}
			w := cctx.App.Writer
			if st.IsDir() {
				return inspectCheckpoint(w, path, cctx.Bool("json"))
			}
			return inspectGGUF(w, path, cctx.Bool("json"), !cctx.Bool("no-hash"), cctx.Int("array-items"))
		},
	}
}

// ggufReport is the JSON form of a GGUF file, compatible with llama_oracle.py meta.
type ggufReport struct {
	File       string         `json:"file"`
	FileSize   int64          `json:"file_size"`
	Version    uint32         `json:"version"`
	NKV        int            `json:"n_kv"`
	NTensors   int            `json:"n_tensors"`
	Alignment  int64          `json:"alignment"`
	DataOffset int64          `json:"data_offset"`
	KV         orderedKV      `json:"kv"`
	Tensors    []tensorReport `json:"tensors"`
	Summary    summaryReport  `json:"summary"`
	Shards     []string       `json:"shards,omitempty"`
	Totals     map[string]any `json:"totals"`
}

type kvReport struct {
	Type     string `json:"type"`
	Value    any    `json:"value,omitempty"`
	ElemType string `json:"elem_type,omitempty"`
	Len      *int   `json:"len,omitempty"`
	Head     []any  `json:"head,omitempty"`
	SHA256   string `json:"sha256,omitempty"`
}

// orderedKV marshals as a JSON object in file order.
type orderedKV struct {
	keys []string
	vals map[string]kvReport
}

func (o orderedKV) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, k := range o.keys {
		if i > 0 {
			b.WriteByte(',')
		}
		kb, _ := json.Marshal(k)
		vb, err := json.Marshal(o.vals[k])
		if err != nil {
			return nil, err
		}
		b.Write(kb)
		b.WriteByte(':')
		b.Write(vb)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

type tensorReport struct {
	Name       string   `json:"name"`
	Type       string   `json:"type"`
	NE         []uint64 `json:"ne"`
	Shape      []uint64 `json:"shape"`
	Offset     uint64   `json:"offset"`
	FileOffset int64    `json:"file_offset"`
	NBytes     int64    `json:"nbytes"`
	SHA256     string   `json:"sha256,omitempty"`
	Shard      int      `json:"shard,omitempty"`
}

type summaryReport struct {
	TypeCounts  map[string]int `json:"tensor_type_counts"`
	TensorBytes int64          `json:"tensor_bytes"`
	NElements   uint64         `json:"n_elements"`
}

func jsonScalar(v gguf.Value) any {
	switch x := v.Any().(type) {
	case float32:
		f := float64(x)
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return nil
		}
		return f
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return nil
		}
		return x
	}
	return v.Any()
}

func kvToReport(v gguf.Value, items int) kvReport {
	a, ok := v.Array()
	if !ok {
		return kvReport{Type: v.Type().String(), Value: jsonScalar(v)}
	}
	n := a.Len()
	r := kvReport{Type: "ARRAY", ElemType: a.Elem.String(), Len: &n}
	head := n
	if items >= 0 && items < n {
		head = items
	}
	r.Head = []any{}
	for i := 0; i < head; i++ {
		el := a.Index(i)
		if _, nested := el.Array(); nested {
			r.Head = append(r.Head, kvToReport(el, items))
			continue
		}
		r.Head = append(r.Head, jsonScalar(el))
	}
	// sha256 of the stored elements (without the element type and count), as the oracle does.
	var buf bytes.Buffer
	gguf.EncodeValue(&buf, v)
	sum := sha256.Sum256(buf.Bytes()[12:])
	r.SHA256 = hex.EncodeToString(sum[:])
	return r
}

func buildGGUFReport(path string, hash bool, items int) (*ggufReport, *gguf.Model, error) {
	m, err := gguf.OpenModel(path)
	if err != nil {
		return nil, nil, err
	}
	f := m.Files[0]
	r := &ggufReport{File: path, FileSize: m.Size(), Version: f.Version, NKV: f.Meta.Len(), NTensors: len(m.Tensors),
		Alignment: f.Alignment, DataOffset: f.DataOffset, KV: orderedKV{vals: map[string]kvReport{}},
		Summary: summaryReport{TypeCounts: map[string]int{}}}
	for _, kv := range f.Meta.KVs() {
		r.KV.keys = append(r.KV.keys, kv.Key)
		r.KV.vals[kv.Key] = kvToReport(kv.Value, items)
	}
	if len(m.Files) > 1 {
		for _, sf := range m.Files {
			r.Shards = append(r.Shards, sf.Name)
		}
	}
	for i, t := range m.Tensors {
		tr := tensorReport{Name: t.Name, Type: strings.ToUpper(t.Type.String()), NE: t.Dims, Shape: t.Shape(), Offset: t.Offset,
			FileOffset: m.Files[t.File].DataOffset + int64(t.Offset), NBytes: t.Size(), Shard: t.File}
		if hash {
			data, err := m.TensorData(i)
			if err != nil {
				m.Close()
				return nil, nil, err
			}
			sum := sha256.Sum256(data)
			tr.SHA256 = hex.EncodeToString(sum[:])
		}
		r.Tensors = append(r.Tensors, tr)
		r.Summary.TypeCounts[tr.Type]++
		r.Summary.TensorBytes += tr.NBytes
		r.Summary.NElements += t.NumElements()
	}
	bpw := 0.0
	if r.Summary.NElements > 0 {
		bpw = float64(r.Summary.TensorBytes) * 8 / float64(r.Summary.NElements)
	}
	r.Totals = map[string]any{"parameters": r.Summary.NElements, "size_bytes": r.FileSize, "bits_per_weight": bpw,
		"file_type": gguf.FileType(f.Meta.GetInt("general.file_type", 0)).String()}
	return r, m, nil
}

func inspectGGUF(w io.Writer, path string, asJSON, hash bool, items int) error {
	r, m, err := buildGGUFReport(path, hash && asJSON, items)
	if err != nil {
		return err
	}
	defer m.Close()
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", " ")
		return enc.Encode(r)
	}
	fmt.Fprintf(w, "%s: GGUF v%d, %d metadata keys, %d tensors", path, r.Version, r.NKV, r.NTensors)
	if len(r.Shards) > 1 {
		fmt.Fprintf(w, " in %d shards", len(r.Shards))
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "\nmetadata:")
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	for _, kv := range m.Meta.KVs() {
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", kv.Key, kv.Value.Type(), summarize(kv.Value, items))
	}
	tw.Flush()
	fmt.Fprintln(w, "\ntensors:")
	tw = tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	fmt.Fprintf(tw, "  name\ttype\tshape\toffset\tbytes\t\n")
	for _, t := range r.Tensors {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%d\t%d\t\n", t.Name, t.Type, dimsString(t.Shape), t.FileOffset, t.NBytes)
	}
	tw.Flush()
	fmt.Fprintf(w, "\ntotals: %s parameters, %s, %.2f bits per weight, file type %s\n",
		humanCount(r.Summary.NElements), humanBytes(r.FileSize), r.Totals["bits_per_weight"], r.Totals["file_type"])
	return nil
}

func summarize(v gguf.Value, items int) string {
	s := v.String()
	if a, ok := v.Array(); ok && a.Len() > items {
		return fmt.Sprintf("[%s × %d] %s", a.Elem, a.Len(), strings.TrimPrefix(s[strings.Index(s, "] ")+2:], ""))
	}
	if len(s) > 120 {
		s = s[:117] + "..."
	}
	return strings.ReplaceAll(s, "\n", `\n`)
}

func dimsString(d []uint64) string {
	parts := make([]string, len(d))
	for i, x := range d {
		parts[i] = fmt.Sprint(x)
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

func humanCount(n uint64) string {
	switch {
	case n >= 1e9:
		return fmt.Sprintf("%.2fB", float64(n)/1e9)
	case n >= 1e6:
		return fmt.Sprintf("%.2fM", float64(n)/1e6)
	case n >= 1e3:
		return fmt.Sprintf("%.2fK", float64(n)/1e3)
	}
	return fmt.Sprint(n)
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.2f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.2f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// checkpointReport is the JSON form of a Hugging Face checkpoint directory.
type checkpointReport struct {
	Dir          string             `json:"dir"`
	Architecture string             `json:"architecture"`
	ModelType    string             `json:"model_type,omitempty"`
	Config       map[string]any     `json:"config"`
	Files        []string           `json:"files"`
	Tensors      []checkpointTensor `json:"tensors"`
	DTypeCounts  map[string]int     `json:"dtype_counts"`
	Parameters   int64              `json:"parameters"`
	Bytes        int64              `json:"bytes"`
}

type checkpointTensor struct {
	Name  string  `json:"name"`
	DType string  `json:"dtype"`
	Shape []int64 `json:"shape"`
	File  string  `json:"file"`
	Bytes int     `json:"bytes"`
}

var configSizeKeys = []string{"hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads",
	"head_dim", "vocab_size", "max_position_embeddings", "rope_theta", "torch_dtype", "dtype", "tie_word_embeddings",
	"num_local_experts", "num_experts", "num_experts_per_tok", "sliding_window", "n_embd", "n_layer", "n_head", "n_positions"}

func inspectCheckpoint(w io.Writer, dir string, asJSON bool) error {
	var cfg map[string]any
	b, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil {
		return fmt.Errorf("%s is not a Hugging Face checkpoint: %w", dir, err)
	}
	if err := json.Unmarshal(b, &cfg); err != nil {
		return fmt.Errorf("%s/config.json: %w", dir, err)
	}
	r := checkpointReport{Dir: dir, Config: map[string]any{}, DTypeCounts: map[string]int{}}
	if a, ok := cfg["architectures"].([]any); ok && len(a) > 0 {
		r.Architecture, _ = a[0].(string)
	}
	r.ModelType, _ = cfg["model_type"].(string)
	src := cfg
	if tc, ok := cfg["text_config"].(map[string]any); ok {
		src = tc
	}
	for _, k := range configSizeKeys {
		if v, ok := src[k]; ok {
			r.Config[k] = v
		} else if v, ok := cfg[k]; ok {
			r.Config[k] = v
		}
	}
	ck, err := safetensors.OpenDir(dir)
	if err != nil {
		return err
	}
	defer ck.Close()
	for _, f := range ck.Files {
		r.Files = append(r.Files, filepath.Base(f.Path))
	}
	for _, t := range ck.Tensors {
		r.Tensors = append(r.Tensors, checkpointTensor{t.Name, string(t.DType), t.Shape, filepath.Base(t.File), len(t.Bytes())})
		r.DTypeCounts[string(t.DType)]++
		r.Parameters += t.NumElements()
		r.Bytes += int64(len(t.Bytes()))
	}
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", " ")
		return enc.Encode(r)
	}
	fmt.Fprintf(w, "%s: %s (model_type %s), %d tensors in %d file(s)\n\nconfig:\n", dir, r.Architecture, r.ModelType, len(r.Tensors), len(r.Files))
	keys := make([]string, 0, len(r.Config))
	for k := range r.Config {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	for _, k := range keys {
		fmt.Fprintf(tw, "  %s\t%v\n", k, r.Config[k])
	}
	tw.Flush()
	fmt.Fprintln(w, "\ntensors:")
	tw = tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	for _, t := range r.Tensors {
		fmt.Fprintf(tw, "  %s\t%s\t%v\t%s\n", t.Name, t.DType, t.Shape, t.File)
	}
	tw.Flush()
	fmt.Fprintf(w, "\ntotals: %s parameters, %s\n", humanCount(uint64(r.Parameters)), humanBytes(r.Bytes))
	return nil
}
