package quantize

// Importance matrix files as llama.cpp reads and writes them: the GGUF format of llama-imatrix
// (tensors "<name>.in_sum2" and "<name>.counts") and the legacy .dat format, normalized the way
// llama-quantize does (tools/quantize/quantize.cpp load_imatrix, common/imatrix-loader.cpp;
// llama.cpp, MIT license).

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"strings"

	"github.com/ggufy/ggufy/gguf"
)

// Keys of the GGUF imatrix format.
const (
	KeyImatrixDatasets   = "imatrix.datasets"
	KeyImatrixChunkCount = "imatrix.chunk_count"
	KeyImatrixChunkSize  = "imatrix.chunk_size"
)

// ImatrixEntry is the raw data of one tensor: per-column sums of squared activations for each
// expert (len = ne0 * experts) and the number of activations counted per expert.
type ImatrixEntry struct {
	Sums   []float32
	Counts []int64
}

// Imatrix is an importance matrix file.
type Imatrix struct {
	Entries     map[string]ImatrixEntry
	Datasets    []string
	ChunkCount  int
	ChunkSize   int
	Legacy      bool
	HasMetadata bool
}

// Weights returns the per-tensor importance weights llama-quantize uses: sums divided by each
// expert's count (1 where an expert saw no tokens); for legacy files, sums divided by ncall.
func (m *Imatrix) Weights() map[string][]float32 {
	out := make(map[string][]float32, len(m.Entries))
	for name, e := range m.Entries {
		w := make([]float32, len(e.Sums))
		if !m.Legacy {
			nc := len(e.Counts)
			if nc == 0 {
				continue
			}
			ne0 := len(e.Sums) / nc
			for j := 0; j < nc; j++ {
				c := float32(e.Counts[j])
				for i := 0; i < ne0; i++ {
					if c > 0 {
						w[j*ne0+i] = e.Sums[j*ne0+i] / c
					} else {
						w[j*ne0+i] = 1
					}
				}
			}
		} else {
			var ncall int64
			if len(e.Counts) > 0 {
				ncall = e.Counts[0]
			}
			for i, s := range e.Sums {
				if ncall > 0 {
					w[i] = s / float32(ncall)
				} else {
					w[i] = s
				}
			}
		}
		out[name] = w
	}
	return out
}

// ReadImatrix reads an importance matrix file in either format.
func ReadImatrix(path string) (*Imatrix, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("imatrix: %w", err)
	}
	if len(b) >= 4 && string(b[:4]) == gguf.Magic {
		return parseImatrixGGUF(b, path)
	}
	return parseImatrixLegacy(b, path)
}

func parseImatrixGGUF(b []byte, path string) (*Imatrix, error) {
	f, err := gguf.NewReader(bytes.NewReader(b), int64(len(b)), path)
	if err != nil {
		return nil, fmt.Errorf("imatrix: %w", err)
	}
	if len(f.Tensors) == 0 {
		return nil, fmt.Errorf("imatrix: %s: no data", path)
	}
	m := &Imatrix{Entries: map[string]ImatrixEntry{}}
	_, hasDS := f.Meta.Get(KeyImatrixDatasets)
	_, hasCC := f.Meta.Get(KeyImatrixChunkCount)
	_, hasCS := f.Meta.Get(KeyImatrixChunkSize)
	m.HasMetadata = hasDS && hasCC && hasCS
	if v, ok := f.Meta.Get(KeyImatrixDatasets); ok {
		if a, ok := v.Array(); ok {
			if s, ok := a.Values.([]string); ok {
				m.Datasets = s
			}
		}
	}
	m.ChunkCount = int(f.Meta.GetInt(KeyImatrixChunkCount, 0))
	m.ChunkSize = int(f.Meta.GetInt(KeyImatrixChunkSize, 0))
	type pair struct{ sums, counts int }
	pairs := map[string]*pair{}
	for i, t := range f.Tensors {
		var name string
		var isSum bool
		switch {
		case strings.HasSuffix(t.Name, ".in_sum2"):
			name, isSum = strings.TrimSuffix(t.Name, ".in_sum2"), true
		case strings.HasSuffix(t.Name, ".counts"):
			name = strings.TrimSuffix(t.Name, ".counts")
		default:
			continue
		}
		p := pairs[name]
		if p == nil {
			p = &pair{-1, -1}
			pairs[name] = p
		}
		if isSum {
			p.sums = i
		} else {
			p.counts = i
		}
	}
	for name, p := range pairs {
		if p.sums < 0 || p.counts < 0 {
			return nil, fmt.Errorf("imatrix: %s: mismatched sums and counts for %s", path, name)
		}
		st, ct := f.Tensors[p.sums], f.Tensors[p.counts]
		if st.Type != gguf.TypeF32 || ct.Type != gguf.TypeF32 {
			return nil, fmt.Errorf("imatrix: %s: sums and counts for %s must be F32", path, name)
		}
		sd, _ := f.TensorData(p.sums)
		cd, _ := f.TensorData(p.counts)
		e := ImatrixEntry{Sums: make([]float32, len(sd)/4), Counts: make([]int64, len(cd)/4)}
		for i := range e.Sums {
			e.Sums[i] = math.Float32frombits(binary.LittleEndian.Uint32(sd[4*i:]))
		}
		for i := range e.Counts {
			e.Counts[i] = int64(math.Round(float64(math.Float32frombits(binary.LittleEndian.Uint32(cd[4*i:])))))
		}
		if len(e.Counts) == 0 || len(e.Sums)%len(e.Counts) != 0 {
			return nil, fmt.Errorf("imatrix: %s: %s has %d sums for %d counts", path, name, len(e.Sums), len(e.Counts))
		}
		m.Entries[name] = e
	}
	if !m.HasMetadata {
		return nil, fmt.Errorf("imatrix: %s: missing imatrix metadata (%s, %s, %s)", path, KeyImatrixDatasets, KeyImatrixChunkCount, KeyImatrixChunkSize)
	}
	return m, nil
}

func parseImatrixLegacy(b []byte, path string) (*Imatrix, error) {
	r := bytes.NewReader(b)
	bad := func(format string, args ...any) error {
		return fmt.Errorf("imatrix: %s: not a GGUF or legacy imatrix file: %s", path, fmt.Sprintf(format, args...))
	}
	var n int32
	if err := binary.Read(r, binary.LittleEndian, &n); err != nil || n < 1 {
		return nil, bad("no data")
	}
	m := &Imatrix{Entries: map[string]ImatrixEntry{}, Legacy: true}
	for i := int32(0); i < n; i++ {
		var l int32
		if err := binary.Read(r, binary.LittleEndian, &l); err != nil || l < 0 || int64(l) > int64(r.Len()) {
			return nil, bad("entry %d: name", i+1)
		}
		name := make([]byte, l)
		io.ReadFull(r, name)
		var ncall, nval int32
		if binary.Read(r, binary.LittleEndian, &ncall) != nil || binary.Read(r, binary.LittleEndian, &nval) != nil || nval < 1 || int64(nval)*4 > int64(r.Len()) {
			return nil, bad("entry %d: number of values", i+1)
		}
		e := ImatrixEntry{Sums: make([]float32, nval), Counts: []int64{int64(ncall)}}
		if err := binary.Read(r, binary.LittleEndian, e.Sums); err != nil {
			return nil, bad("entry %d: data", i+1)
		}
		m.Entries[string(bytes.TrimRight(name, "\x00"))] = e
	}
	if r.Len() > 0 {
		var calls int32
		if binary.Read(r, binary.LittleEndian, &calls) == nil {
			m.ChunkCount = int(calls)
			var l int32
			if binary.Read(r, binary.LittleEndian, &l) == nil && l > 0 && int64(l) <= int64(r.Len()) {
				ds := make([]byte, l)
				if _, err := io.ReadFull(r, ds); err == nil {
					m.Datasets = append(m.Datasets, string(bytes.TrimRight(ds, "\x00")))
				}
			}
		}
	}
	return m, nil
}

// WriteImatrix writes m in llama-imatrix's GGUF format (tensors sorted by name).
func WriteImatrix(w io.Writer, m *Imatrix) error {
	meta := gguf.NewMetadata()
	meta.Set("general.type", gguf.String("imatrix"))
	ds := m.Datasets
	if ds == nil {
		ds = []string{}
	}
	meta.Set(KeyImatrixDatasets, gguf.Strings(ds))
	meta.Set(KeyImatrixChunkCount, gguf.Uint32(uint32(m.ChunkCount)))
	meta.Set(KeyImatrixChunkSize, gguf.Uint32(uint32(m.ChunkSize)))
	names := make([]string, 0, len(m.Entries))
	for n := range m.Entries {
		names = append(names, n)
	}
	sort.Strings(names)
	var infos []gguf.TensorInfo
	var datas [][]byte
	for _, n := range names {
		e := m.Entries[n]
		nmat := len(e.Counts)
		if len(e.Sums) == 0 || nmat == 0 {
			continue
		}
		if len(e.Sums)%nmat != 0 {
			return fmt.Errorf("imatrix: %s: %d sums for %d matrices", n, len(e.Sums), nmat)
		}
		infos = append(infos,
			gguf.TensorInfo{Name: n + ".in_sum2", Dims: []uint64{uint64(len(e.Sums) / nmat), uint64(nmat)}, Type: gguf.TypeF32},
			gguf.TensorInfo{Name: n + ".counts", Dims: []uint64{1, uint64(nmat)}, Type: gguf.TypeF32})
		sb := make([]byte, 4*len(e.Sums))
		for i, v := range e.Sums {
			binary.LittleEndian.PutUint32(sb[4*i:], math.Float32bits(v))
		}
		cb := make([]byte, 4*nmat)
		for i, c := range e.Counts {
			binary.LittleEndian.PutUint32(cb[4*i:], math.Float32bits(float32(c)))
		}
		datas = append(datas, sb, cb)
	}
	if len(infos) == 0 {
		return errors.New("imatrix: no entries to write")
	}
	gw, err := gguf.NewWriter(w, meta, infos)
	if err != nil {
		return err
	}
	for i, d := range datas {
		if err := gw.WriteTensor(infos[i].Name, d); err != nil {
			return err
		}
	}
	return gw.Close()
}
