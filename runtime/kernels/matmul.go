package kernels

import (
	"fmt"

	"github.com/ggufy/ggufy/gguf"
)

// Matrix is a weight matrix as a GGUF file stores it: Rows rows of Cols values of type Type,
// row after row, with no padding between rows. Data is read in place (for example from a memory
// map) and never written.
type Matrix struct {
	Type       gguf.Type
	Rows, Cols int
	Data       []byte
}

// VecDot returns the dot product of the first n values of the weight row w (type t) and the
// activation row a (quantized with QuantizeActivations for type t). It panics if t has no
// kernel, n is not a multiple of t's block size, or a row is shorter than n values need: these
// are caller bugs, as with an index out of range. Check Supported and RowSizes on untrusted input.
func VecDot(t gguf.Type, n int, w, a []byte) float32 {
	k := lookup(t)
	if k == nil {
		panic("kernels: VecDot: unsupported weight type " + t.String())
	}
	nb := n / k.block
	ws, as := nb*k.wbytes, nb*k.abytes
	if n <= 0 || n%k.block != 0 || len(w) < ws || len(a) < as {
		panic(fmt.Sprintf("kernels: VecDot %s: %d values with %d weight and %d activation bytes", t, n, len(w), len(a)))
	}
	if k.fast != nil && useAsm {
		return k.fast(n, w[:ws], a[:as])
	}
	return k.ref(n, w[:ws], a[:as])
}

// MatMul computes dst = w × act for ncols activation columns: dst[c*w.Rows+r] is the dot
// product of weight row r with activation row c. act holds the ncols rows back to back, each
// quantized with QuantizeActivations for w.Type (ActivationRowSize(w.Type, w.Cols) bytes). The
// rows of w are split into contiguous blocks, one per pool worker; pool may be nil (one thread).
func MatMul(pool *Pool, dst []float32, w Matrix, act []byte, ncols int) error {
	k := lookup(w.Type)
	if k == nil {
		return fmt.Errorf("%w: %s", ErrUnsupported, w.Type)
	}
	if w.Rows <= 0 || w.Cols <= 0 || ncols <= 0 {
		return fmt.Errorf("%w: %s matrix %dx%d times %d columns", ErrShape, w.Type, w.Rows, w.Cols, ncols)
	}
	ws, as, err := RowSizes(w.Type, w.Cols)
	if err != nil {
		return err
	}
	if len(w.Data) != ws*w.Rows {
		return fmt.Errorf("%w: %s matrix %dx%d has %d bytes, want %d", ErrShape, w.Type, w.Rows, w.Cols, len(w.Data), ws*w.Rows)
	}
	if len(act) != as*ncols {
		return fmt.Errorf("%w: %d activation bytes for %d columns of %d bytes", ErrShape, len(act), ncols, as)
	}
	if len(dst) != w.Rows*ncols {
		return fmt.Errorf("%w: destination has %d values, want %d", ErrShape, len(dst), w.Rows*ncols)
	}
	m := mulMat{k: k, fast: useAsm, dst: dst, w: w.Data, act: act, rows: w.Rows, n: w.Cols, ws: ws, as: as, ncols: ncols}
	if m.fast && k.panel4 != nil && ncols >= 4 {
		// interleave the activations four columns at a time (panel.go), in parallel
		groups := ncols / 4
		nb := w.Cols / k.block
		m.pbytes = nb * panelBlockSize(k.act)
		buf := getPanelBuf(groups * m.pbytes)
		defer panelBufs.Put(buf)
		m.panels = *buf
		parts := min(pool.Size(), groups)
		pool.Run(parts, func(part int) {
			for g := groups * part / parts; g < groups*(part+1)/parts; g++ {
				buildPanel(k.act, m.panels[g*m.pbytes:(g+1)*m.pbytes], act[4*g*as:], as, nb)
			}
		})
	}
	parts := pool.Size()
	// Too little work to be worth a hand-off: a few rows per worker at least.
	parts = min(parts, max(1, w.Rows/minRowsPerPart))
	pool.Run(parts, func(part int) {
		r0 := w.Rows * part / parts
		r1 := w.Rows * (part + 1) / parts
		m.rowRange(r0, r1)
	})
	return nil
}

// minRowsPerPart is the fewest weight rows worth handing to a worker of its own.
const minRowsPerPart = 8

// mulMat is one MatMul call's state, shared read-only by the workers.
type mulMat struct {
	k       *kernel
	fast    bool
	dst     []float32
	w, act  []byte
	rows, n int
	ws, as  int
	ncols   int
	panels  []byte // four-column activation panels, when the type has panel kernels
	pbytes  int    // bytes of one panel
}

// rowRange computes the outputs of weight rows [r0, r1) for all columns. Each weight row is
// read once and kept in cache while it meets every column, four at a time when a four-column
// kernel exists.
func (m *mulMat) rowRange(r0, r1 int) {
	dot := m.k.ref
	var dot4 dot4Func
	if m.fast {
		if m.k.fast != nil {
			dot = m.k.fast
		}
		dot4 = m.k.fast4
	}
	var out [4]float32
	nb := m.n / m.k.block
	var decoded []byte
	if m.fast && m.k.decode != nil && m.ncols >= 4 {
		buf := getPanelBuf(nb * m.k.dsize) // per-worker scratch, recycled like the panels
		defer panelBufs.Put(buf)
		decoded = *buf
	}
	for r := r0; r < r1; r++ {
		wr := m.w[r*m.ws : (r+1)*m.ws]
		c := 0
		if decoded != nil {
			m.k.decode(nb, wr, decoded)
			for ; c+4 <= m.ncols; c += 4 {
				m.k.dot4d(m.n, decoded, m.act[c*m.as:(c+4)*m.as], m.as, &out)
				m.dst[c*m.rows+r] = out[0]
				m.dst[(c+1)*m.rows+r] = out[1]
				m.dst[(c+2)*m.rows+r] = out[2]
				m.dst[(c+3)*m.rows+r] = out[3]
			}
		}
		if m.panels != nil {
			for ; c+4 <= m.ncols; c += 4 {
				m.k.panel4(nb, wr, m.panels[c/4*m.pbytes:(c/4+1)*m.pbytes], &out)
				m.dst[c*m.rows+r] = out[0]
				m.dst[(c+1)*m.rows+r] = out[1]
				m.dst[(c+2)*m.rows+r] = out[2]
				m.dst[(c+3)*m.rows+r] = out[3]
			}
		}
		if dot4 != nil {
			for ; c+4 <= m.ncols; c += 4 {
				dot4(m.n, wr, m.act[c*m.as:(c+4)*m.as], m.as, &out)
				m.dst[c*m.rows+r] = out[0]
				m.dst[(c+1)*m.rows+r] = out[1]
				m.dst[(c+2)*m.rows+r] = out[2]
				m.dst[(c+3)*m.rows+r] = out[3]
			}
		}
		for ; c < m.ncols; c++ {
			m.dst[c*m.rows+r] = dot(m.n, wr, m.act[c*m.as:(c+1)*m.as])
		}
	}
}
