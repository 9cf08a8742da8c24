package torchbin

import (
	"encoding/binary"
	"fmt"
	"math"
	"strings"
	"unicode/utf8"
)

// The pickle machine below follows the opcode table of CPython's Lib/pickletools.py (PSF
// license) for the subset torch.save emits; it builds values and never calls anything.

// Values on the pickle stack.
type (
	pyTuple []any
	pyList  struct{ items []any }
	pyDict  struct { // insertion-ordered (dict and OrderedDict alike)
		keys, vals []any
		index      map[any]int
	}
	pyGlobal struct{ module, name string }
	pyMark   struct{}
	pyBytes  []byte

	storageRef struct {
		typ      string // "FloatStorage", ...
		key      string // the archive entry data/{key}
		location string // "cpu", "cuda:0"
	}
	tensorRef struct {
		storage       *storageRef
		offset        int64
		shape, stride []int64
	}
)

// allowed globals: the callables a state dict's pickle may name.
const (
	gOrderedDict = "collections.OrderedDict"
	gRebuildV2   = "torch._utils._rebuild_tensor_v2"
	gRebuildParm = "torch._utils._rebuild_parameter"
)

func checkGlobal(module, name string) (*pyGlobal, error) {
	full := module + "." + name
	switch {
	case full == gOrderedDict, full == gRebuildV2, full == gRebuildParm:
	case module == "torch" && dtypes[name].name != "":
	default:
		if module == "torch" && strings.HasSuffix(name, "Storage") {
			return nil, fmt.Errorf("%w: storage type %s is not supported", ErrUnsupported, full)
		}
		return nil, fmt.Errorf("%w %s: only the tensors of a state dict are read, and a pickle naming other globals can execute code", ErrUnsafe, full)
	}
	return &pyGlobal{module, name}, nil
}

func typeName(v any) string {
	switch v := v.(type) {
	case nil:
		return "None"
	case bool:
		return "bool"
	case int64:
		return "int"
	case float64:
		return "float"
	case string:
		return "str"
	case pyBytes:
		return "bytes"
	case pyTuple:
		return "tuple"
	case *pyList:
		return "list"
	case *pyDict:
		return "dict"
	case *pyGlobal:
		return "global " + v.module + "." + v.name
	case *storageRef:
		return "storage"
	case *tensorRef:
		return "tensor"
	}
	return fmt.Sprintf("%T", v)
}

type machine struct {
	data  []byte
	pos   int
	stack []any
	marks []int
	memo  map[uint32]any
}

func (m *machine) errf(format string, args ...any) error {
	return fmt.Errorf("%w: pickle at byte %d: %s", ErrFormat, m.pos, fmt.Sprintf(format, args...))
}

func (m *machine) read(n int) ([]byte, error) {
	if n < 0 || n > len(m.data)-m.pos {
		return nil, m.errf("truncated (wants %d more bytes)", n)
	}
	b := m.data[m.pos : m.pos+n]
	m.pos += n
	return b, nil
}

func (m *machine) u8() (int, error) {
	b, err := m.read(1)
	if err != nil {
		return 0, err
	}
	return int(b[0]), nil
}

func (m *machine) u32() (uint32, error) {
	b, err := m.read(4)
	if err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint32(b), nil
}

func (m *machine) u64() (uint64, error) {
	b, err := m.read(8)
	if err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint64(b), nil
}

// line reads a newline-terminated ASCII argument (GLOBAL's module and name).
func (m *machine) line() (string, error) {
	for i := m.pos; i < len(m.data) && i-m.pos < 256; i++ {
		if m.data[i] == '\n' {
			s := string(m.data[m.pos:i])
			m.pos = i + 1
			return s, nil
		}
	}
	return "", m.errf("unterminated line argument")
}

func (m *machine) push(v any) { m.stack = append(m.stack, v) }

// top returns the topmost value, which must lie above the last MARK.
func (m *machine) top() (any, error) {
	if len(m.stack) == 0 || (len(m.marks) > 0 && len(m.stack) <= m.marks[len(m.marks)-1]) {
		return nil, m.errf("stack underflow")
	}
	return m.stack[len(m.stack)-1], nil
}

// pop removes and returns the topmost value.
func (m *machine) pop() (any, error) {
	v, err := m.top()
	if err == nil {
		m.stack = m.stack[:len(m.stack)-1]
	}
	return v, err
}

// pop2 removes the two topmost values and returns them in stack order (b was on top).
func (m *machine) pop2() (a, b any, err error) {
	if b, err = m.pop(); err != nil {
		return nil, nil, err
	}
	if a, err = m.pop(); err != nil {
		return nil, nil, err
	}
	return a, b, nil
}

// popMark pops everything above the last MARK.
func (m *machine) popMark() ([]any, error) {
	if len(m.marks) == 0 {
		return nil, m.errf("no MARK")
	}
	k := m.marks[len(m.marks)-1]
	m.marks = m.marks[:len(m.marks)-1]
	items := append([]any(nil), m.stack[k:]...)
	m.stack = m.stack[:k]
	return items, nil
}

func (m *machine) str(n int, checkUTF8 bool) (string, error) {
	b, err := m.read(n)
	if err != nil {
		return "", err
	}
	if checkUTF8 && !utf8.Valid(b) {
		return "", m.errf("invalid UTF-8 string")
	}
	return string(b), nil
}

// unpickle runs the pickle in data and returns the object it builds.
func unpickle(data []byte) (any, error) {
	m := &machine{data: data, memo: map[uint32]any{}}
	for {
		op, err := m.u8()
		if err != nil {
			return nil, err
		}
		switch op {
		case 0x80: // PROTO
			v, err := m.u8()
			if err != nil {
				return nil, err
			}
			if v > 5 {
				return nil, m.errf("pickle protocol %d", v)
			}
		case 0x95: // FRAME: a length hint
			if _, err := m.u64(); err != nil {
				return nil, err
			}
		case '.': // STOP
			v, err := m.pop()
			if err != nil {
				return nil, err
			}
			if len(m.stack) != 0 || len(m.marks) != 0 {
				return nil, m.errf("values left on the stack at STOP")
			}
			return v, nil
		case '(': // MARK
			m.marks = append(m.marks, len(m.stack))
		case '0': // POP
			if _, err := m.pop(); err != nil {
				return nil, err
			}
		case '1': // POP_MARK
			if _, err := m.popMark(); err != nil {
				return nil, err
			}
		case '2': // DUP
			v, err := m.top()
			if err != nil {
				return nil, err
			}
			m.push(v)
		case 'N': // NONE
			m.push(nil)
		case 0x88: // NEWTRUE
			m.push(true)
		case 0x89: // NEWFALSE
			m.push(false)
		case 'K': // BININT1
			v, err := m.u8()
			if err != nil {
				return nil, err
			}
			m.push(int64(v))
		case 'M': // BININT2
			b, err := m.read(2)
			if err != nil {
				return nil, err
			}
			m.push(int64(binary.LittleEndian.Uint16(b)))
		case 'J': // BININT
			v, err := m.u32()
			if err != nil {
				return nil, err
			}
			m.push(int64(int32(v)))
		case 0x8a, 0x8b: // LONG1, LONG4
			var n int
			if op == 0x8a {
				n, err = m.u8()
			} else {
				var u uint32
				u, err = m.u32()
				n = int(min(u, math.MaxInt32))
			}
			if err != nil {
				return nil, err
			}
			if n > 16 {
				return nil, m.errf("integer of %d bytes", n)
			}
			b, err := m.read(n)
			if err != nil {
				return nil, err
			}
			v, err := longValue(b)
			if err != nil {
				return nil, m.errf("%v", err)
			}
			m.push(v)
		case 'G': // BINFLOAT (big-endian)
			b, err := m.read(8)
			if err != nil {
				return nil, err
			}
			m.push(math.Float64frombits(binary.BigEndian.Uint64(b)))
		case 'X', 0x8c, 0x8d: // BINUNICODE, SHORT_BINUNICODE, BINUNICODE8
			n, err := m.length(op, 'X', 0x8c)
			if err != nil {
				return nil, err
			}
			s, err := m.str(n, true)
			if err != nil {
				return nil, err
			}
			m.push(s)
		case 'T', 'U': // BINSTRING, SHORT_BINSTRING (protocol 2 str)
			n, err := m.length(op, 'T', 'U')
			if err != nil {
				return nil, err
			}
			s, err := m.str(n, false)
			if err != nil {
				return nil, err
			}
			m.push(s)
		case 'B', 'C', 0x8e: // BINBYTES, SHORT_BINBYTES, BINBYTES8
			n, err := m.length(op, 'B', 'C')
			if err != nil {
				return nil, err
			}
			b, err := m.read(n)
			if err != nil {
				return nil, err
			}
			m.push(pyBytes(b))
		case ')': // EMPTY_TUPLE
			m.push(pyTuple{})
		case 't': // TUPLE
			items, err := m.popMark()
			if err != nil {
				return nil, err
			}
			m.push(pyTuple(items))
		case 0x85, 0x86, 0x87: // TUPLE1..3
			n := int(op - 0x84)
			if len(m.stack) < n || (len(m.marks) > 0 && len(m.stack)-n < m.marks[len(m.marks)-1]) {
				return nil, m.errf("stack underflow")
			}
			t := append(pyTuple(nil), m.stack[len(m.stack)-n:]...)
			m.stack = m.stack[:len(m.stack)-n]
			m.push(t)
		case ']': // EMPTY_LIST
			m.push(&pyList{})
		case 'l': // LIST
			items, err := m.popMark()
			if err != nil {
				return nil, err
			}
			m.push(&pyList{items: items})
		case 'a': // APPEND
			v, err := m.pop()
			if err != nil {
				return nil, err
			}
			if err := m.appendTo(v); err != nil {
				return nil, err
			}
		case 'e': // APPENDS
			items, err := m.popMark()
			if err != nil {
				return nil, err
			}
			if err := m.appendTo(items...); err != nil {
				return nil, err
			}
		case '}': // EMPTY_DICT
			m.push(&pyDict{})
		case 'd': // DICT
			items, err := m.popMark()
			if err != nil {
				return nil, err
			}
			d := &pyDict{}
			if err := m.setItems(d, items); err != nil {
				return nil, err
			}
			m.push(d)
		case 's': // SETITEM
			k, v, err := m.pop2()
			if err != nil {
				return nil, err
			}
			d, err := m.topDict()
			if err != nil {
				return nil, err
			}
			if err := m.setItems(d, []any{k, v}); err != nil {
				return nil, err
			}
		case 'u': // SETITEMS
			items, err := m.popMark()
			if err != nil {
				return nil, err
			}
			d, err := m.topDict()
			if err != nil {
				return nil, err
			}
			if err := m.setItems(d, items); err != nil {
				return nil, err
			}
		case 'q', 'r': // BINPUT, LONG_BINPUT
			var idx uint32
			if op == 'q' {
				v, err := m.u8()
				if err != nil {
					return nil, err
				}
				idx = uint32(v)
			} else if idx, err = m.u32(); err != nil {
				return nil, err
			}
			v, err := m.top()
			if err != nil {
				return nil, err
			}
			m.memo[idx] = v
		case 0x94: // MEMOIZE
			v, err := m.top()
			if err != nil {
				return nil, err
			}
			m.memo[uint32(len(m.memo))] = v
		case 'h', 'j': // BINGET, LONG_BINGET
			var idx uint32
			if op == 'h' {
				v, err := m.u8()
				if err != nil {
					return nil, err
				}
				idx = uint32(v)
			} else if idx, err = m.u32(); err != nil {
				return nil, err
			}
			v, ok := m.memo[idx]
			if !ok {
				return nil, m.errf("memo %d is unset", idx)
			}
			m.push(v)
		case 'c': // GLOBAL
			module, err := m.line()
			if err != nil {
				return nil, err
			}
			name, err := m.line()
			if err != nil {
				return nil, err
			}
			g, err := checkGlobal(module, name)
			if err != nil {
				return nil, err
			}
			m.push(g)
		case 0x93: // STACK_GLOBAL
			mv, nv, err := m.pop2()
			if err != nil {
				return nil, err
			}
			module, ok1 := mv.(string)
			name, ok2 := nv.(string)
			if !ok1 || !ok2 {
				return nil, m.errf("STACK_GLOBAL of non-strings")
			}
			g, err := checkGlobal(module, name)
			if err != nil {
				return nil, err
			}
			m.push(g)
		case 'Q': // BINPERSID
			pid, err := m.pop()
			if err != nil {
				return nil, err
			}
			s, err := persistentLoad(pid)
			if err != nil {
				return nil, m.errf("%v", err)
			}
			m.push(s)
		case 'R': // REDUCE
			fn, args, err := m.pop2()
			if err != nil {
				return nil, err
			}
			v, err := reduce(fn, args)
			if err != nil {
				return nil, m.errf("%v", err)
			}
			m.push(v)
		case 'b': // BUILD
			state, err := m.pop()
			if err != nil {
				return nil, err
			}
			obj, err := m.top()
			if err != nil {
				return nil, err
			}
			// torch.save pickles a state dict's _metadata attribute this way; it is ignored.
			if _, ok := obj.(*pyDict); !ok {
				return nil, m.errf("BUILD on a %s", typeName(obj))
			}
			if _, ok := state.(*pyDict); !ok && state != nil {
				if t, ok := state.(pyTuple); !ok || len(t) != 2 {
					return nil, m.errf("BUILD with a %s", typeName(state))
				}
			}
		default:
			return nil, m.errf("opcode 0x%02x (%q) is outside the state-dict subset", op, rune(op))
		}
	}
}

// length reads the length prefix of string/bytes opcodes: 1 byte for the short form,
// 4 for the normal one, 8 otherwise.
func (m *machine) length(op, normal, short int) (int, error) {
	switch op {
	case short:
		return m.u8()
	case normal:
		n, err := m.u32()
		return int(min(n, math.MaxInt32)), err
	default:
		n, err := m.u64()
		if n > uint64(len(m.data)) {
			return 0, m.errf("length %d beyond the pickle", n)
		}
		return int(n), err
	}
}

func (m *machine) appendTo(items ...any) error {
	v, err := m.top()
	if err != nil {
		return err
	}
	l, ok := v.(*pyList)
	if !ok {
		return m.errf("APPEND to a %s", typeName(v))
	}
	l.items = append(l.items, items...)
	return nil
}

func (m *machine) topDict() (*pyDict, error) {
	v, err := m.top()
	if err != nil {
		return nil, err
	}
	d, ok := v.(*pyDict)
	if !ok {
		return nil, m.errf("SETITEM on a %s", typeName(v))
	}
	return d, nil
}

// setItems adds key/value pairs; only hashable keys (str, int, bool, None, tuples of those).
func (m *machine) setItems(d *pyDict, kv []any) error {
	if len(kv)%2 != 0 {
		return m.errf("odd number of dict items")
	}
	for i := 0; i < len(kv); i += 2 {
		k := kv[i]
		switch k.(type) {
		case string, int64, bool, nil, float64:
		default:
			return m.errf("dict key of type %s", typeName(k))
		}
		if d.index == nil {
			d.index = map[any]int{}
		}
		if j, ok := d.index[k]; ok {
			d.vals[j] = kv[i+1]
			continue
		}
		d.index[k] = len(d.keys)
		d.keys = append(d.keys, k)
		d.vals = append(d.vals, kv[i+1])
	}
	return nil
}

// longValue decodes a little-endian two's-complement integer; it must fit in int64.
func longValue(b []byte) (int64, error) {
	if len(b) == 0 {
		return 0, nil
	}
	if len(b) > 8 {
		// Allowed only if it is sign extension of an int64.
		ext := byte(0)
		if b[len(b)-1]&0x80 != 0 {
			ext = 0xff
		}
		for _, x := range b[8:] {
			if x != ext {
				return 0, fmt.Errorf("integer does not fit in 64 bits")
			}
		}
		if (b[7]&0x80 != 0) != (ext == 0xff) {
			return 0, fmt.Errorf("integer does not fit in 64 bits")
		}
		b = b[:8]
	}
	var u uint64
	for i := len(b) - 1; i >= 0; i-- {
		u = u<<8 | uint64(b[i])
	}
	shift := uint(64 - 8*len(b))
	return int64(u<<shift) >> shift, nil
}

// persistentLoad resolves torch's persistent ids: ('storage', torch.XStorage, key,
// location, numel).
func persistentLoad(pid any) (*storageRef, error) {
	t, ok := pid.(pyTuple)
	if !ok || len(t) < 5 {
		return nil, fmt.Errorf("persistent id is a %s, want ('storage', type, key, location, size)", typeName(pid))
	}
	if s, _ := t[0].(string); s != "storage" {
		return nil, fmt.Errorf("persistent id of kind %v", t[0])
	}
	g, ok := t[1].(*pyGlobal)
	if !ok || g.module != "torch" || dtypes[g.name].name == "" {
		return nil, fmt.Errorf("persistent id with storage type %s", typeName(t[1]))
	}
	key, ok1 := t[2].(string)
	loc, ok2 := t[3].(string)
	if _, ok3 := t[4].(int64); !ok1 || !ok2 || !ok3 || key == "" || strings.ContainsAny(key, "/\\") {
		return nil, fmt.Errorf("malformed storage persistent id")
	}
	return &storageRef{typ: g.name, key: key, location: loc}, nil
}

// reduce applies one of the allowed callables to its arguments, building a value.
func reduce(fn, args any) (any, error) {
	g, ok := fn.(*pyGlobal)
	if !ok {
		return nil, fmt.Errorf("REDUCE on a %s", typeName(fn))
	}
	a, ok := args.(pyTuple)
	if !ok {
		return nil, fmt.Errorf("REDUCE with a %s", typeName(args))
	}
	switch g.module + "." + g.name {
	case gOrderedDict:
		if len(a) != 0 {
			return nil, fmt.Errorf("OrderedDict with arguments")
		}
		return &pyDict{}, nil
	case gRebuildV2:
		// (storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
		if len(a) < 4 || len(a) > 7 {
			return nil, fmt.Errorf("_rebuild_tensor_v2 with %d arguments", len(a))
		}
		s, ok := a[0].(*storageRef)
		if !ok {
			return nil, fmt.Errorf("_rebuild_tensor_v2 of a %s", typeName(a[0]))
		}
		off, ok := a[1].(int64)
		if !ok {
			return nil, fmt.Errorf("_rebuild_tensor_v2 offset is a %s", typeName(a[1]))
		}
		shape, err := ints(a[2])
		if err != nil {
			return nil, fmt.Errorf("_rebuild_tensor_v2 size: %v", err)
		}
		stride, err := ints(a[3])
		if err != nil {
			return nil, fmt.Errorf("_rebuild_tensor_v2 stride: %v", err)
		}
		return &tensorRef{storage: s, offset: off, shape: shape, stride: stride}, nil
	case gRebuildParm:
		// (data, requires_grad, backward_hooks): a Parameter is its tensor here.
		if len(a) != 3 {
			return nil, fmt.Errorf("_rebuild_parameter with %d arguments", len(a))
		}
		t, ok := a[0].(*tensorRef)
		if !ok {
			return nil, fmt.Errorf("_rebuild_parameter of a %s", typeName(a[0]))
		}
		return t, nil
	}
	return nil, fmt.Errorf("%s is not callable", typeName(fn))
}

func ints(v any) ([]int64, error) {
	t, ok := v.(pyTuple)
	if !ok {
		return nil, fmt.Errorf("a %s, want a tuple of ints", typeName(v))
	}
	if len(t) > 64 {
		return nil, fmt.Errorf("%d dimensions", len(t))
	}
	out := make([]int64, len(t))
	for i, x := range t {
		n, ok := x.(int64)
		if !ok {
			return nil, fmt.Errorf("element %d is a %s", i, typeName(x))
		}
		out[i] = n
	}
	return out, nil
}
