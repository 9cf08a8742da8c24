package gguf

import (
	"bytes"
	"os"
	"reflect"
	"testing"
)

// FuzzReader parses arbitrary bytes. Whatever parses must re-serialize to a file that parses to
// the same metadata and tensors, with the same tensor bytes.
func FuzzReader(f *testing.F) {
	ts, data := allTensors()
	f.Add(writeFile(f, allValues(f), ts[:4], data[:4]))
	f.Add(writeFile(f, NewMetadata(), nil, nil))
	if b, err := os.ReadFile("../testdata/ref/stories260k.f32.gguf"); err == nil {
		f.Add(b[:20000]) // header and the first tensors: the rest is out of bounds
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		g, err := NewReader(bytes.NewReader(b), int64(len(b)), "fuzz")
		if err != nil {
			return
		}
		var datas [][]byte
		for i := range g.Tensors {
			d, err := g.TensorData(i)
			if err != nil {
				t.Fatalf("tensor %d of a parsed file unreadable: %v", i, err)
			}
			datas = append(datas, d)
		}
		var buf bytes.Buffer
		w, err := NewWriter(&buf, g.Meta, g.Tensors)
		if err != nil {
			t.Fatalf("parsed file does not re-serialize: %v", err)
		}
		for i, d := range datas {
			if err := w.WriteTensor(g.Tensors[i].Name, d); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		g2, err := NewReader(bytes.NewReader(buf.Bytes()), int64(buf.Len()), "rewritten")
		if err != nil {
			t.Fatalf("rewritten file does not parse: %v", err)
		}
		if len(g.Meta.KVs()) != len(g2.Meta.KVs()) {
			t.Fatal("metadata changed in the round trip")
		}
		// Serializing the re-read file gives the same bytes (NaN-safe, unlike DeepEqual).
		if b2 := writeFile(t, g2.Meta, g2.Tensors, datas); !bytes.Equal(b2, buf.Bytes()) {
			t.Fatal("second round trip changed the file")
		}
		for i := range g.Tensors {
			a, b := g.Tensors[i], g2.Tensors[i]
			if a.Name != b.Name || a.Type != b.Type || !reflect.DeepEqual(a.Dims, b.Dims) {
				t.Fatalf("tensor %d changed: %+v -> %+v", i, a, b)
			}
			d, _ := g2.TensorData(i)
			if !bytes.Equal(d, datas[i]) {
				t.Fatalf("tensor %s data changed", a.Name)
			}
		}
	})
}
