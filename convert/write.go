// Package convert runs conversions: it takes a plan (metadata and output tensors that produce
// their rows on demand), encodes every tensor to its output type in parallel, and streams the
// result into GGUF files in order, with bounded memory. Several outputs (quantization variants)
// can be written in one pass, each source row being read once.
package convert

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"sync"

	"github.com/ggufy/ggufy/gguf"
	"github.com/ggufy/ggufy/quantize"
	"golang.org/x/sync/errgroup"
)

// Source is one tensor to write: its GGUF info (name, dims in ggml order, output type) and
// how to get its data: Rows produces float32 rows (a row is Dims[0] values) to encode, or,
// when the output type is the stored type, RawRows returns the stored bytes of rows.
type Source struct {
	Info gguf.TensorInfo
	// Rows writes rows [r0, r0+n) into dst.
	Rows func(dst []float32, r0, n int) error
	// RawRows, when set, returns the bytes of rows [r0, r0+n) already in Info.Type.
	RawRows func(r0, n int) ([]byte, error)
	// Imatrix, when set, holds the importance weights for quantization: Dims[0] values, or
	// Dims[0] per expert for 3-D tensors, each expert covering RowsPerImatrix rows.
	Imatrix        []float32
	RowsPerImatrix int
}

func (s *Source) rowLen() int { return int(s.Info.Dims[0]) }

func (s *Source) numRows() int {
	n := 1
	for _, d := range s.Info.Dims[1:] {
		n *= int(d)
	}
	return n
}

// Options controls writing.
type Options struct {
	Threads int               // encoding goroutines (default: GOMAXPROCS)
	Split   gguf.SplitOptions // shard limits
	// Progress, if set, is called after each chunk with the bytes written so far (all outputs).
	Progress func(done, total int64)
}

// Output is one file (or set of shards) to write: its path, metadata and sources.
type Output struct {
	Path    string
	Meta    *gguf.Metadata
	Sources []*Source
	Split   gguf.SplitOptions
}

// chunkValues bounds the float32 values one job handles (4 MiB of input). With 2*threads jobs
// in flight, each holding its input and every output's bytes, it sets the peak memory: about
// 14 MiB per thread for three variants, so a 16-thread run stays well under 1 GB. Larger chunks
// bought no speed (a chunk is already hundreds of rows).
const chunkValues = 1 << 20

type job struct {
	t     int // tensor index (same in every output)
	r0, n int
	out   [][]byte // per output
	err   error
	done  chan struct{}
}

// Write encodes every source and writes the model to path (or to shards), atomically: on any
// error or cancellation no output file is left behind. It returns the paths written.
func Write(ctx context.Context, path string, meta *gguf.Metadata, srcs []*Source, opts Options) ([]string, error) {
	paths, err := WriteOutputs(ctx, []Output{{Path: path, Meta: meta, Sources: srcs, Split: opts.Split}}, opts)
	if err != nil {
		return nil, err
	}
	return paths[0], nil
}

// WriteOutputs writes several outputs of the same tensors (in the same order) in one pass:
// each chunk of source rows is produced once and encoded for every output. Memory is bounded by
// the chunks in flight, whatever the model size and the number of outputs. Files appear only
// when every output is complete.
func WriteOutputs(ctx context.Context, outs []Output, opts Options) ([][]string, error) {
	if len(outs) == 0 {
		return nil, nil
	}
	n := len(outs[0].Sources)
	for _, o := range outs[1:] {
		if len(o.Sources) != n {
			return nil, fmt.Errorf("convert: outputs have %d and %d tensors", n, len(o.Sources))
		}
		for i, s := range o.Sources {
			if s.Info.Name != outs[0].Sources[i].Info.Name {
				return nil, fmt.Errorf("convert: outputs differ at tensor %d (%s, %s)", i, outs[0].Sources[i].Info.Name, s.Info.Name)
			}
		}
	}
	var total int64
	writers := make([]*gguf.FileWriter, len(outs))
	abort := func() {
		for _, w := range writers {
			if w != nil {
				w.Abort()
			}
		}
	}
	for k, o := range outs {
		infos := make([]gguf.TensorInfo, n)
		for i, s := range o.Sources {
			infos[i] = s.Info
			total += s.Info.Size()
		}
		w, err := gguf.Create(o.Path, o.Meta, infos, o.Split)
		if err != nil {
			abort()
			return nil, err
		}
		writers[k] = w
	}
	ws := make([]io.Writer, len(writers))
	for i, w := range writers {
		ws[i] = w
	}
	if err := stream(ctx, ws, outs, opts, total); err != nil {
		abort()
		return nil, err
	}
	var paths [][]string
	for _, w := range writers {
		if err := w.Close(); err != nil {
			abort()
			return nil, err
		}
		paths = append(paths, w.Paths())
	}
	return paths, nil
}

// stream encodes the sources in parallel and writes the results to each output in order.
func stream(ctx context.Context, ws []io.Writer, outs []Output, opts Options, total int64) error {
	threads := opts.Threads
	if threads <= 0 {
		threads = runtime.GOMAXPROCS(0)
	}
	g, ctx := errgroup.WithContext(ctx)
	jobs := make(chan *job)
	// At most 2*threads chunks are in flight: that bounds memory whatever the model size.
	inflight := make(chan *job, 2*threads)
	g.Go(func() error {
		defer close(jobs)
		defer close(inflight)
		for t, s := range outs[0].Sources {
			rows := s.numRows()
			per := max(1, chunkValues/max(1, s.rowLen()))
			for r0 := 0; r0 < rows; r0 += per {
				j := &job{t: t, r0: r0, n: min(per, rows-r0), done: make(chan struct{})}
				select {
				case inflight <- j:
				case <-ctx.Done():
					return ctx.Err()
				}
				select {
				case jobs <- j:
				case <-ctx.Done():
					return ctx.Err()
				}
			}
		}
		return nil
	})
	var bufs sync.Pool
	for range threads {
		g.Go(func() error {
			for j := range jobs {
				j.out, j.err = encode(j, outs, &bufs)
				close(j.done)
			}
			return nil
		})
	}
	g.Go(func() error {
		var written int64
		for j := range inflight {
			select {
			case <-j.done:
			case <-ctx.Done():
				return ctx.Err()
			}
			if j.err != nil {
				return j.err
			}
			for k, b := range j.out {
				if _, err := ws[k].Write(b); err != nil {
					return err
				}
				written += int64(len(b))
			}
			if opts.Progress != nil {
				opts.Progress(written, total)
			}
			j.out = nil
		}
		return nil
	})
	return g.Wait()
}

// encode produces one chunk of rows of tensor j.t for every output, reading the source rows
// once.
func encode(j *job, outs []Output, bufs *sync.Pool) ([][]byte, error) {
	res := make([][]byte, len(outs))
	var f []float32
	for k, o := range outs {
		s := o.Sources[j.t]
		if s.RawRows != nil {
			b, err := s.RawRows(j.r0, j.n)
			if err != nil {
				return nil, fmt.Errorf("convert: tensor %q: %w", s.Info.Name, err)
			}
			res[k] = b
			continue
		}
		if f == nil {
			n := j.n * s.rowLen()
			if p, ok := bufs.Get().(*[]float32); ok && cap(*p) >= n {
				f = (*p)[:n]
			} else {
				f = make([]float32, n)
			}
			defer bufs.Put(&f)
			if err := s.Rows(f, j.r0, j.n); err != nil {
				return nil, fmt.Errorf("convert: tensor %q: %w", s.Info.Name, err)
			}
		}
		// Variants often give a tensor the same type (Q4_K_M and Q5_K_M both make output.weight
		// and half the ffn_down Q6_K): the same rows encoded the same way are the same bytes.
		if prev := sameEncoding(outs, k, j.t); prev >= 0 {
			res[k] = res[prev]
			continue
		}
		b, err := quantizeRows(s, f, j.r0, j.n)
		if err != nil {
			return nil, err
		}
		res[k] = b
	}
	return res, nil
}

// sameEncoding returns an earlier output whose tensor t is encoded from the same rows exactly as
// output k's (same type and importance weights), or -1.
func sameEncoding(outs []Output, k, t int) int {
	s := outs[k].Sources[t]
	for p := range k {
		o := outs[p].Sources[t]
		if o.RawRows == nil && o.Info.Type == s.Info.Type && o.RowsPerImatrix == s.RowsPerImatrix &&
			len(o.Imatrix) == len(s.Imatrix) && (len(s.Imatrix) == 0 || &o.Imatrix[0] == &s.Imatrix[0]) {
			return p
		}
	}
	return -1
}

// quantizeRows encodes n rows (starting at row r0 of the tensor) to the source's type.
func quantizeRows(s *Source, f []float32, r0, n int) ([]byte, error) {
	t := s.Info.Type
	rowLen := s.rowLen()
	rowSize, err := t.RowSize(int64(rowLen))
	if err != nil {
		return nil, fmt.Errorf("convert: tensor %q: %w", s.Info.Name, err)
	}
	out := make([]byte, int(rowSize)*n)
	if s.Imatrix == nil || s.RowsPerImatrix <= 0 || len(s.Imatrix) == rowLen {
		im := s.Imatrix
		if im != nil {
			im = im[:rowLen]
		}
		if err := quantize.Quantize(t, out, f, rowLen, im); err != nil {
			return nil, fmt.Errorf("convert: tensor %q: %w", s.Info.Name, err)
		}
		return out, nil
	}
	// 3-D (expert) tensors: each expert's rows use that expert's importance weights.
	for r := 0; r < n; {
		g := r0 + r
		e := g / s.RowsPerImatrix
		k := min(n-r, (e+1)*s.RowsPerImatrix-g)
		im := s.Imatrix[e*rowLen : (e+1)*rowLen]
		if err := quantize.Quantize(t, out[r*int(rowSize):(r+k)*int(rowSize)], f[r*rowLen:(r+k)*rowLen], rowLen, im); err != nil {
			return nil, fmt.Errorf("convert: tensor %q: %w", s.Info.Name, err)
		}
		r += k
	}
	return out, nil
}
