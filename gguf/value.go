package gguf

import (
	"fmt"
	"math"
	"strings"
)

// ValueType is the type of a metadata value (gguf_type in gguf.h).
type ValueType uint32

// The metadata value types. Numbers are part of the file format.
const (
	ValueUint8   ValueType = 0
	ValueInt8    ValueType = 1
	ValueUint16  ValueType = 2
	ValueInt16   ValueType = 3
	ValueUint32  ValueType = 4
	ValueInt32   ValueType = 5
	ValueFloat32 ValueType = 6
	ValueBool    ValueType = 7
	ValueString  ValueType = 8
	ValueArray   ValueType = 9
	ValueUint64  ValueType = 10
	ValueInt64   ValueType = 11
	ValueFloat64 ValueType = 12
)

var valueTypeNames = [...]string{"UINT8", "INT8", "UINT16", "INT16", "UINT32", "INT32", "FLOAT32", "BOOL", "STRING", "ARRAY", "UINT64", "INT64", "FLOAT64"}

// String returns the type's name as gguf-py spells it ("UINT32", "STRING").
func (t ValueType) String() string {
	if int(t) < len(valueTypeNames) {
		return valueTypeNames[t]
	}
	return fmt.Sprintf("VALUETYPE(%d)", uint32(t))
}

// size returns the encoded size of a fixed-size value type, 0 for strings and arrays.
func (t ValueType) size() int {
	switch t {
	case ValueUint8, ValueInt8, ValueBool:
		return 1
	case ValueUint16, ValueInt16:
		return 2
	case ValueUint32, ValueInt32, ValueFloat32:
		return 4
	case ValueUint64, ValueInt64, ValueFloat64:
		return 8
	}
	return 0
}

func (t ValueType) valid() bool { return t <= ValueFloat64 }

// Value is one metadata value: a scalar, a string or an array (which may nest).
// The zero Value is invalid.
type Value struct {
	typ ValueType
	v   any // uint8 ... float64, bool, string, or Array
}

// Array is an array value: elements of one type, held in a Go slice of the matching type
// ([]uint8, []int8, []uint16, []int16, []uint32, []int32, []float32, []bool, []string, []Array,
// []uint64, []int64, []float64).
type Array struct {
	Elem   ValueType
	Values any
}

// Len returns the number of elements.
func (a Array) Len() int {
	switch s := a.Values.(type) {
	case []uint8:
		return len(s)
	case []int8:
		return len(s)
	case []uint16:
		return len(s)
	case []int16:
		return len(s)
	case []uint32:
		return len(s)
	case []int32:
		return len(s)
	case []float32:
		return len(s)
	case []bool:
		return len(s)
	case []string:
		return len(s)
	case []Array:
		return len(s)
	case []uint64:
		return len(s)
	case []int64:
		return len(s)
	case []float64:
		return len(s)
	}
	return 0
}

// Constructors for each value type.

// Uint8 returns a UINT8 value.
func Uint8(v uint8) Value { return Value{ValueUint8, v} }

// Int8 returns an INT8 value.
func Int8(v int8) Value { return Value{ValueInt8, v} }

// Uint16 returns a UINT16 value.
func Uint16(v uint16) Value { return Value{ValueUint16, v} }

// Int16 returns an INT16 value.
func Int16(v int16) Value { return Value{ValueInt16, v} }

// Uint32 returns a UINT32 value.
func Uint32(v uint32) Value { return Value{ValueUint32, v} }

// Int32 returns an INT32 value.
func Int32(v int32) Value { return Value{ValueInt32, v} }

// Float32 returns a FLOAT32 value.
func Float32(v float32) Value { return Value{ValueFloat32, v} }

// Bool returns a BOOL value.
func Bool(v bool) Value { return Value{ValueBool, v} }

// String returns a STRING value.
func String(v string) Value { return Value{ValueString, v} }

// Uint64 returns a UINT64 value.
func Uint64(v uint64) Value { return Value{ValueUint64, v} }

// Int64 returns an INT64 value.
func Int64(v int64) Value { return Value{ValueInt64, v} }

// Float64 returns a FLOAT64 value.
func Float64(v float64) Value { return Value{ValueFloat64, v} }

// Strings returns an array of strings.
func Strings(v []string) Value { return Value{ValueArray, Array{ValueString, v}} }

// Int32s returns an array of INT32.
func Int32s(v []int32) Value { return Value{ValueArray, Array{ValueInt32, v}} }

// Float32s returns an array of FLOAT32.
func Float32s(v []float32) Value { return Value{ValueArray, Array{ValueFloat32, v}} }

// ArrayValue returns an array value; values must be the slice type matching elem.
func ArrayValue(elem ValueType, values any) (Value, error) {
	a := Array{elem, values}
	if err := a.check(0); err != nil {
		return Value{}, err
	}
	return Value{ValueArray, a}, nil
}

func (a Array) check(depth int) error {
	if depth > maxArrayDepth {
		return fmt.Errorf("%w: arrays nested deeper than %d", ErrUnsupported, maxArrayDepth)
	}
	ok := false
	switch s := a.Values.(type) {
	case []uint8:
		ok = a.Elem == ValueUint8
	case []int8:
		ok = a.Elem == ValueInt8
	case []uint16:
		ok = a.Elem == ValueUint16
	case []int16:
		ok = a.Elem == ValueInt16
	case []uint32:
		ok = a.Elem == ValueUint32
	case []int32:
		ok = a.Elem == ValueInt32
	case []float32:
		ok = a.Elem == ValueFloat32
	case []bool:
		ok = a.Elem == ValueBool
	case []string:
		ok = a.Elem == ValueString
	case []uint64:
		ok = a.Elem == ValueUint64
	case []int64:
		ok = a.Elem == ValueInt64
	case []float64:
		ok = a.Elem == ValueFloat64
	case []Array:
		if a.Elem != ValueArray {
			break
		}
		for _, sub := range s {
			if err := sub.check(depth + 1); err != nil {
				return err
			}
		}
		ok = true
	}
	if !ok {
		return fmt.Errorf("%w: array of %s holds %T", ErrUnsupported, a.Elem, a.Values)
	}
	return nil
}

// Type returns the value's type.
func (v Value) Type() ValueType { return v.typ }

// Any returns the Go value: a number, bool, string or Array.
func (v Value) Any() any { return v.v }

// Valid reports whether v holds a value.
func (v Value) Valid() bool { return v.v != nil }

// Str returns a STRING value's text.
func (v Value) Str() (string, bool) {
	s, ok := v.v.(string)
	return s, ok
}

// Bool returns a BOOL value.
func (v Value) Bool() (bool, bool) {
	b, ok := v.v.(bool)
	return b, ok
}

// Array returns an ARRAY value's contents.
func (v Value) Array() (Array, bool) {
	a, ok := v.v.(Array)
	return a, ok
}

// Int returns any integer value as int64 (false for other types or a uint64 above MaxInt64).
func (v Value) Int() (int64, bool) {
	switch x := v.v.(type) {
	case uint8:
		return int64(x), true
	case int8:
		return int64(x), true
	case uint16:
		return int64(x), true
	case int16:
		return int64(x), true
	case uint32:
		return int64(x), true
	case int32:
		return int64(x), true
	case uint64:
		if x > math.MaxInt64 {
			return 0, false
		}
		return int64(x), true
	case int64:
		return x, true
	}
	return 0, false
}

// Float returns any numeric value as float64.
func (v Value) Float() (float64, bool) {
	switch x := v.v.(type) {
	case float32:
		return float64(x), true
	case float64:
		return x, true
	}
	i, ok := v.Int()
	return float64(i), ok
}

// String formats the value for people; long arrays are summarized.
func (v Value) String() string {
	switch x := v.v.(type) {
	case nil:
		return "<invalid>"
	case string:
		return fmt.Sprintf("%q", x)
	case Array:
		n := x.Len()
		var b strings.Builder
		fmt.Fprintf(&b, "[%s × %d]", x.Elem, n)
		if n > 0 {
			b.WriteString(" ")
			b.WriteString(x.head(6))
		}
		return b.String()
	}
	return fmt.Sprint(v.v)
}

// head formats up to n leading elements.
func (a Array) head(n int) string {
	var parts []string
	for i := 0; i < a.Len() && i < n; i++ {
		parts = append(parts, a.Index(i).String())
	}
	if a.Len() > n {
		parts = append(parts, "...")
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// Index returns element i as a Value.
func (a Array) Index(i int) Value {
	switch s := a.Values.(type) {
	case []uint8:
		return Uint8(s[i])
	case []int8:
		return Int8(s[i])
	case []uint16:
		return Uint16(s[i])
	case []int16:
		return Int16(s[i])
	case []uint32:
		return Uint32(s[i])
	case []int32:
		return Int32(s[i])
	case []float32:
		return Float32(s[i])
	case []bool:
		return Bool(s[i])
	case []string:
		return String(s[i])
	case []Array:
		return Value{ValueArray, s[i]}
	case []uint64:
		return Uint64(s[i])
	case []int64:
		return Int64(s[i])
	case []float64:
		return Float64(s[i])
	}
	return Value{}
}

// KV is one metadata key and its value.
type KV struct {
	Key   string
	Value Value
}

// Metadata is an ordered set of key-value pairs; the order is the file order.
type Metadata struct {
	kvs   []KV
	index map[string]int
}

// NewMetadata returns an empty Metadata.
func NewMetadata() *Metadata { return &Metadata{index: map[string]int{}} }

// Len returns the number of keys.
func (m *Metadata) Len() int { return len(m.kvs) }

// KVs returns the pairs in order. The slice must not be modified.
func (m *Metadata) KVs() []KV { return m.kvs }

// Set adds a key at the end, or replaces the value of an existing key in place.
func (m *Metadata) Set(key string, v Value) {
	if m.index == nil {
		m.index = map[string]int{}
	}
	if i, ok := m.index[key]; ok {
		m.kvs[i].Value = v
		return
	}
	m.index[key] = len(m.kvs)
	m.kvs = append(m.kvs, KV{key, v})
}

// Delete removes a key if present.
func (m *Metadata) Delete(key string) {
	i, ok := m.index[key]
	if !ok {
		return
	}
	m.kvs = append(m.kvs[:i], m.kvs[i+1:]...)
	delete(m.index, key)
	for j := i; j < len(m.kvs); j++ {
		m.index[m.kvs[j].Key] = j
	}
}

// Get returns the value of key.
func (m *Metadata) Get(key string) (Value, bool) {
	if m == nil {
		return Value{}, false
	}
	i, ok := m.index[key]
	if !ok {
		return Value{}, false
	}
	return m.kvs[i].Value, true
}

// GetString returns a STRING value, or "" if absent or of another type.
func (m *Metadata) GetString(key string) string {
	v, _ := m.Get(key)
	s, _ := v.Str()
	return s
}

// GetInt returns an integer value, or def if absent or not an integer.
func (m *Metadata) GetInt(key string, def int64) int64 {
	v, _ := m.Get(key)
	if i, ok := v.Int(); ok {
		return i
	}
	return def
}

// GetFloat returns a numeric value, or def if absent or not numeric.
func (m *Metadata) GetFloat(key string, def float64) float64 {
	v, _ := m.Get(key)
	if f, ok := v.Float(); ok {
		return f
	}
	return def
}

// Clone returns a copy that can be changed without affecting m (values are shared).
func (m *Metadata) Clone() *Metadata {
	c := NewMetadata()
	for _, kv := range m.kvs {
		c.Set(kv.Key, kv.Value)
	}
	return c
}
