package safetensors

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	st "github.com/nlpodyssey/safetensors"
)

// build serializes tensors with the reference Go implementation (nlpodyssey/safetensors).
func build(t testing.TB, tensors map[string]st.TensorView) []byte {
	b, err := st.Serialize(tensors, map[string]string{"format": "pt"})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func view(t testing.TB, dt st.DType, shape []uint64, data []byte) st.TensorView {
	v, err := st.NewTensorView(dt, shape, data)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// rawFile assembles a file from a header given as JSON text and a data section.
func rawFile(header string, data []byte) []byte {
	b := make([]byte, 8, 8+len(header)+len(data))
	binary.LittleEndian.PutUint64(b, uint64(len(header)))
	return append(append(b, header...), data...)
}

func TestParseValid(t *testing.T) {
	f32 := make([]byte, 4*6)
	for i := 0; i < 6; i++ {
		binary.LittleEndian.PutUint32(f32[4*i:], math.Float32bits(float32(i)-2.5))
	}
	b := build(t, map[string]st.TensorView{
		"a.weight": view(t, st.F32, []uint64{2, 3}, f32),
		"b.bias":   view(t, st.BF16, []uint64{2}, []byte{0x80, 0x3f, 0x00, 0xc0}), // 1, -2
		"empty":    view(t, st.F32, []uint64{0, 4}, nil),
	})
	f, err := Parse("x.safetensors", b)
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Tensors) != 3 || f.Metadata["format"] != "pt" {
		t.Fatalf("got %d tensors, metadata %v", len(f.Tensors), f.Metadata)
	}
	byName := map[string]*Tensor{}
	for _, tt := range f.Tensors {
		byName[tt.Name] = tt
	}
	got := make([]float32, 3)
	if err := byName["a.weight"].Floats(got, 3); err != nil {
		t.Fatal(err)
	}
	if got[0] != 0.5 || got[2] != 2.5 {
		t.Errorf("row 1 = %v", got)
	}
	bf := make([]float32, 2)
	byName["b.bias"].Floats(bf, 0)
	if bf[0] != 1 || bf[1] != -2 {
		t.Errorf("bf16 = %v", bf)
	}
	if err := byName["a.weight"].Floats(got, 4); err == nil {
		t.Error("reading past the end: no error")
	}
}

func TestParseBad(t *testing.T) {
	good := `{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`
	cases := []struct {
		name string
		b    []byte
		want error
		msg  string
	}{
		{"tiny", []byte{1, 2}, ErrFormat, "no header"},
		{"header past end", func() []byte { b := rawFile(good, make([]byte, 8)); binary.LittleEndian.PutUint64(b, 1<<20); return b }(), ErrFormat, "past the end"},
		{"header huge", func() []byte { b := rawFile(good, nil); binary.LittleEndian.PutUint64(b, 1<<62); return b }(), ErrFormat, "exceeds"},
		{"not json", rawFile("[1,2]", nil), ErrFormat, "not a JSON object"},
		{"broken json", rawFile(`{"a":`, nil), ErrFormat, "JSON"},
		{"offsets past data", rawFile(good, make([]byte, 4)), ErrFormat, "outside the data"},
		{"wrong length", rawFile(`{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}`, make([]byte, 8)), ErrFormat, "bytes for shape"},
		{"reversed offsets", rawFile(`{"a":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}}`, make([]byte, 8)), ErrFormat, "outside"},
		{"overlap", rawFile(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F16","shape":[2],"data_offsets":[4,8]}}`, make([]byte, 8)), ErrFormat, "overlap"},
		{"unknown dtype", rawFile(`{"a":{"dtype":"F4","shape":[2],"data_offsets":[0,1]}}`, make([]byte, 1)), ErrUnsupported, "F4"},
		{"negative dim", rawFile(`{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,0]}}`, nil), ErrFormat, "shape"},
		{"overflow dims", rawFile(`{"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,0]}}`, nil), ErrFormat, "shape"},
		{"extra field", rawFile(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"x":1}}`, make([]byte, 8)), ErrFormat, "unknown field"},
		{"bad metadata", rawFile(`{"__metadata__":{"a":1}}`, nil), ErrFormat, "__metadata__"},
		{"one offset", rawFile(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0]}}`, make([]byte, 8)), ErrFormat, "data_offsets"},
	}
	for _, c := range cases {
		_, err := Parse("bad.safetensors", c.b)
		if err == nil {
			t.Errorf("%s: no error", c.name)
			continue
		}
		if !errors.Is(err, c.want) || !strings.Contains(err.Error(), "bad.safetensors") || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%s: %v (want %v naming the file and %q)", c.name, err, c.want, c.msg)
		}
	}
}

func TestDecode(t *testing.T) {
	cases := []struct {
		d    DType
		raw  []byte
		want []float32
	}{
		{F16, []byte{0x00, 0x3c, 0x00, 0xc0, 0x01, 0x00, 0x00, 0x7c}, []float32{1, -2, float32(math.Ldexp(1, -24)), float32(math.Inf(1))}},
		{BF16, []byte{0x80, 0x3f, 0x49, 0x40}, []float32{1, 3.140625}},
		{F8E4M3, []byte{0x38, 0xb8, 0x7e, 0x01, 0x08}, []float32{1, -1, 448, float32(math.Ldexp(1, -9)), float32(math.Ldexp(1, -6))}},
		{F8E5M2, []byte{0x3c, 0x7b, 0x01, 0x7c}, []float32{1, 57344, float32(math.Ldexp(1, -16)), float32(math.Inf(1))}},
		{F64, binary.LittleEndian.AppendUint64(nil, math.Float64bits(0.1)), []float32{0.1}},
		{I64, binary.LittleEndian.AppendUint64(nil, uint64(1<<40)), []float32{1 << 40}},
		{I32, []byte{0xff, 0xff, 0xff, 0xff}, []float32{-1}},
		{I16, []byte{0xfe, 0xff}, []float32{-2}},
		{I8, []byte{0x80}, []float32{-128}},
		{U8, []byte{200}, []float32{200}},
		{U16, []byte{0xff, 0xff}, []float32{65535}},
		{U32, []byte{0, 0, 0, 0x80}, []float32{1 << 31}},
		{U64, binary.LittleEndian.AppendUint64(nil, 1<<63), []float32{1 << 63}},
		{Bool, []byte{1, 0}, []float32{1, 0}},
	}
	for _, c := range cases {
		got := make([]float32, len(c.want))
		if err := Decode(c.d, got, c.raw); err != nil {
			t.Errorf("%s: %v", c.d, err)
			continue
		}
		for i := range got {
			if got[i] != c.want[i] {
				t.Errorf("%s[%d] = %g, want %g", c.d, i, got[i], c.want[i])
			}
		}
	}
	nan := make([]float32, 1)
	Decode(F8E4M3, nan, []byte{0x7f})
	if !math.IsNaN(float64(nan[0])) {
		t.Error("F8_E4M3 0x7f is not NaN")
	}
	if err := Decode(F32, make([]float32, 2), make([]byte, 4)); err == nil {
		t.Error("length mismatch: no error")
	}
}

func TestOpenDirSharded(t *testing.T) {
	c, err := OpenDir("../testdata/models/tiny-trained")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if len(c.Files) != 2 {
		t.Errorf("%d shards", len(c.Files))
	}
	var idx struct {
		WeightMap map[string]string `json:"weight_map"`
	}
	b, _ := os.ReadFile("../testdata/models/tiny-trained/" + IndexFile)
	json.Unmarshal(b, &idx)
	if len(c.Tensors) != len(idx.WeightMap) {
		t.Errorf("%d tensors, index lists %d", len(c.Tensors), len(idx.WeightMap))
	}
	e := c.Tensor("model.embed_tokens.weight")
	if e == nil || e.DType != BF16 || len(e.Shape) != 2 || e.Shape[0] != 4096 || e.Shape[1] != 256 {
		t.Fatalf("embed_tokens: %+v", e)
	}
	row := make([]float32, 256)
	if err := e.Floats(row, 256*5); err != nil {
		t.Fatal(err)
	}
	var norm float64
	for _, v := range row {
		norm += float64(v * v)
	}
	if norm == 0 || math.IsNaN(norm) {
		t.Errorf("row 5 of embed_tokens has norm %g", norm)
	}
}

func TestOpenDirErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := OpenDir(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("empty dir: %v", err)
	}
	// An index that disagrees with its shards.
	b := build(t, map[string]st.TensorView{"a": view(t, st.F32, []uint64{1}, make([]byte, 4))})
	os.WriteFile(filepath.Join(dir, "model-00001-of-00001.safetensors"), b, 0o644)
	write := func(idx string) { os.WriteFile(filepath.Join(dir, IndexFile), []byte(idx), 0o644) }
	write(`{"weight_map":{"a":"model-00001-of-00001.safetensors","b":"model-00001-of-00001.safetensors"}}`)
	if _, err := OpenDir(dir); err == nil || !strings.Contains(err.Error(), `"b"`) {
		t.Errorf("missing tensor: %v", err)
	}
	write(`{"weight_map":{"a":"../evil.safetensors"}}`)
	if _, err := OpenDir(dir); !errors.Is(err, ErrFormat) {
		t.Errorf("path escape: %v", err)
	}
	write(`{"weight_map":{"a":"model-00002-of-00002.safetensors"}}`)
	if _, err := OpenDir(dir); err == nil {
		t.Error("missing shard: no error")
	}
	write(`{"weight_map":{}}`)
	if _, err := OpenDir(dir); !errors.Is(err, ErrFormat) {
		t.Errorf("empty map: %v", err)
	}
	write(`{"weight_map":{"a":"model-00001-of-00001.safetensors"}}`)
	c, err := OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
}

func FuzzParse(f *testing.F) {
	f.Add(rawFile(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, make([]byte, 8)))
	f.Add(rawFile(`{"__metadata__":{"format":"pt"},"a":{"dtype":"BF16","shape":[2,1],"data_offsets":[0,4]},"b":{"dtype":"F8_E4M3","shape":[3],"data_offsets":[4,7]}}`, make([]byte, 7)))
	if b, err := os.ReadFile("../testdata/models/stories260k/model.safetensors"); err == nil {
		f.Add(b[:4096])
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		file, err := Parse("fuzz", b)
		if err != nil {
			return
		}
		for _, tt := range file.Tensors {
			n := tt.NumElements()
			if int64(len(tt.data)) != n*int64(tt.DType.Size()) {
				t.Fatalf("tensor %q: %d bytes for %d elements", tt.Name, len(tt.data), n)
			}
			if n > 0 && n < 1<<16 {
				if err := tt.Floats(make([]float32, n), 0); err != nil {
					t.Fatal(err)
				}
			}
		}
	})
}
