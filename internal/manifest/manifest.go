// Package manifest reads and computes the GGUF manifests kept in testdata/ref: a JSON summary of
// a GGUF file (every metadata value, long arrays as count + sha256 of their Python JSON text,
// and per tensor its dims, type, offset and sha256), in the format of the fixtures' tool
// gguf_manifest.py, so that files made by ggufy can be compared with llama.cpp's own output
// without keeping llama.cpp's files.
package manifest

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/ggufy/ggufy/gguf"
)

// Manifest is the decoded JSON of a NAME.gguf.json file.
type Manifest struct {
	File       string        `json:"file"`
	FileSize   int64         `json:"file_size"`
	FileSHA256 string        `json:"file_sha256"`
	Version    int           `json:"gguf_version"`
	DataOffset int64         `json:"data_offset"`
	NKV        int           `json:"n_kv"`
	NTensors   int           `json:"n_tensors"`
	KV         map[string]KV `json:"kv"`
	KeyOrder   []string      `json:"-"`
	Tensors    []Tensor      `json:"tensors"`
}

// KV is one metadata entry: its type name ("u32", "str", "arr", ...) and canonical value text.
type KV struct {
	Type  string          `json:"type"`
	Value json.RawMessage `json:"value"`
}

// Tensor is one tensor's entry.
type Tensor struct {
	Name   string   `json:"name"`
	Dims   []uint64 `json:"dims"`
	Type   string   `json:"type"`
	Offset uint64   `json:"offset"`
	NBytes int64    `json:"nbytes"`
	SHA256 string   `json:"sha256"`
}

// Load reads a manifest file.
func Load(path string) (*Manifest, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("manifest %s: %w", path, err)
	}
	// Recover the key order, which encoding/json drops.
	dec := json.NewDecoder(strings.NewReader(string(b)))
	var top map[string]json.RawMessage
	if err := json.Unmarshal(b, &top); err == nil {
		dec = json.NewDecoder(strings.NewReader(string(top["kv"])))
		dec.Token() // {
		for dec.More() {
			tok, err := dec.Token()
			if err != nil {
				break
			}
			m.KeyOrder = append(m.KeyOrder, tok.(string))
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				break
			}
		}
	}
	return &m, nil
}

// typeNames maps value types to the manifest's names.
var typeNames = map[gguf.ValueType]string{
	gguf.ValueUint8: "u8", gguf.ValueInt8: "i8", gguf.ValueUint16: "u16", gguf.ValueInt16: "i16",
	gguf.ValueUint32: "u32", gguf.ValueInt32: "i32", gguf.ValueFloat32: "f32", gguf.ValueBool: "bool",
	gguf.ValueString: "str", gguf.ValueArray: "arr", gguf.ValueUint64: "u64", gguf.ValueInt64: "i64",
	gguf.ValueFloat64: "f64",
}

// FromFile computes the manifest of an open GGUF file (tensor hashes read through the file).
func FromFile(f *gguf.File) (*Manifest, error) {
	m := &Manifest{Version: int(f.Version), DataOffset: f.DataOffset, FileSize: f.Size, NKV: f.Meta.Len(), NTensors: len(f.Tensors), KV: map[string]KV{}}
	for _, kv := range f.Meta.KVs() {
		m.KeyOrder = append(m.KeyOrder, kv.Key)
		m.KV[kv.Key] = KV{Type: typeNames[kv.Value.Type()], Value: json.RawMessage(ValueJSON(kv.Value))}
	}
	for i, t := range f.Tensors {
		data, err := f.TensorData(i)
		if err != nil {
			return nil, err
		}
		sum := sha256.Sum256(data)
		m.Tensors = append(m.Tensors, Tensor{Name: t.Name, Dims: t.Dims, Type: strings.ToUpper(t.Type.String()), Offset: t.Offset, NBytes: int64(len(data)), SHA256: hex.EncodeToString(sum[:])})
	}
	return m, nil
}

// ValueJSON renders a value the way gguf_manifest.py stores it: scalars as Python's json.dumps
// would, arrays of more than 16 elements as {elem_type, count, first, last, sha256_of_json_values}.
func ValueJSON(v gguf.Value) string {
	a, ok := v.Array()
	if !ok {
		return pyJSON(v)
	}
	n := a.Len()
	if n <= 16 {
		return fmt.Sprintf(`{"elem_type": %q, "values": %s}`, typeNames[a.Elem], arrayJSON(a, 0, n))
	}
	all := arrayJSON(a, 0, n)
	sum := sha256.Sum256([]byte(all))
	return fmt.Sprintf(`{"elem_type": %q, "count": %d, "first": %s, "last": %s, "sha256_of_json_values": %q}`,
		typeNames[a.Elem], n, arrayJSON(a, 0, 8), arrayJSON(a, n-4, n), hex.EncodeToString(sum[:]))
}

func arrayJSON(a gguf.Array, from, to int) string {
	parts := make([]string, 0, to-from)
	for i := from; i < to; i++ {
		el := a.Index(i)
		if sub, ok := el.Array(); ok {
			parts = append(parts, fmt.Sprintf(`{"elem_type": %q, "values": %s}`, typeNames[sub.Elem], arrayJSON(sub, 0, sub.Len())))
			continue
		}
		parts = append(parts, pyJSON(el))
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// pyJSON renders a scalar exactly as Python's json.dumps(ensure_ascii=False) does.
func pyJSON(v gguf.Value) string {
	switch x := v.Any().(type) {
	case string:
		return pyString(x)
	case bool:
		if x {
			return "true"
		}
		return "false"
	case float32:
		return pyFloat(float64(x))
	case float64:
		return pyFloat(x)
	}
	i, _ := v.Int()
	if u, ok := v.Any().(uint64); ok {
		return strconv.FormatUint(u, 10)
	}
	return strconv.FormatInt(i, 10)
}

// pyFloat formats like Python's float repr (json.dumps uses it).
func pyFloat(f float64) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	case f == 0:
		if math.Signbit(f) {
			return "-0.0"
		}
		return "0.0"
	}
	e := strconv.FormatFloat(f, 'e', -1, 64) // shortest round-trip digits: -d.ddde±XX
	neg := e[0] == '-'
	if neg {
		e = e[1:]
	}
	mant, expS, _ := strings.Cut(e, "e")
	exp, _ := strconv.Atoi(expS)
	digits := strings.Replace(mant, ".", "", 1)
	if exp >= -4 && exp < 16 { // Python's repr switches to exponent notation outside [1e-4, 1e16)
		var s string
		switch {
		case exp >= 0 && len(digits) <= exp+1:
			s = digits + strings.Repeat("0", exp+1-len(digits)) + ".0"
		case exp >= 0:
			s = digits[:exp+1] + "." + digits[exp+1:]
		default:
			s = "0." + strings.Repeat("0", -exp-1) + digits
		}
		if neg {
			s = "-" + s
		}
		return s
	}
	s := digits[:1]
	if len(digits) > 1 {
		s += "." + digits[1:]
	}
	sign := "+"
	if exp < 0 {
		sign = "-"
		exp = -exp
	}
	s += fmt.Sprintf("e%s%02d", sign, exp)
	if neg {
		s = "-" + s
	}
	return s
}

func pyString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		case '\b':
			b.WriteString(`\b`)
		case '\f':
			b.WriteString(`\f`)
		default:
			if r < 0x20 {
				fmt.Fprintf(&b, `\u%04x`, r)
			} else {
				b.WriteRune(r)
			}
		}
	}
	b.WriteByte('"')
	return b.String()
}

// Diff compares got with want and returns one line per difference. Keys starting with one of
// ignorePrefixes (e.g. "general.name") are skipped; key order is compared too.
func Diff(got, want *Manifest, ignore func(key string) bool) []string {
	var out []string
	if ignore == nil {
		ignore = func(string) bool { return false }
	}
	keys := map[string]bool{}
	for k := range want.KV {
		keys[k] = true
	}
	for k := range got.KV {
		keys[k] = true
	}
	sorted := make([]string, 0, len(keys))
	for k := range keys {
		sorted = append(sorted, k)
	}
	sort.Strings(sorted)
	for _, k := range sorted {
		if ignore(k) {
			continue
		}
		g, gok := got.KV[k]
		w, wok := want.KV[k]
		switch {
		case !gok:
			out = append(out, fmt.Sprintf("kv %s: missing (want %s %s)", k, w.Type, short(w.Value)))
		case !wok:
			out = append(out, fmt.Sprintf("kv %s: unexpected (%s %s)", k, g.Type, short(g.Value)))
		case g.Type != w.Type || !jsonEqual(g.Value, w.Value):
			out = append(out, fmt.Sprintf("kv %s: got %s %s, want %s %s", k, g.Type, short(g.Value), w.Type, short(w.Value)))
		}
	}
	var go1, wo []string
	for _, k := range got.KeyOrder {
		if !ignore(k) {
			go1 = append(go1, k)
		}
	}
	for _, k := range want.KeyOrder {
		if !ignore(k) {
			wo = append(wo, k)
		}
	}
	if len(out) == 0 && strings.Join(go1, ",") != strings.Join(wo, ",") {
		out = append(out, fmt.Sprintf("kv order differs:\n got  %v\n want %v", go1, wo))
	}
	wt := map[string]Tensor{}
	for _, t := range want.Tensors {
		wt[t.Name] = t
	}
	gt := map[string]bool{}
	for i, g := range got.Tensors {
		gt[g.Name] = true
		w, ok := wt[g.Name]
		if !ok {
			out = append(out, fmt.Sprintf("tensor %s: unexpected", g.Name))
			continue
		}
		if i < len(want.Tensors) && want.Tensors[i].Name != g.Name {
			out = append(out, fmt.Sprintf("tensor %d: got %s, want %s (order)", i, g.Name, want.Tensors[i].Name))
		}
		switch {
		case fmt.Sprint(g.Dims) != fmt.Sprint(w.Dims):
			out = append(out, fmt.Sprintf("tensor %s: dims %v, want %v", g.Name, g.Dims, w.Dims))
		case g.Type != w.Type:
			out = append(out, fmt.Sprintf("tensor %s: type %s, want %s", g.Name, g.Type, w.Type))
		case w.SHA256 != "" && g.SHA256 != w.SHA256:
			out = append(out, fmt.Sprintf("tensor %s: bytes differ", g.Name))
		}
	}
	for _, w := range want.Tensors {
		if !gt[w.Name] {
			out = append(out, fmt.Sprintf("tensor %s: missing", w.Name))
		}
	}
	return out
}

func short(b json.RawMessage) string {
	s := string(b)
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return s
}

// jsonEqual compares two JSON texts by value (so that 1e-05 and 1e-5 match, and whitespace
// does not matter).
func jsonEqual(a, b json.RawMessage) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return string(a) == string(b)
	}
	return fmt.Sprint(x) == fmt.Sprint(y)
}
