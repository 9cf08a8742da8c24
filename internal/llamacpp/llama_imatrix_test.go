//go:build llamacpp

package llamacpp

import (
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ggufy/ggufy/gguf"
)

const imatrixDat = "testdata/stories260k.imatrix.dat"

// imatrixKinds are the weights testdata/stories260k.imatrix.dat covers, per layer, in its order.
var imatrixKinds = []struct {
	name string
	ne0  int
}{{"attn_q", 64}, {"attn_k", 64}, {"attn_v", 64}, {"attn_output", 64}, {"ffn_gate", 64}, {"ffn_up", 64}, {"ffn_down", 172}}

// imatrixSum is the raw sum the synthetic file stores for column i (see testdata/README.md).
func imatrixSum(layer, kind, i int) float32 {
	return float32(10 * (0.5 + float64((i*37+layer*11+kind*5)%97)/48))
}

func TestParseFType(t *testing.T) {
	for _, tc := range []struct {
		in   string
		name string
		ft   gguf.FileType
	}{
		{"Q4_K_M", "Q4_K_M", gguf.FileTypeMostlyQ4_K_M},
		{"q4_k", "Q4_K", gguf.FileTypeMostlyQ4_K_M},
		{"15", "Q4_K", gguf.FileTypeMostlyQ4_K_M}, // the first table entry with that number
		{"q8_0", "Q8_0", gguf.FileTypeMostlyQ8_0},
		{"iq4_xs", "IQ4_XS", gguf.FileTypeMostlyIQ4_XS},
		{"0", "F32", gguf.FileTypeAllF32},
		{"copy", "COPY", gguf.FileTypeAllF32},
		{"12", "Q3_K", gguf.FileTypeMostlyQ3_K_M},
	} {
		name, ft, err := ParseFType(tc.in)
		if err != nil || name != tc.name || ft != tc.ft {
			t.Errorf("ParseFType(%q) = %q, %d, %v; want %q, %d", tc.in, name, ft, err, tc.name, tc.ft)
		}
	}
	for _, bad := range []string{"", "Q4_K_X", "5", "-1", "99"} {
		if _, _, err := ParseFType(bad); err == nil {
			t.Errorf("ParseFType(%q) succeeded", bad)
		}
	}
}

func TestLoadImatrixLegacy(t *testing.T) {
	d, err := LoadImatrix(imatrixDat)
	if err != nil {
		t.Fatal(err)
	}
	if !d.Legacy || d.ChunkCount != 10 || !slices.Equal(d.Datasets, []string{"ggufy-synthetic.txt"}) || len(d.Entries) != 35 {
		t.Fatalf("legacy %v, chunks %d, datasets %q, %d entries", d.Legacy, d.ChunkCount, d.Datasets, len(d.Entries))
	}
	for l := range 5 {
		for k, kind := range imatrixKinds {
			name := "blk." + itoa(l) + "." + kind.name + ".weight"
			e := d.Entries[name]
			if len(e) != kind.ne0 {
				t.Fatalf("%s: %d values, want %d", name, len(e), kind.ne0)
			}
			for i, v := range e {
				if want := imatrixSum(l, k, i) / 10; v != want { // sums / ncall, in float
					t.Fatalf("%s[%d] = %g, want %g", name, i, v, want)
				}
			}
		}
	}
}

func itoa(i int) string { return string(rune('0' + i)) }

// writeImatrixGGUF writes the synthetic imatrix in the GGUF format llama-imatrix writes
// (NAME.in_sum2 and NAME.counts, F32), plus one two-expert entry whose second expert saw nothing.
func writeImatrixGGUF(t *testing.T, path string, meta *gguf.Metadata) {
	t.Helper()
	var tensors []gguf.TensorInfo
	var data [][]float32
	add := func(name string, sums []float32, counts []float32, dims []uint64) {
		tensors = append(tensors, gguf.TensorInfo{Name: name + ".in_sum2", Dims: dims, Type: gguf.TypeF32},
			gguf.TensorInfo{Name: name + ".counts", Dims: []uint64{uint64(len(counts))}, Type: gguf.TypeF32})
		data = append(data, sums, counts)
	}
	for l := range 5 {
		for k, kind := range imatrixKinds {
			sums := make([]float32, kind.ne0)
			for i := range sums {
				sums[i] = imatrixSum(l, k, i)
			}
			add("blk."+itoa(l)+"."+kind.name+".weight", sums, []float32{10.4}, []uint64{uint64(kind.ne0)}) // lround -> 10
		}
	}
	add("blk.0.ffn_down_exps.weight", []float32{1, 2, 3, 4, 5, 6, 7, 8}, []float32{2, 0}, []uint64{4, 2})
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w, err := gguf.NewWriter(f, meta, tensors)
	if err != nil {
		t.Fatal(err)
	}
	for i, ti := range tensors {
		b := make([]byte, 4*len(data[i]))
		for j, v := range data[i] {
			binary.LittleEndian.PutUint32(b[4*j:], math.Float32bits(v))
		}
		if err := w.WriteTensor(ti.Name, b); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

func imatrixMeta(datasets []string, chunkCount, chunkSize gguf.Value) *gguf.Metadata {
	m := gguf.NewMetadata()
	m.Set("general.type", gguf.String("imatrix"))
	if datasets != nil {
		m.Set("imatrix.datasets", gguf.Strings(datasets))
	}
	if chunkCount.Valid() {
		m.Set("imatrix.chunk_count", chunkCount)
	}
	if chunkSize.Valid() {
		m.Set("imatrix.chunk_size", chunkSize)
	}
	return m
}

func TestLoadImatrixGGUF(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "imatrix.gguf")
	writeImatrixGGUF(t, path, imatrixMeta([]string{"calib.txt", "more.txt"}, gguf.Uint32(7), gguf.Uint32(512)))
	d, err := LoadImatrix(path)
	if err != nil {
		t.Fatal(err)
	}
	if d.Legacy || d.ChunkCount != 7 || d.ChunkSize != 512 || !slices.Equal(d.Datasets, []string{"calib.txt", "more.txt"}) {
		t.Errorf("legacy %v, chunks %d of %d, datasets %q", d.Legacy, d.ChunkCount, d.ChunkSize, d.Datasets)
	}
	legacy, err := LoadImatrix(imatrixDat)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range legacy.Entries {
		if !slices.Equal(d.Entries[name], want) {
			t.Errorf("%s: GGUF and legacy files normalise differently", name)
		}
	}
	// per-expert counts: expert 1 saw nothing, so its slice is all ones
	if got := d.Entries["blk.0.ffn_down_exps.weight"]; !slices.Equal(got, []float32{0.5, 1, 1.5, 2, 1, 1, 1, 1}) {
		t.Errorf("expert entry normalised to %v", got)
	}

	// quantizing with it gives the tensors of the legacy run (checked against llama-quantize in
	// TestModelQuantize), and llama-quantize's metadata for this file
	out := filepath.Join(dir, "q4km.gguf")
	if err := ModelQuantize(stories260k, out, QuantizeOptions{FType: "Q4_K_M", Threads: testThreads, ImatrixFile: path}); err != nil {
		t.Fatal(err)
	}
	ref := filepath.Join(dir, "ref.gguf")
	if err := ModelQuantize(stories260k, ref, QuantizeOptions{FType: "Q4_K_M", Threads: testThreads, ImatrixFile: imatrixDat}); err != nil {
		t.Fatal(err)
	}
	a, err := gguf.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := gguf.Open(ref)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	sameTensorData(t, a, b)
	if s := a.Meta.GetString("quantize.imatrix.file"); s != path {
		t.Errorf("quantize.imatrix.file %q, want %q", s, path)
	}
	if s := a.Meta.GetString("quantize.imatrix.dataset"); s != "calib.txt" {
		t.Errorf("quantize.imatrix.dataset %q, want the first dataset", s)
	}
	if n := a.Meta.GetInt("quantize.imatrix.entries_count", -1); n != 36 {
		t.Errorf("entries_count %d, want 36", n)
	}
	if n := a.Meta.GetInt("quantize.imatrix.chunks_count", -1); n != 7 {
		t.Errorf("chunks_count %d, want 7", n)
	}

	// --exclude-weights drops entries before they reach llama.cpp (and from entries_count)
	if err := ModelQuantize(stories260k, out, QuantizeOptions{FType: "Q4_K_M", Threads: testThreads, ImatrixFile: path,
		ExcludeWeights: []string{"ffn_", "attn_q"}}); err != nil {
		t.Fatal(err)
	}
	c, err := gguf.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if n := c.Meta.GetInt("quantize.imatrix.entries_count", -1); n != 15 {
		t.Errorf("entries_count after excluding ffn_ and attn_q: %d, want 15", n)
	}

	// a damaged GGUF is reported as such, not reparsed as a legacy file
	p := filepath.Join(dir, "damaged.gguf")
	if err := os.WriteFile(p, []byte("GGUF\x03\x00\x00\x00\xff"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadImatrix(p); err == nil || !strings.Contains(err.Error(), "gguf") {
		t.Errorf("damaged GGUF imatrix: %v", err)
	}
	for name, meta := range map[string]*gguf.Metadata{
		"no datasets":        imatrixMeta(nil, gguf.Uint32(1), gguf.Uint32(1)),
		"no chunk size":      imatrixMeta([]string{"x"}, gguf.Uint32(1), gguf.Value{}),
		"int32 chunk count":  imatrixMeta([]string{"x"}, gguf.Int32(1), gguf.Uint32(1)),
		"string chunk count": imatrixMeta([]string{"x"}, gguf.String("1"), gguf.Uint32(1)),
	} {
		p := filepath.Join(dir, "bad.gguf")
		writeImatrixGGUF(t, p, meta)
		if _, err := LoadImatrix(p); err == nil {
			t.Errorf("%s: loaded", name)
		}
	}
}

func TestFilterImatrix(t *testing.T) {
	e := map[string][]float32{"blk.0.attn_q.weight": {1}, "blk.0.ffn_up.weight": {2}, "blk.1.attn_k.weight": {3}}
	keys := func(m map[string][]float32) []string {
		var k []string
		for n := range m {
			k = append(k, n)
		}
		slices.Sort(k)
		return k
	}
	if got := keys(filterImatrix(e, []string{"attn", "blk.1"}, nil)); !slices.Equal(got, []string{"blk.0.attn_q.weight", "blk.1.attn_k.weight"}) {
		t.Errorf("include: %v", got)
	}
	if got := keys(filterImatrix(e, nil, []string{"blk.0"})); !slices.Equal(got, []string{"blk.1.attn_k.weight"}) {
		t.Errorf("exclude: %v", got)
	}
	if got := filterImatrix(e, nil, nil); len(got) != 3 {
		t.Errorf("no filter: %d entries", len(got))
	}
}

func legacyBytes(entries []struct {
	name  string
	ncall int32
	sums  []float32
}, trailer []byte) []byte {
	b := binary.LittleEndian.AppendUint32(nil, uint32(len(entries)))
	for _, e := range entries {
		b = binary.LittleEndian.AppendUint32(b, uint32(len(e.name)))
		b = append(b, e.name...)
		b = binary.LittleEndian.AppendUint32(b, uint32(e.ncall))
		b = binary.LittleEndian.AppendUint32(b, uint32(len(e.sums)))
		for _, v := range e.sums {
			b = binary.LittleEndian.AppendUint32(b, math.Float32bits(v))
		}
	}
	return append(b, trailer...)
}

func TestParseLegacyImatrix(t *testing.T) {
	type ent = struct {
		name  string
		ncall int32
		sums  []float32
	}
	// no trailer; ncall 0 keeps the sums; a NUL ends the name as the C string does
	d, err := ParseLegacyImatrix(legacyBytes([]ent{{"a\x00junk", 0, []float32{3, 6}}, {"b", 3, []float32{3, 6}}}, nil))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(d.Entries["a"], []float32{3, 6}) || !slices.Equal(d.Entries["b"], []float32{1, 2}) || d.ChunkCount != 0 || d.Datasets != nil {
		t.Errorf("parsed %+v", d)
	}
	// a short trailer: the chunk count is what the bytes there give, no dataset
	d, err = ParseLegacyImatrix(legacyBytes([]ent{{"a", 1, []float32{1}}}, []byte{5, 0}))
	if err != nil || d.ChunkCount != 5 || d.Datasets != nil {
		t.Errorf("short trailer: %+v, %v", d, err)
	}
	// a dataset name longer than the bytes left is dropped
	tr := binary.LittleEndian.AppendUint32(binary.LittleEndian.AppendUint32(nil, 4), 10)
	d, err = ParseLegacyImatrix(legacyBytes([]ent{{"a", 1, []float32{1}}}, append(tr, "abc"...)))
	if err != nil || d.ChunkCount != 4 || d.Datasets != nil {
		t.Errorf("truncated dataset: %+v, %v", d, err)
	}
	for name, b := range map[string][]byte{
		"empty":       nil,
		"zero":        {0, 0, 0, 0},
		"negative":    {0xff, 0xff, 0xff, 0xff},
		"no values":   legacyBytes([]ent{{"a", 1, nil}}, nil),
		"short data":  legacyBytes([]ent{{"a", 1, []float32{1, 2}}}, nil)[:20],
		"long name":   {1, 0, 0, 0, 0xff, 0xff, 0, 0, 'a'},
		"missing one": legacyBytes([]ent{{"a", 1, []float32{1}}}, nil)[:4+4+1+8+4-1],
	} {
		if _, err := ParseLegacyImatrix(b); err == nil {
			t.Errorf("%s: parsed", name)
		}
	}
}

func FuzzParseLegacyImatrix(f *testing.F) {
	b, err := os.ReadFile(imatrixDat)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add(b[:len(b)/2])
	f.Add([]byte{1, 0, 0, 0, 1, 0, 0, 0, 'x', 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0x80, 0x3f})
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := ParseLegacyImatrix(data)
		if err != nil {
			return
		}
		total := 0
		for _, e := range d.Entries {
			if len(e) == 0 {
				t.Fatal("an entry without values")
			}
			total += 4 * len(e)
		}
		if total > len(data) {
			t.Fatalf("%d bytes of values from %d bytes of input", total, len(data))
		}
	})
}
