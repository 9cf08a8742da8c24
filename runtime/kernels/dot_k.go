package kernels

import (
	"encoding/binary"
	"math"
)

// Pure-Go dot products of the 256-value super-block types (k-quants, ternary, IQ4_XS) against
// q8_K activations, after ggml's generic kernels (ggml-cpu/quants.c, MIT): exact integer sums
// per super-block, times the product of the scales, summed in float32.

// q8K splits a block_q8_K into its scale, quants and 16-value sums.
func q8K(y []byte) (d float32, qs []byte, bsum func(j int) int32) {
	y = y[:sizeQ8K]
	d = math.Float32frombits(binary.LittleEndian.Uint32(y))
	bs := y[4+qkK:]
	return d, y[4 : 4+qkK], func(j int) int32 { return int32(int16(binary.LittleEndian.Uint16(bs[2*j:]))) }
}

// scaleMinK4 unpacks the j-th 6-bit scale and min of a q4_K/q5_K block (get_scale_min_k4).
func scaleMinK4(j int, q []byte) (sc, m int32) {
	if j < 4 {
		return int32(q[j] & 63), int32(q[j+4] & 63)
	}
	return int32(q[j+4]&0xf | q[j-4]>>6<<4), int32(q[j+4]>>4 | q[j]>>6<<4)
}

func dotQ2K(n int, w, a []byte) float32 {
	nb := n / qkK
	var sum float32
	for i := 0; i < nb; i++ {
		x := w[i*sizeQ2K : (i+1)*sizeQ2K]
		dy, q8, bsum := q8K(a[i*sizeQ8K:])
		sc, q2 := x[:16], x[16:80]
		var summs int32
		for j := 0; j < 16; j++ {
			summs += bsum(j) * int32(sc[j]>>4)
		}
		var isum int32
		is := 0
		for k := 0; k < 2; k++ {
			for j := 0; j < 4; j++ {
				shift := 2 * j
				for h := 0; h < 2; h++ {
					var s int32
					for l := 16 * h; l < 16*h+16; l++ {
						s += int32(int8(q8[l])) * int32(q2[32*k+l]>>shift&3)
					}
					isum += int32(sc[is]&0xf) * s
					is++
				}
				q8 = q8[32:]
			}
		}
		dall := float32(dy * fp16(x[80:]))
		dmin := float32(dy * fp16(x[82:]))
		sum += float32(dall*float32(isum)) - float32(dmin*float32(summs))
	}
	return sum
}

// q3KScales unpacks the 16 signed 6-bit scales of a q3_K block (scales[12]).
func q3KScales(b []byte) [16]int32 {
	a0 := binary.LittleEndian.Uint32(b)
	a1 := binary.LittleEndian.Uint32(b[4:])
	t := binary.LittleEndian.Uint32(b[8:])
	const m1, m2 = 0x03030303, 0x0f0f0f0f
	u := [4]uint32{
		a0&m2 | (t>>0&m1)<<4,
		a1&m2 | (t>>2&m1)<<4,
		a0>>4&m2 | (t>>4&m1)<<4,
		a1>>4&m2 | (t>>6&m1)<<4,
	}
	var s [16]int32
	for j := range s {
		s[j] = int32(int8(byte(u[j/4]>>(8*(j%4))))) - 32
	}
	return s
}

func dotQ3K(n int, w, a []byte) float32 {
	nb := n / qkK
	var sum float32
	for i := 0; i < nb; i++ {
		x := w[i*sizeQ3K : (i+1)*sizeQ3K]
		dy, q8, _ := q8K(a[i*sizeQ8K:])
		hm, qs := x[:32], x[32:96]
		sc := q3KScales(x[96:108])
		var isum int32
		for g := 0; g < 8; g++ { // 8 groups of 32 values
			q3 := qs[32*(g/4):]
			shift := 2 * (g % 4)
			m := byte(1) << g
			for h := 0; h < 2; h++ {
				var s int32
				for l := 16 * h; l < 16*h+16; l++ {
					v := int32(q3[l] >> shift & 3)
					if hm[l]&m == 0 {
						v -= 4
					}
					s += v * int32(int8(q8[32*g+l]))
				}
				isum += sc[2*g+h] * s
			}
		}
		sum += float32(float32(fp16(x[108:])*dy) * float32(isum))
	}
	return sum
}

// dotQ45K is the q4_K and q5_K product; qh is nil for q4_K.
func dotQ45K(n int, w, a []byte, size int, five bool) float32 {
	nb := n / qkK
	var sum float32
	for i := 0; i < nb; i++ {
		x := w[i*size : (i+1)*size]
		dy, q8, bsum := q8K(a[i*sizeQ8K:])
		scales := x[4:16]
		var qh, qs []byte
		if five {
			qh, qs = x[16:48], x[48:176]
		} else {
			qs = x[16:144]
		}
		var isum, msum int32
		for j := 0; j < 8; j++ { // 8 sub-blocks of 32
			sc, m := scaleMinK4(j, scales)
			msum += m * (bsum(2*j) + bsum(2*j+1))
			q := qs[32*(j/2):]
			shift := 4 * (j % 2)
			var s int32
			for l := 0; l < 32; l++ {
				v := int32(q[l] >> shift & 0xf)
				if five && qh[l]>>j&1 != 0 {
					v += 16
				}
				s += v * int32(int8(q8[32*j+l]))
			}
			isum += sc * s
		}
		d := float32(fp16(x) * dy)
		dmin := float32(fp16(x[2:]) * dy)
		sum += float32(d*float32(isum)) - float32(dmin*float32(msum))
	}
	return sum
}

func dotQ4K(n int, w, a []byte) float32 { return dotQ45K(n, w, a, sizeQ4K, false) }
func dotQ5K(n int, w, a []byte) float32 { return dotQ45K(n, w, a, sizeQ5K, true) }

func dotQ6K(n int, w, a []byte) float32 {
	nb := n / qkK
	var sum float32
	for i := 0; i < nb; i++ {
		x := w[i*sizeQ6K : (i+1)*sizeQ6K]
		dy, q8, _ := q8K(a[i*sizeQ8K:])
		ql, qh, sc := x[:128], x[128:192], x[192:208]
		var isum int32
		for half := 0; half < 2; half++ {
			l4, h4 := ql[64*half:], qh[32*half:]
			for g := 0; g < 4; g++ { // 4 groups of 32 values
				var s [2]int32
				for l := 0; l < 32; l++ {
					lo := l4[l+32*(g%2)]
					if g >= 2 {
						lo >>= 4
					}
					v := int32(lo&0xf|(h4[l]>>(2*g)&3)<<4) - 32
					s[l/16] += v * int32(int8(q8[128*half+32*g+l]))
				}
				is := 8*half + 2*g
				isum += int32(int8(sc[is]))*s[0] + int32(int8(sc[is+1]))*s[1]
			}
		}
		sum += float32(float32(fp16(x[208:])*dy) * float32(isum))
	}
	return sum
}

func dotIQ4XS(n int, w, a []byte) float32 {
	nb := n / qkK
	var sum float32
	for i := 0; i < nb; i++ {
		x := w[i*sizeIQ4XS : (i+1)*sizeIQ4XS]
		dy, q8, _ := q8K(a[i*sizeQ8K:])
		d4d8 := float32(fp16(x) * dy)
		h := binary.LittleEndian.Uint16(x[2:])
		sl, qs := x[4:8], x[8:136]
		for ib := 0; ib < 8; ib++ {
			ls := int32(sl[ib/2]>>(4*(ib%2))&0xf|byte(h>>(2*ib)&3)<<4) - 32
			var s int32
			for j := 0; j < 16; j++ {
				s += int32(int8(q8[32*ib+j])) * int32(kvaluesIQ4NL[qs[16*ib+j]&0xf])
				s += int32(int8(q8[32*ib+j+16])) * int32(kvaluesIQ4NL[qs[16*ib+j]>>4])
			}
			sum += float32(float32(d4d8*float32(ls)) * float32(s))
		}
	}
	return sum
}

func dotTQ1_0(n int, w, a []byte) float32 {
	nb := n / qkK
	pow3 := [5]byte{1, 3, 9, 27, 81}
	trit := func(q byte, l int) int32 { return int32(uint16(q*pow3[l])*3>>8) - 1 }
	var sum float32
	for i := 0; i < nb; i++ {
		x := w[i*sizeTQ1_0 : (i+1)*sizeTQ1_0]
		dy, q8, _ := q8K(a[i*sizeQ8K:])
		qs, qh := x[:48], x[48:52]
		var s int32
		for l := 0; l < 5; l++ {
			for m := 0; m < 32; m++ {
				s += trit(qs[m], l) * int32(int8(q8[l*32+m]))
			}
		}
		for l := 0; l < 5; l++ {
			for m := 0; m < 16; m++ {
				s += trit(qs[32+m], l) * int32(int8(q8[160+l*16+m]))
			}
		}
		for l := 0; l < 4; l++ {
			for j := 0; j < 4; j++ {
				s += trit(qh[j], l) * int32(int8(q8[240+l*4+j]))
			}
		}
		sum += float32(float32(s) * float32(fp16(x[52:])*dy))
	}
	return sum
}

func dotTQ2_0(n int, w, a []byte) float32 {
	nb := n / qkK
	var sum float32
	for i := 0; i < nb; i++ {
		x := w[i*sizeTQ2_0 : (i+1)*sizeTQ2_0]
		dy, q8, _ := q8K(a[i*sizeQ8K:])
		qs := x[:64]
		var s int32
		for j := 0; j < 64; j += 32 {
			for l := 0; l < 4; l++ {
				for k := 0; k < 32; k++ {
					s += int32(int8(q8[j*4+l*32+k])) * (int32(qs[j+k]>>(2*l)&3) - 1)
				}
			}
		}
		sum += float32(float32(s) * float32(dy*fp16(x[64:])))
	}
	return sum
}
