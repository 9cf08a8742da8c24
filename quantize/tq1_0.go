package quantize

// TQ1_0: ternary super-blocks of 256 values (BitNet b1.58, TriLMs), five trits per byte in qs and
// four in qh, stored as fixed-point fractions of 3^5; fp16 scale d, x = d*(t-1).
// Reimplemented from quantize_row_tq1_0_ref and dequantize_row_tq1_0 in
// ggml/src/ggml-quants.c (ggml, MIT license).

import "github.com/ggufy/ggufy/gguf"

const (
	tq1QS     = (qkK - 4*qkK/64) / 5 // 48
	tq1QH     = qkK / 64             // 4
	blockTQ10 = tq1QS + tq1QH + 2
)

func init() {
	register(gguf.TypeTQ1_0, &codec{quantizeRow: quantizeRowTQ1_0, dequantizeRow: dequantizeRowTQ1_0})
}

// trit is lroundf(v*id)+1 reduced to a byte, as ggml adds it into a uint8 (-1, 0, 1 -> 0, 1, 2).
func trit(v, id float32) uint8 { return uint8(lroundf(v*id) + 1) }

// packTrits returns the byte holding the n trits x[0], x[stride], ... as ceil(t*256/243).
func packTrits(q uint8) uint8 { return uint8((int(q)*256 + 242) / 243) }

func quantizeRowTQ1_0(dst []byte, src, _ []float32) {
	for i := 0; i < len(src)/qkK; i++ {
		x := src[i*qkK : (i+1)*qkK]
		y := dst[i*blockTQ10 : (i+1)*blockTQ10]
		d := absMax(x)
		var id float32
		if d != 0 {
			id = 1 / d
		}
		putF16(y[blockTQ10-2:], d)
		const first = tq1QS - tq1QS%32 // 32 bytes of 5 trits spaced 32 apart
		for m := 0; m < 32; m++ {
			var q uint8
			for n := 0; n < 5; n++ {
				q = q*3 + trit(x[m+n*32], id)
			}
			y[m] = packTrits(q)
		}
		x = x[5*32:]
		for j := first; j < tq1QS; j += 16 { // then 16 bytes of 5 trits spaced 16 apart
			for m := 0; m < 16; m++ {
				var q uint8
				for n := 0; n < 5; n++ {
					q = q*3 + trit(x[m+n*16], id)
				}
				y[j+m] = packTrits(q)
			}
			x = x[5*16:]
		}
		for j := 0; j < tq1QH; j++ { // and 4 bytes of 4 trits, shifted to the top
			var q uint8
			for m := 0; m < 4; m++ {
				q = q*3 + trit(x[j+m*tq1QH], id)
			}
			y[tq1QS+j] = packTrits(q * 3)
		}
	}
}

var pow3 = [6]uint8{1, 3, 9, 27, 81, 243}

// unpackTrit extracts trit n (0 = most significant) of a packed byte as -1, 0 or 1.
func unpackTrit(b uint8, n int) float32 {
	q := b * pow3[n]
	return float32(int(uint16(q)*3>>8) - 1)
}

func dequantizeRowTQ1_0(dst []float32, src []byte) {
	for i := 0; i < len(dst)/qkK; i++ {
		x := src[i*blockTQ10 : (i+1)*blockTQ10]
		y := dst[i*qkK : (i+1)*qkK]
		d := getF16(x[blockTQ10-2:])
		k := 0
		for n := 0; n < 5; n++ {
			for m := 0; m < 32; m++ {
				y[k] = unpackTrit(x[m], n) * d
				k++
			}
		}
		for n := 0; n < 5; n++ {
			for m := 32; m < tq1QS; m++ {
				y[k] = unpackTrit(x[m], n) * d
				k++
			}
		}
		for n := 0; n < 4; n++ {
			for j := 0; j < tq1QH; j++ {
				y[k] = unpackTrit(x[tq1QS+j], n) * d
				k++
			}
		}
	}
}
