package archmap

import (
	"slices"
	"testing"
)

// TestPermuteOuterChunks reads permuted tensors in chunks of every alignment (whole heads,
// partial heads, single rows, the whole tensor) and requires out[i] = in[perm(i)], both where
// the source rows are read as one window and where they are read row by row.
func TestPermuteOuterChunks(t *testing.T) {
	for _, c := range []struct {
		name  string
		shape []int64
		perm  func(rows int) func(int) int
	}{
		{"llama q, 4 heads", []int64{32, 5}, func(rows int) func(int) int { return llamaPermute(rows, 4) }},
		{"llama k, 1 head", []int64{12, 3}, func(rows int) func(int) int { return llamaPermute(rows, 1) }},
		{"3-D outer", []int64{8, 3, 4}, func(rows int) func(int) int { return llamaPermute(rows, 2) }},
		{"reverse", []int64{40, 2}, func(rows int) func(int) int { return func(i int) int { return rows - 1 - i } }},
		{"stride 7 (row by row)", []int64{40, 2}, func(rows int) func(int) int { return func(i int) int { return i * 7 % rows } }},
	} {
		n := int64(1)
		for _, d := range c.shape {
			n *= d
		}
		vals := make([]float32, n)
		for i := range vals {
			vals[i] = float32(i)
		}
		src := Generated("w", c.shape, vals)
		perm := c.perm(int(c.shape[0]))
		pt := src.PermuteOuter(perm)
		rows, rowLen := pt.NumRows(), pt.RowLen()
		per := rows / int(c.shape[0])
		want := make([]float32, 0, n)
		for r := range rows {
			s := perm(r/per)*per + r%per
			want = append(want, vals[s*rowLen:(s+1)*rowLen]...)
		}
		for chunk := 1; chunk <= rows; chunk++ {
			got := make([]float32, 0, n)
			for r0 := 0; r0 < rows; r0 += chunk {
				k := min(chunk, rows-r0)
				buf := make([]float32, k*rowLen)
				if err := pt.ReadRows(buf, r0, k); err != nil {
					t.Fatal(err)
				}
				got = append(got, buf...)
			}
			if !slices.Equal(got, want) {
				t.Fatalf("%s, chunks of %d rows: permuted rows differ", c.name, chunk)
			}
		}
	}
}
