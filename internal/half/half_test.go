package half

import (
	"math"
	"testing"
)

// TestF16RoundTripAll checks that every binary16 value survives F16 -> F32 -> F16.
func TestF16RoundTripAll(t *testing.T) {
	for i := 0; i < 1<<16; i++ {
		h := uint16(i)
		f := F16ToF32(h)
		if math.IsNaN(float64(f)) {
			if g := F32ToF16(f); g&0x7c00 != 0x7c00 || g&0x3ff == 0 {
				t.Fatalf("NaN %#04x -> %#04x", h, g)
			}
			continue
		}
		if g := F32ToF16(f); g != h {
			t.Fatalf("%#04x -> %v -> %#04x", h, f, g)
		}
	}
}

func TestF32ToF16Rounding(t *testing.T) {
	cases := []struct {
		in   float32
		want uint16
	}{
		{1, 0x3c00},
		{65504, 0x7bff},
		{65520, 0x7c00},                          // rounds up to inf
		{float32(math.Inf(-1)), 0xfc00},          // -inf
		{1 + 1.0/2048, 0x3c00},                   // tie, even stays
		{1 + 3.0/2048, 0x3c02},                   // tie, odd rounds up
		{float32(math.Ldexp(1, -24)), 0x0001},    // smallest subnormal
		{float32(math.Ldexp(1, -25)), 0x0000},    // tie to even: 0
		{float32(math.Ldexp(1.5, -25)), 0x0001},  // above the tie
		{float32(math.Ldexp(1, -14)), 0x0400},    // smallest normal
		{-0.0, 0x0000},                           // +0 from -0.0 literal (Go constant)
		{float32(math.Copysign(0, -1)), 0x8000},  // -0
		{float32(math.Ldexp(2047, -25)), 0x0400}, // subnormal rounding carries into normal
		{float32(math.Ldexp(1, -26)), 0x0000},    // underflow
	}
	for _, c := range cases {
		if got := F32ToF16(c.in); got != c.want {
			t.Errorf("F32ToF16(%g) = %#04x, want %#04x", c.in, got, c.want)
		}
	}
}

func TestBF16(t *testing.T) {
	cases := []struct {
		in   float32
		want uint16
	}{
		{1, 0x3f80},
		{math.Float32frombits(0x3f808000), 0x3f80}, // tie, even
		{math.Float32frombits(0x3f818000), 0x3f82}, // tie, odd up
		{math.Float32frombits(0x7fc00001), 0x7fc0},
		{math.Float32frombits(0x7f800001), 0x7fc0}, // signalling NaN becomes quiet
	}
	for _, c := range cases {
		if got := F32ToBF16(c.in); got != c.want {
			t.Errorf("F32ToBF16(%#x) = %#04x, want %#04x", math.Float32bits(c.in), got, c.want)
		}
	}
	if BF16ToF32(0x3f80) != 1 {
		t.Error("BF16ToF32(0x3f80) != 1")
	}
}
