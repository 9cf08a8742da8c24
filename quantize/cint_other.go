//go:build !amd64

package quantize

import "math"

// cInt32 is C's (int)f as compiled for x86-64 (cvttss2si): truncation toward zero, and the
// "integer indefinite" value math.MinInt32 for NaN and out-of-range values. Narrower C integer
// conversions ((int8_t)f, (uint8_t)f) take the low bits of this value.
func cInt32(f float32) int32 {
	if f >= -2147483648 && f < 2147483648 {
		return int32(f)
	}
	return math.MinInt32
}
