package safetensors

import (
	"slices"
	"testing"
)

// TestReleaseAfterRead reads every tensor of a sharded checkpoint in unaligned pieces, twice,
// with the pages released after each piece, and requires the values of a plain read.
func TestReleaseAfterRead(t *testing.T) {
	const dir = "../testdata/models/tiny-trained"
	plain, err := OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	streamed, err := OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer streamed.Close()
	streamed.ReleaseAfterRead()
	for _, pt := range plain.Tensors {
		want := make([]float32, pt.NumElements())
		if err := pt.Floats(want, 0); err != nil {
			t.Fatal(err)
		}
		st := streamed.Tensor(pt.Name)
		for pass := range 2 {
			got := make([]float32, len(want))
			for off := 0; off < len(got); off += 999 {
				if err := st.Floats(got[off:min(len(got), off+999)], int64(off)); err != nil {
					t.Fatal(err)
				}
			}
			if !slices.Equal(got, want) {
				t.Fatalf("%s, pass %d: values differ after releasing pages", pt.Name, pass)
			}
		}
	}
}
