package quantize

// cInt32 is C's (int)f as compiled for x86-64 (cvttss2si): truncation toward zero, and the
// "integer indefinite" value math.MinInt32 for NaN and out-of-range values. Narrower C integer
// conversions ((int8_t)f, (uint8_t)f) take the low bits of this value. On amd64 Go's own
// conversion is that instruction (TestCInt32 keeps it honest).
func cInt32(f float32) int32 { return int32(f) }
