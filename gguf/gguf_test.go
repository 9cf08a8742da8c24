package gguf

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// allValues returns metadata with one key per value type, arrays of every element type, nested
// and empty arrays.
func allValues(t testing.TB) *Metadata {
	m := NewMetadata()
	m.Set("general.architecture", String("llama"))
	m.Set("t.u8", Uint8(200))
	m.Set("t.i8", Int8(-100))
	m.Set("t.u16", Uint16(60000))
	m.Set("t.i16", Int16(-30000))
	m.Set("t.u32", Uint32(4000000000))
	m.Set("t.i32", Int32(-2000000000))
	m.Set("t.f32", Float32(1.5e-5))
	m.Set("t.bool", Bool(true))
	m.Set("t.str", String("héllo\x00wörld"))
	m.Set("t.u64", Uint64(math.MaxUint64))
	m.Set("t.i64", Int64(math.MinInt64))
	m.Set("t.f64", Float64(math.Pi))
	arrays := []struct {
		elem ValueType
		vals any
	}{
		{ValueUint8, []uint8{1, 2, 255}},
		{ValueInt8, []int8{-1, 0, 127}},
		{ValueUint16, []uint16{1, 65535}},
		{ValueInt16, []int16{-32768, 5}},
		{ValueUint32, []uint32{7}},
		{ValueInt32, []int32{-7, 1 << 30}},
		{ValueFloat32, []float32{float32(math.Inf(1)), -0.5}},
		{ValueBool, []bool{true, false, true}},
		{ValueString, []string{"", "a", "<0x0A>", "日本"}},
		{ValueUint64, []uint64{1 << 63}},
		{ValueInt64, []int64{-1}},
		{ValueFloat64, []float64{1e300}},
		{ValueInt32, []int32{}},
		{ValueArray, []Array{{ValueString, []string{"x", "y"}}, {ValueArray, []Array{{ValueUint8, []uint8{9}}}}}},
	}
	for i, a := range arrays {
		v, err := ArrayValue(a.elem, a.vals)
		if err != nil {
			t.Fatal(err)
		}
		m.Set("t.arr."+string(rune('a'+i)), v)
	}
	return m
}

func allTensors() ([]TensorInfo, [][]byte) {
	var ts []TensorInfo
	var data [][]byte
	for i, typ := range Types() {
		ti := TensorInfo{Name: "t." + typ.String(), Dims: []uint64{uint64(typ.BlockSize() * 2), 3}, Type: typ}
		if i%3 == 0 {
			ti.Dims = append(ti.Dims, 2)
		}
		b := make([]byte, ti.Size())
		for j := range b {
			b[j] = byte(i*31 + j*7)
		}
		ts = append(ts, ti)
		data = append(data, b)
	}
	return ts, data
}

func writeFile(t testing.TB, meta *Metadata, ts []TensorInfo, data [][]byte) []byte {
	var buf bytes.Buffer
	w, err := NewWriter(&buf, meta, ts)
	if err != nil {
		t.Fatal(err)
	}
	for i, d := range data {
		if err := w.WriteTensor(ts[i].Name, d); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestRoundTrip(t *testing.T) {
	for _, align := range []uint32{0, 32, 64, 4096} {
		meta := allValues(t)
		if align != 0 {
			meta.Set(KeyAlignment, Uint32(align))
		}
		ts, data := allTensors()
		b := writeFile(t, meta, ts, data)
		f, err := NewReader(bytes.NewReader(b), int64(len(b)), "mem")
		if err != nil {
			t.Fatalf("align %d: %v", align, err)
		}
		if f.Version != 3 {
			t.Errorf("version %d", f.Version)
		}
		if !reflect.DeepEqual(f.Meta.KVs(), meta.KVs()) {
			t.Errorf("align %d: metadata differs:\n got %v\nwant %v", align, f.Meta.KVs(), meta.KVs())
		}
		if len(f.Tensors) != len(ts) {
			t.Fatalf("%d tensors, want %d", len(f.Tensors), len(ts))
		}
		wantAlign := int64(align)
		if align == 0 {
			wantAlign = DefaultAlignment
		}
		if f.DataOffset%wantAlign != 0 || int64(len(b))%wantAlign != 0 {
			t.Errorf("data offset %d / size %d not aligned to %d", f.DataOffset, len(b), wantAlign)
		}
		for i, ti := range f.Tensors {
			if ti.Name != ts[i].Name || ti.Type != ts[i].Type || !reflect.DeepEqual(ti.Dims, ts[i].Dims) {
				t.Errorf("tensor %d: %+v, want %+v", i, ti, ts[i])
			}
			got, err := f.TensorData(i)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, data[i]) {
				t.Errorf("tensor %s: data differs", ti.Name)
			}
		}
		// Writing what was read gives the same bytes.
		if b2 := writeFile(t, f.Meta, f.Tensors, data); !bytes.Equal(b, b2) {
			t.Errorf("align %d: rewrite differs", align)
		}
	}
}

func TestStreamingWrite(t *testing.T) {
	ts, data := allTensors()
	meta := allValues(t)
	want := writeFile(t, meta, ts, data)
	var all []byte
	for _, d := range data {
		all = append(all, d...)
	}
	// Any chunking of the data stream gives the same file.
	for _, chunk := range []int{1, 7, 100, 1 << 20} {
		var buf bytes.Buffer
		w, err := NewWriter(&buf, meta, ts)
		if err != nil {
			t.Fatal(err)
		}
		for p := all; len(p) > 0; {
			k := min(chunk, len(p))
			if _, err := w.Write(p[:k]); err != nil {
				t.Fatal(err)
			}
			p = p[k:]
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(buf.Bytes(), want) {
			t.Errorf("chunk %d: output differs", chunk)
		}
	}
	// Too few or too many bytes are errors.
	w, _ := NewWriter(&bytes.Buffer{}, meta, ts)
	w.Write(all[:len(all)-1])
	if err := w.Close(); err == nil {
		t.Error("Close after a short write: no error")
	}
	w, _ = NewWriter(&bytes.Buffer{}, meta, ts)
	if _, err := w.Write(append(all, 0)); err == nil {
		t.Error("write past the end: no error")
	}
	w, _ = NewWriter(&bytes.Buffer{}, meta, ts)
	if err := w.WriteTensor("nope", data[0]); err == nil {
		t.Error("WriteTensor with the wrong name: no error")
	}
}

func TestWriterRejects(t *testing.T) {
	cases := map[string]TensorInfo{
		"long name":  {Name: strings.Repeat("x", 64), Dims: []uint64{4}, Type: TypeF32},
		"no dims":    {Name: "a", Type: TypeF32},
		"5 dims":     {Name: "a", Dims: []uint64{1, 1, 1, 1, 1}, Type: TypeF32},
		"bad type":   {Name: "a", Dims: []uint64{4}, Type: 4},
		"bad blocks": {Name: "a", Dims: []uint64{33}, Type: TypeQ8_0},
	}
	for name, ti := range cases {
		if _, err := NewWriter(&bytes.Buffer{}, NewMetadata(), []TensorInfo{ti}); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	m := NewMetadata()
	m.Set(KeyAlignment, Uint32(48))
	if _, err := NewWriter(&bytes.Buffer{}, m, nil); err == nil {
		t.Error("alignment 48: no error")
	}
}

// header builds a raw GGUF header for the bad-input tests.
type header struct{ bytes.Buffer }

func (h *header) u32(v uint32) *header { binary.Write(h, binary.LittleEndian, v); return h }
func (h *header) u64(v uint64) *header { binary.Write(h, binary.LittleEndian, v); return h }
func (h *header) str(s string) *header { h.u64(uint64(len(s))); h.WriteString(s); return h }

func start(version uint32, nTensors, nKV uint64) *header {
	h := &header{}
	h.WriteString("GGUF")
	return h.u32(version).u64(nTensors).u64(nKV)
}

func pad(h *header, n int) []byte {
	h.Write(make([]byte, n))
	return h.Bytes()
}

func TestBadInput(t *testing.T) {
	good := writeFile(t, allValues(t), []TensorInfo{{Name: "a", Dims: []uint64{8}, Type: TypeF32}, {Name: "b", Dims: []uint64{8}, Type: TypeF32}}, [][]byte{make([]byte, 32), make([]byte, 32)})
	tensorHeader := func(offA, offB uint64, typ uint32) []byte {
		h := start(3, 2, 0)
		h.str("a").u32(1).u64(8).u32(typ).u64(offA)
		h.str("b").u32(1).u64(8).u32(0).u64(offB)
		for h.Len()%32 != 0 {
			h.WriteByte(0)
		}
		h.Write(make([]byte, 64))
		return h.Bytes()
	}
	cases := []struct {
		name string
		data []byte
		want error
		msg  string
	}{
		{"empty", nil, ErrFormat, "not a GGUF file"},
		{"not gguf", []byte("PK\x03\x04 this is a zip file"), ErrFormat, "magic"},
		{"truncated header", good[:20], ErrFormat, "truncated"},
		{"truncated metadata", good[:200], nil, ""},
		{"truncated data", good[:len(good)-10], ErrFormat, "past the end"},
		{"version 1", start(1, 0, 0).Bytes(), ErrUnsupported, "version 1"},
		{"version 99", start(99, 0, 0).Bytes(), ErrUnsupported, "version 99"},
		{"big endian", func() []byte {
			h := &header{}
			h.WriteString("GGUF")
			binary.Write(h, binary.BigEndian, uint32(3))
			return h.Bytes()
		}(), ErrUnsupported, "big-endian"},
		{"2^62 kvs", start(3, 0, 1<<62).Bytes(), ErrTooLarge, "metadata entries"},
		{"2^62 tensors", start(3, 1<<62, 0).Bytes(), ErrTooLarge, "tensors"},
		{"2^40 string", pad(start(3, 0, 1).u64(1<<40), 64), ErrTooLarge, "string"},
		{"2^40 array", start(3, 0, 1).str("k").u32(uint32(ValueArray)).u32(uint32(ValueUint64)).u64(1 << 40).Bytes(), ErrTooLarge, "array"},
		{"2^62 string array", start(3, 0, 1).str("k").u32(uint32(ValueArray)).u32(uint32(ValueString)).u64(1 << 62).Bytes(), ErrTooLarge, "array"},
		{"unknown value type", start(3, 0, 1).str("k").u32(13).u32(0).Bytes(), ErrUnsupported, "value type 13"},
		{"unknown array type", start(3, 0, 1).str("k").u32(uint32(ValueArray)).u32(77).u64(1).Bytes(), ErrUnsupported, "element type 77"},
		{"bad bool", start(3, 0, 1).str("k").u32(uint32(ValueBool)).u32(2).Bytes(), ErrFormat, "bool"},
		{"duplicate key", start(3, 0, 2).str("k").u32(4).u32(1).str("k").u32(4).u32(2).Bytes(), ErrFormat, "duplicate"},
		{"bad alignment", start(3, 0, 1).str(KeyAlignment).u32(4).u32(48).Bytes(), ErrFormat, "power of two"},
		{"alignment type", start(3, 0, 1).str(KeyAlignment).u32(uint32(ValueUint64)).u64(32).Bytes(), ErrFormat, "UINT32"},
		{"unknown tensor type", tensorHeader(0, 32, 4), ErrUnsupported, "unknown type 4"},
		{"tensor type 99", tensorHeader(0, 32, 99), ErrUnsupported, "unknown type 99"},
		{"misaligned offset", tensorHeader(0, 16, 0), ErrFormat, "multiple of the alignment"},
		{"overlap", tensorHeader(0, 0, 0), ErrFormat, "overlap"},
		{"offset past end", tensorHeader(0, 1<<40, 0), ErrFormat, "past the end"},
		{"offset overflow", tensorHeader(0, math.MaxUint64-31, 0), ErrFormat, ""},
		{"0 dims", pad(start(3, 1, 0).str("a").u32(0), 64), ErrFormat, "dimensions"},
		{"9 dims", pad(start(3, 1, 0).str("a").u32(9), 64), ErrFormat, "dimensions"},
		{"huge dims", start(3, 1, 0).str("a").u32(2).u64(1 << 40).u64(1 << 40).u32(0).u64(0).Bytes(), ErrTooLarge, "dimensions"},
		{"block mismatch", start(3, 1, 0).str("a").u32(1).u64(33).u32(uint32(TypeQ4_K)).u64(0).Bytes(), ErrFormat, "block size"},
		{"long name", start(3, 1, 0).str(strings.Repeat("n", 64)).Bytes(), ErrFormat, "longer"},
		{"duplicate tensor", start(3, 2, 0).str("a").u32(1).u64(8).u32(0).u64(0).str("a").u32(1).u64(8).u32(0).u64(32).Bytes(), ErrFormat, "duplicate tensor"},
	}
	for _, c := range cases {
		_, err := NewReader(bytes.NewReader(c.data), int64(len(c.data)), "bad.gguf")
		if err == nil {
			t.Errorf("%s: no error", c.name)
			continue
		}
		if c.want != nil && !errors.Is(err, c.want) {
			t.Errorf("%s: error %q is not %v", c.name, err, c.want)
		}
		if !strings.Contains(err.Error(), "bad.gguf") || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%s: error %q should name the file and say %q", c.name, err, c.msg)
		}
	}
}

func TestSplit(t *testing.T) {
	dir := t.TempDir()
	meta := allValues(t)
	ts, data := allTensors()
	for _, opt := range []SplitOptions{{MaxTensors: 12}, {MaxBytes: 4000}} {
		path := filepath.Join(dir, "model.gguf")
		fw, err := Create(path, meta, ts, opt)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range data {
			if _, err := fw.Write(d); err != nil {
				t.Fatal(err)
			}
		}
		if err := fw.Close(); err != nil {
			t.Fatal(err)
		}
		paths := fw.Paths()
		if len(paths) < 2 {
			t.Fatalf("%+v: %d shards", opt, len(paths))
		}
		for i, p := range paths {
			if want := SplitPath(filepath.Join(dir, "model"), i, len(paths)); p != want {
				t.Errorf("shard %d: %s, want %s", i, p, want)
			}
		}
		m, err := OpenModel(paths[len(paths)-1])
		if err != nil {
			t.Fatal(err)
		}
		if len(m.Tensors) != len(ts) {
			t.Fatalf("%d tensors, want %d", len(m.Tensors), len(ts))
		}
		for i := range ts {
			j := m.Tensor(ts[i].Name)
			got, err := m.TensorData(j)
			if err != nil || !bytes.Equal(got, data[i]) {
				t.Errorf("tensor %s differs (%v)", ts[i].Name, err)
			}
		}
		if v := m.Meta.GetString("t.str"); v != "héllo\x00wörld" {
			t.Errorf("metadata lost: %q", v)
		}
		if n := m.Files[1].Meta.Len(); n != 3 {
			t.Errorf("second shard has %d keys, want the 3 split keys", n)
		}
		m.Close()
		for _, p := range paths {
			os.Remove(p)
		}
	}
}

func TestCreateAbortLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	ts, data := allTensors()
	fw, err := Create(filepath.Join(dir, "m.gguf"), allValues(t), ts, SplitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	fw.Write(data[0])
	if err := fw.Close(); err == nil {
		t.Error("Close of an incomplete model: no error")
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("left behind: %v", ents)
	}
}

func TestPlanSplits(t *testing.T) {
	ts := make([]TensorInfo, 10)
	for i := range ts {
		ts[i] = TensorInfo{Name: "t", Dims: []uint64{25}, Type: TypeF32} // 100 bytes, 128 padded
	}
	cases := []struct {
		opt  SplitOptions
		want []int
	}{
		{SplitOptions{}, []int{10}},
		{SplitOptions{MaxTensors: 3}, []int{3, 3, 3, 1}},
		{SplitOptions{MaxBytes: 256}, []int{2, 2, 2, 2, 2}},
		{SplitOptions{MaxBytes: 1}, []int{1, 1, 1, 1, 1, 1, 1, 1, 1, 1}},
	}
	for _, c := range cases {
		if got := PlanSplits(ts, c.opt); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%+v: %v, want %v", c.opt, got, c.want)
		}
	}
}

func TestParseSplitPath(t *testing.T) {
	p, no, n, ok := ParseSplitPath("/x/Model-Q4_K_M-00002-of-00003.gguf")
	if !ok || p != "/x/Model-Q4_K_M" || no != 1 || n != 3 {
		t.Errorf("got %q %d %d %v", p, no, n, ok)
	}
	for _, bad := range []string{"m.gguf", "m-00000-of-00003.gguf", "m-00004-of-00003.gguf"} {
		if _, _, _, ok := ParseSplitPath(bad); ok {
			t.Errorf("%s parsed", bad)
		}
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"2G": 2e9, "500M": 5e8, "6g": 6e9, "4096": 4096, "4096K": 4096e3, " 1T ": 1e12} {
		if got, err := ParseSize(in); err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "G", "-1G", "2.5G", "x", "0", "10000000T"} {
		if _, err := ParseSize(in); err == nil {
			t.Errorf("ParseSize(%q): no error", in)
		}
	}
}

func TestTypeTable(t *testing.T) {
	// Sizes from ggml-common.h; bits per weight of a few well-known types as a cross-check.
	bpw := map[Type]float64{TypeQ4_0: 4.5, TypeQ8_0: 8.5, TypeQ4_K: 4.5, TypeQ6_K: 6.5625, TypeIQ4_XS: 4.25, TypeIQ2_XXS: 2.0625, TypeF16: 16, TypeTQ1_0: 1.6875}
	for typ, want := range bpw {
		if got := float64(typ.TypeSize()*8) / float64(typ.BlockSize()); got != want {
			t.Errorf("%s: %g bpw, want %g", typ, got, want)
		}
	}
	for _, typ := range Types() {
		p, err := ParseType(strings.ToUpper(typ.String()))
		if err != nil || p != typ {
			t.Errorf("ParseType(%s) = %v, %v", typ, p, err)
		}
	}
	if Type(4).Valid() || Type(31).Valid() || TypeCount.Valid() {
		t.Error("removed types are valid")
	}
}
