package kernels

import (
	"encoding/binary"

	"github.com/ggufy/ggufy/internal/half"
	"github.com/ggufy/ggufy/internal/iqgrid"
)

// Pure-Go dot products of the lattice i-quants against q8_K activations, after ggml's generic
// kernels (ggml-cpu/quants.c, MIT). The lattice tables are in internal/iqgrid.

// gridByte64 returns byte j of a grid point.
func gridByte64(g uint64, j int) int32 { return int32(byte(g >> (8 * j))) }

// signed applies sign bit j of signs to v.
func signed(v int32, signs byte, j int) int32 {
	if signs>>j&1 != 0 {
		return -v
	}
	return v
}

func dotIQ2XXS(n int, w, a []byte) float32 {
	nb := n / qkK
	var sum float32
	for i := 0; i < nb; i++ {
		x := w[i*sizeIQ2XXS : (i+1)*sizeIQ2XXS]
		dy, q8, _ := q8K(a[i*sizeQ8K:])
		var bsum int32
		for ib := 0; ib < 8; ib++ {
			q2 := x[2+8*ib:]
			aux1 := binary.LittleEndian.Uint32(q2[4:])
			ls := int32(2*(aux1>>28) + 1)
			var s int32
			for l := 0; l < 4; l++ {
				g := iqgrid.IQ2XXS[q2[l]]
				signs := iqgrid.KSigns[aux1>>(7*l)&127]
				for j := 0; j < 8; j++ {
					s += signed(gridByte64(g, j)*int32(int8(q8[32*ib+8*l+j])), signs, j)
				}
			}
			bsum += s * ls
		}
		sum += float32(float32(fp16(x)*dy) * float32(bsum))
	}
	return 0.125 * sum
}

func dotIQ2XS(n int, w, a []byte) float32 {
	nb := n / qkK
	var sum float32
	for i := 0; i < nb; i++ {
		x := w[i*sizeIQ2XS : (i+1)*sizeIQ2XS]
		dy, q8, _ := q8K(a[i*sizeQ8K:])
		sc := x[66:74]
		var bsum int32
		for ib := 0; ib < 8; ib++ {
			for h := 0; h < 2; h++ {
				ls := int32(2*(sc[ib]>>(4*h)&0xf) + 1)
				var s int32
				for l := 2 * h; l < 2*h+2; l++ {
					q := binary.LittleEndian.Uint16(x[2+2*(4*ib+l):])
					g := iqgrid.IQ2XS[q&511]
					signs := iqgrid.KSigns[q>>9]
					for j := 0; j < 8; j++ {
						s += signed(gridByte64(g, j)*int32(int8(q8[32*ib+8*l+j])), signs, j)
					}
				}
				bsum += s * ls
			}
		}
		sum += float32(float32(fp16(x)*dy) * float32(bsum))
	}
	return 0.125 * sum
}

func dotIQ2S(n int, w, a []byte) float32 {
	nb := n / qkK
	var sum float32
	for i := 0; i < nb; i++ {
		x := w[i*sizeIQ2S : (i+1)*sizeIQ2S]
		dy, q8, _ := q8K(a[i*sizeQ8K:])
		qs, signs, qh, sc := x[2:34], x[34:66], x[66:74], x[74:82]
		var bsum int32
		for ib := 0; ib < 8; ib++ {
			for h := 0; h < 2; h++ {
				ls := int32(1 + 2*(sc[ib]>>(4*h)&0xf))
				var s int32
				for l := 2 * h; l < 2*h+2; l++ {
					g := iqgrid.IQ2S[uint16(qs[4*ib+l])|uint16(qh[ib])<<(8-2*l)&0x300]
					sg := signs[4*ib+l]
					for j := 0; j < 8; j++ {
						s += signed(int32(int8(q8[32*ib+8*l+j]))*gridByte64(g, j), sg, j)
					}
				}
				bsum += ls * s
			}
		}
		sum += float32(float32(fp16(x)*dy) * float32(bsum))
	}
	return 0.125 * sum
}

func dotIQ3XXS(n int, w, a []byte) float32 {
	nb := n / qkK
	var sum float32
	for i := 0; i < nb; i++ {
		x := w[i*sizeIQ3XXS : (i+1)*sizeIQ3XXS]
		dy, q8, _ := q8K(a[i*sizeQ8K:])
		q3, gas := x[2:66], x[66:98]
		var bsum int32
		for ib := 0; ib < 8; ib++ {
			aux := binary.LittleEndian.Uint32(gas[4*ib:])
			ls := int32(2*(aux>>28) + 1)
			var s int32
			for l := 0; l < 4; l++ {
				g1 := iqgrid.IQ3XXS[q3[8*ib+2*l]]
				g2 := iqgrid.IQ3XXS[q3[8*ib+2*l+1]]
				signs := iqgrid.KSigns[aux>>(7*l)&127]
				y := q8[32*ib+8*l:]
				for j := 0; j < 4; j++ {
					s += signed(int32(byte(g1>>(8*j)))*int32(int8(y[j])), signs, j)
					s += signed(int32(byte(g2>>(8*j)))*int32(int8(y[j+4])), signs, j+4)
				}
			}
			bsum += s * ls
		}
		sum += float32(float32(fp16(x)*dy) * float32(bsum))
	}
	return 0.25 * sum
}

func dotIQ3S(n int, w, a []byte) float32 {
	nb := n / qkK
	var sum float32
	for i := 0; i < nb; i++ {
		x := w[i*sizeIQ3S : (i+1)*sizeIQ3S]
		dy, q8, _ := q8K(a[i*sizeQ8K:])
		qs, qh, signs, sc := x[2:66], x[66:74], x[74:106], x[106:110]
		var bsum int32
		for ib := 0; ib < 8; ib++ {
			ls := int32(2*(sc[ib/2]>>(4*(ib%2))&0xf) + 1)
			var s int32
			for l := 0; l < 4; l++ {
				g1 := iqgrid.IQ3S[uint16(qs[8*ib+2*l])|uint16(qh[ib])<<(8-2*l)&256]
				g2 := iqgrid.IQ3S[uint16(qs[8*ib+2*l+1])|uint16(qh[ib])<<(7-2*l)&256]
				sg := signs[4*ib+l]
				y := q8[32*ib+8*l:]
				for j := 0; j < 4; j++ {
					s += signed(int32(byte(g1>>(8*j)))*int32(int8(y[j])), sg, j)
					s += signed(int32(byte(g2>>(8*j)))*int32(int8(y[j+4])), sg, j+4)
				}
			}
			bsum += s * ls
		}
		sum += float32(float32(fp16(x)*dy) * float32(bsum))
	}
	return sum
}

// iq1Delta is IQ1S_DELTA and IQ1M_DELTA (ggml-common.h).
const iq1Delta = 0.125

func dotIQ1S(n int, w, a []byte) float32 {
	nb := n / qkK
	var sum float32
	for i := 0; i < nb; i++ {
		x := w[i*sizeIQ1S : (i+1)*sizeIQ1S]
		dy, q8, bsum := q8K(a[i*sizeQ8K:])
		qs, qhb := x[2:34], x[34:50]
		var sumi, sumi1 int32
		for ib := 0; ib < 8; ib++ {
			qh := binary.LittleEndian.Uint16(qhb[2*ib:])
			ls := int32(2*(qh>>12&7) + 1)
			delta := int32(1)
			if qh&0x8000 != 0 {
				delta = -1
			}
			var lsum int32
			for l := 0; l < 4; l++ {
				g := iqgrid.IQ1S[uint16(qs[4*ib+l])|(qh>>(3*l)&7)<<8]
				for j := 0; j < 8; j++ {
					lsum += int32(int8(q8[32*ib+8*l+j])) * int32(int8(byte(g>>(8*j))))
				}
			}
			sumi += ls * lsum
			sumi1 += ls * delta * (bsum(2*ib) + bsum(2*ib+1))
		}
		sum += float32(float32(fp16(x)*dy) * float32(float32(sumi)+float32(iq1Delta*float32(sumi1))))
	}
	return sum
}

func dotIQ1M(n int, w, a []byte) float32 {
	nb := n / qkK
	var sum float32
	for i := 0; i < nb; i++ {
		x := w[i*sizeIQ1M : (i+1)*sizeIQ1M]
		dy, q8, _ := q8K(a[i*sizeQ8K:])
		qs, qh, scb := x[:32], x[32:48], x[48:56]
		var sc [4]uint16
		for k := range sc {
			sc[k] = binary.LittleEndian.Uint16(scb[2*k:])
		}
		scale := sc[0]>>12 | sc[1]>>8&0x00f0 | sc[2]>>4&0x0f00 | sc[3]&0xf000
		var sumi1, sumi2 int32
		for ib := 0; ib < 8; ib++ {
			h := qh[2*ib:]
			var sum1, sum2 [2]int32
			for l := 0; l < 4; l++ {
				hb := h[l/2]
				delta := int32(1)
				if hb>>(3+4*(l%2))&1 != 0 {
					delta = -1
				}
				g := iqgrid.IQ1S[uint16(qs[4*ib+l])|uint16(hb)<<(8-4*(l%2))&0x700]
				var lsum1, lsum2 int32
				for j := 0; j < 8; j++ {
					q := int32(int8(q8[32*ib+8*l+j]))
					lsum1 += q * int32(int8(byte(g>>(8*j))))
					lsum2 += q
				}
				sum1[l/2] += lsum1
				sum2[l/2] += lsum2 * delta
			}
			s := sc[ib/2] >> (6 * (ib % 2))
			ls1 := int32(2*(s&7) + 1)
			ls2 := int32(2*(s>>3&7) + 1)
			sumi1 += sum1[0]*ls1 + sum1[1]*ls2
			sumi2 += sum2[0]*ls1 + sum2[1]*ls2
		}
		sum += float32(float32(half.F16ToF32(scale)*dy) * float32(float32(sumi1)+float32(iq1Delta*float32(sumi2))))
	}
	return sum
}
