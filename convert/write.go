// Package convert runs conversions: it takes a plan (metadata and output tensors that produce
// their rows on demand), encodes every tensor to its output type in parallel, and streams the
// result into GGUF files in order, with bounded memory.
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

// Source is one tensor to write: its GGUF info (name, dims in ggml order, output type) and a
// function producing float32 rows (a row is Dims[0] values).
type Source struct {
	Info gguf.TensorInfo
	// Rows writes rows [r0, r0+n) into dst.
	Rows func(dst []float32, r0, n int) error
	// Imatrix, when set, holds the importance weights for quantization: Dims[0] values, or
	// Dims[0] per expert for 3-D tensors, each expert covering RowsPerImatrix rows.
	Imatrix        []float32
	RowsPerImatrix int
	// Raw, when set, returns the tensor's bytes as stored (already in Info.Type); Rows is then
	// unused.
	Raw func() ([]byte, error)
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
	// Progress, if set, is called after each chunk with the bytes written so far.
	Progress func(done, total int64)
}

// chunkValues bounds the float32 values one job handles (16 MiB of input).
const chunkValues = 4 << 20

type job struct {
	src     *Source
	r0, n   int
	out     []byte
	err     error
	done    chan struct{}
	rawPart bool
}

// Write encodes every source and writes the model to path (or to shards), atomically: on any
// error or cancellation no output file is left behind. It returns the paths written.
func Write(ctx context.Context, path string, meta *gguf.Metadata, srcs []*Source, opts Options) ([]string, error) {
	infos := make([]gguf.TensorInfo, len(srcs))
	var total int64
	for i, s := range srcs {
		infos[i] = s.Info
		total += s.Info.Size()
	}
	fw, err := gguf.Create(path, meta, infos, opts.Split)
	if err != nil {
		return nil, err
	}
	if err := stream(ctx, fw, srcs, opts, total); err != nil {
		fw.Abort()
		return nil, err
	}
	if err := fw.Close(); err != nil {
		return nil, err
	}
	return fw.Paths(), nil
}

// stream encodes the sources in parallel and writes the results to w in order.
func stream(ctx context.Context, w io.Writer, srcs []*Source, opts Options, total int64) error {
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
		for _, s := range srcs {
			if s.Raw != nil {
				j := &job{src: s, done: make(chan struct{}), rawPart: true}
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
				continue
			}
			rows := s.numRows()
			per := max(1, chunkValues/max(1, s.rowLen()))
			for r0 := 0; r0 < rows; r0 += per {
				j := &job{src: s, r0: r0, n: min(per, rows-r0), done: make(chan struct{})}
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
				j.out, j.err = encode(j, &bufs)
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
			if _, err := w.Write(j.out); err != nil {
				return err
			}
			written += int64(len(j.out))
			if opts.Progress != nil {
				opts.Progress(written, total)
			}
			j.out = nil
		}
		return nil
	})
	return g.Wait()
}

func encode(j *job, bufs *sync.Pool) ([]byte, error) {
	s := j.src
	if j.rawPart {
		b, err := s.Raw()
		if err != nil {
			return nil, fmt.Errorf("convert: tensor %q: %w", s.Info.Name, err)
		}
		if int64(len(b)) != s.Info.Size() {
			return nil, fmt.Errorf("convert: tensor %q: %d bytes, want %d", s.Info.Name, len(b), s.Info.Size())
		}
		return b, nil
	}
	n := j.n * s.rowLen()
	var f []float32
	if p, ok := bufs.Get().(*[]float32); ok && cap(*p) >= n {
		f = (*p)[:n]
	} else {
		f = make([]float32, n)
	}
	defer bufs.Put(&f)
	if err := s.Rows(f, j.r0, j.n); err != nil {
		return nil, fmt.Errorf("convert: tensor %q: %w", s.Info.Name, err)
	}
	t := s.Info.Type
	rowSize, err := t.RowSize(int64(s.rowLen()))
	if err != nil {
		return nil, fmt.Errorf("convert: tensor %q: %w", s.Info.Name, err)
	}
	out := make([]byte, int(rowSize)*j.n)
	rowLen := s.rowLen()
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
	for r := 0; r < j.n; {
		g := j.r0 + r
		e := g / s.RowsPerImatrix
		k := min(j.n-r, (e+1)*s.RowsPerImatrix-g)
		im := s.Imatrix[e*rowLen : (e+1)*rowLen]
		if err := quantize.Quantize(t, out[r*int(rowSize):(r+k)*int(rowSize)], f[r*rowLen:(r+k)*rowLen], rowLen, im); err != nil {
			return nil, fmt.Errorf("convert: tensor %q: %w", s.Info.Name, err)
		}
		r += k
	}
	return out, nil
}
