package kernels

import (
	"encoding/binary"
	"math"
	"sync"

	"github.com/ggufy/ggufy/gguf"
)

// Activation panels: for the 32-value block types MatMul interleaves four q8_0 (or q8_1)
// activation rows block by block and converts their fp16 scales to float32 once, so that the
// four-column kernels read one stream and broadcast each scale with a single load:
//
//	q8_0 panel block: d[4] float32, qs[4][32]           (144 bytes)
//	q8_1 panel block: d[4] float32, s[4] float32, qs[4][32] (160 bytes)
//
// The activations are small next to the weights (ncols rows) and are reused by every weight
// row, so this costs little; the weights are never copied.

const (
	panelBlockQ8_0 = 144
	panelBlockQ8_1 = 160
)

// panelBlockSize returns the bytes of one panel block for activation format act, or 0.
func panelBlockSize(act gguf.Type) int {
	switch act {
	case gguf.TypeQ8_0:
		return panelBlockQ8_0
	case gguf.TypeQ8_1:
		return panelBlockQ8_1
	}
	return 0
}

// buildPanel interleaves the four activation rows rows[0:], rows[as:], rows[2as:], rows[3as:]
// (nb blocks each, format act) into p.
func buildPanel(act gguf.Type, p, rows []byte, as, nb int) {
	pb := panelBlockSize(act)
	ab, qo := sizeQ8_0, 2
	if act == gguf.TypeQ8_1 {
		ab, qo = sizeQ8_1, 4
	}
	po := pb - 128 // quants offset in the panel block
	for b := 0; b < nb; b++ {
		dst := p[b*pb : (b+1)*pb]
		for c := 0; c < 4; c++ {
			src := rows[c*as+b*ab : c*as+(b+1)*ab]
			binary.LittleEndian.PutUint32(dst[4*c:], math.Float32bits(fp16(src)))
			if act == gguf.TypeQ8_1 {
				binary.LittleEndian.PutUint32(dst[16+4*c:], math.Float32bits(fp16(src[2:])))
			}
			copy(dst[po+32*c:po+32*c+32], src[qo:qo+32])
		}
	}
}

// panelBufs recycles panel buffers between MatMul calls.
var panelBufs sync.Pool

func getPanelBuf(n int) *[]byte {
	if b, ok := panelBufs.Get().(*[]byte); ok && cap(*b) >= n {
		*b = (*b)[:n]
		return b
	}
	b := make([]byte, n)
	return &b
}
