package torchbin

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

type expectedTensor struct {
	DType  string  `json:"dtype"`
	Shape  []int64 `json:"shape"`
	SHA256 string  `json:"sha256"`
}

func loadExpected(t *testing.T) map[string]expectedTensor {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]expectedTensor
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func tensorSHA(t *testing.T, tt *Tensor) string {
	t.Helper()
	h := sha256.New()
	if _, err := io.Copy(h, tt.Section()); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// TestReferenceFiles reads checkpoints written by torch.save (scripts/torchbin_testdata.py)
// and checks every tensor's dtype, shape and bytes against what torch reported.
func TestReferenceFiles(t *testing.T) {
	want := loadExpected(t)
	for _, tc := range []struct {
		file  string
		names int
	}{{"state_dict.bin", len(want)}, {"protocol4.bin", len(want)}, {"plain_dict.bin", 3}} {
		t.Run(tc.file, func(t *testing.T) {
			f, err := Open(filepath.Join("testdata", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if len(f.Tensors) != tc.names {
				t.Fatalf("%d tensors, want %d", len(f.Tensors), tc.names)
			}
			for i := range f.Tensors {
				tt := &f.Tensors[i]
				w, ok := want[tt.Name]
				if !ok {
					t.Errorf("unexpected tensor %q", tt.Name)
					continue
				}
				if tt.DType != w.DType || !equalShape(tt.Shape, w.Shape) {
					t.Errorf("%s: %s %v, want %s %v", tt.Name, tt.DType, tt.Shape, w.DType, w.Shape)
				}
				if got := tensorSHA(t, tt); got != w.SHA256 {
					t.Errorf("%s: bytes differ from torch's", tt.Name)
				}
			}
			if tc.names != len(want) {
				return
			}
			// Tied weights share a storage; a slice starts inside its base's.
			e, _ := f.Tensor("embed.weight")
			h, _ := f.Tensor("head.weight")
			base, _ := f.Tensor("long_row")
			sl, _ := f.Tensor("slice")
			if e.Offset != h.Offset || sl.Offset != base.Offset+100*4 || sl.Size != 40 {
				t.Errorf("views: embed@%d head@%d base@%d slice@%d+%d", e.Offset, h.Offset, base.Offset, sl.Offset, sl.Size)
			}
			if s, _ := f.Tensor("scalar"); len(s.Shape) != 0 || s.Size != 4 {
				t.Errorf("scalar: %+v", s)
			}
			if p, _ := f.Tensor("param"); p.NumElements() != 4 {
				t.Errorf("param: %+v", p)
			}
		})
	}
}

func equalShape(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestRefusedFiles(t *testing.T) {
	for _, tc := range []struct {
		file string
		kind error
		msg  string
	}{
		{"evil_os_system.bin", ErrUnsafe, "posix.system"},
		{"evil_eval.bin", ErrUnsafe, "builtins.eval"},
		{"noncontiguous.bin", ErrUnsupported, `"w.T" is a non-contiguous view`},
		{"legacy.bin", ErrUnsupported, "legacy"},
	} {
		t.Run(tc.file, func(t *testing.T) {
			_, err := Open(filepath.Join("testdata", tc.file))
			if !errors.Is(err, tc.kind) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("got %v, want %v mentioning %q", err, tc.kind, tc.msg)
			}
		})
	}
}

// archive builds a torch-style zip with data.pkl and stored data entries.
func archive(t testing.TB, pkl []byte, storages map[string][]byte, compress bool) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	add := func(name string, data []byte, method uint16) {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: name, Method: method})
		if err != nil {
			t.Fatal(err)
		}
		w.Write(data)
	}
	add("archive/data.pkl", pkl, zip.Store)
	keys := make([]string, 0, len(storages))
	for k := range storages {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		m := uint16(zip.Store)
		if compress {
			m = zip.Deflate
		}
		add("archive/data/"+k, storages[k], m)
	}
	add("archive/version", []byte("3\n"), zip.Store)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// pk assembles pickle opcodes.
type pk struct{ bytes.Buffer }

func (p *pk) op(b ...byte) *pk { p.Write(b); return p }
func (p *pk) str(s string) *pk {
	p.WriteByte('X')
	binary.Write(&p.Buffer, binary.LittleEndian, uint32(len(s)))
	p.WriteString(s)
	return p
}
func (p *pk) global(mod, name string) *pk { p.WriteString("c" + mod + "\n" + name + "\n"); return p }
func (p *pk) int1(v byte) *pk             { return p.op('K', v) }

// tensorPickle is {name: tensor} built by hand the way torch.save does.
func tensorPickle(name, storage string, offset byte, shape, stride []byte) []byte {
	p := &pk{}
	p.op(0x80, 2).op('}').str(name)
	p.global("torch._utils", "_rebuild_tensor_v2").op('(')
	p.op('(').str("storage").global("torch", storage).str("0").str("cpu").int1(8).op('t', 'Q')
	p.int1(offset).op('(')
	for _, d := range shape {
		p.int1(d)
	}
	p.op('t', '(')
	for _, s := range stride {
		p.int1(s)
	}
	p.op('t', 0x89, ')', 't', 'R', 's', '.')
	return p.Bytes()
}

func TestHandMadePickles(t *testing.T) {
	data := make([]byte, 32)
	for i := range data {
		data[i] = byte(i)
	}
	good := tensorPickle("w", "FloatStorage", 2, []byte{2, 2}, []byte{2, 1})
	f, err := NewReader(bytes.NewReader(archive(t, good, map[string][]byte{"0": data}, false)), int64(len(archive(t, good, map[string][]byte{"0": data}, false))))
	if err != nil {
		t.Fatal(err)
	}
	w, _ := f.Tensor("w")
	b, _ := io.ReadAll(w.Section())
	if w.DType != "F32" || !bytes.Equal(b, data[8:24]) {
		t.Fatalf("w = %+v, bytes %v", w, b)
	}

	evil := func(build func(p *pk)) []byte {
		p := &pk{}
		p.op(0x80, 2)
		build(p)
		return p.Bytes()
	}
	for _, tc := range []struct {
		name string
		pkl  []byte
		kind error
		msg  string
	}{
		{"os.system", []byte("cos\nsystem\n(Vecho pwned\ntR."), ErrUnsafe, "os.system"},
		{"os.system after tensors", append(good[:len(good)-1], []byte("0cos\nsystem\n(Vx\ntR.")...), ErrUnsafe, "os.system"},
		{"subprocess via STACK_GLOBAL", evil(func(p *pk) { p.str("subprocess").str("Popen").op(0x93) }), ErrUnsafe, "subprocess.Popen"},
		{"builtins.exec", evil(func(p *pk) { p.global("builtins", "exec") }), ErrUnsafe, "builtins.exec"},
		{"old rebuild_tensor", evil(func(p *pk) { p.global("torch._utils", "_rebuild_tensor") }), ErrUnsafe, "torch._utils._rebuild_tensor"},
		{"torch.load in a pickle", evil(func(p *pk) { p.global("torch.storage", "_load_from_bytes") }), ErrUnsafe, "_load_from_bytes"},
		{"INST", []byte("(ios\nsystem\n."), ErrFormat, "opcode 0x69"},
		{"NEWOBJ", evil(func(p *pk) { p.op(')', ')', 0x81) }), ErrFormat, "opcode 0x81"},
		{"EXT1", evil(func(p *pk) { p.op(0x82, 1) }), ErrFormat, "opcode 0x82"},
		{"text PERSID", []byte("P0\n."), ErrFormat, "opcode 0x50"},
		{"call a non-callable", evil(func(p *pk) { p.str("x").op(')', 'R') }), ErrFormat, "REDUCE on a str"},
		{"storage type as a call", evil(func(p *pk) { p.global("torch", "FloatStorage").op(')', 'R') }), ErrFormat, "not callable"},
		{"huge string length", evil(func(p *pk) { p.op('X', 0xff, 0xff, 0xff, 0xff) }), ErrFormat, "truncated"},
		{"huge bytes8 length", evil(func(p *pk) { p.op(0x8e, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f) }), ErrFormat, "beyond the pickle"},
		{"unset memo", evil(func(p *pk) { p.op('h', 7) }), ErrFormat, "memo 7"},
		{"underflow", evil(func(p *pk) { p.op('s') }), ErrFormat, "underflow"},
		{"pop through a mark", evil(func(p *pk) { p.op('N', '(', 0x85) }), ErrFormat, "underflow"},
		{"no STOP", evil(func(p *pk) { p.op('}') }), ErrFormat, "truncated"},
		{"leftovers at STOP", evil(func(p *pk) { p.op('N', '}', '.') }), ErrFormat, "left on the stack"},
		{"not a dict", evil(func(p *pk) { p.op(']', '.') }), ErrFormat, "holds a list"},
		{"value not a tensor", evil(func(p *pk) { p.op('}').str("k").int1(3).op('s', '.') }), ErrUnsupported, `"k" is a int`},
		{"huge long", evil(func(p *pk) { p.op(0x8a, 9, 1, 2, 3, 4, 5, 6, 7, 8, 9) }), ErrFormat, "64 bits"},
		{"bad storage type", tensorPickle("w", "ComplexFloatStorage", 0, []byte{2}, []byte{1}), ErrUnsupported, "ComplexFloatStorage"},
		{"beyond storage", tensorPickle("w", "FloatStorage", 6, []byte{2, 2}, []byte{2, 1}), ErrFormat, "outside its storage"},
		{"transposed", tensorPickle("w", "FloatStorage", 0, []byte{2, 3}, []byte{1, 2}), ErrUnsupported, "non-contiguous"},
		{"stride count", tensorPickle("w", "FloatStorage", 0, []byte{2, 2}, []byte{1}), ErrFormat, "2 dimensions"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			z := archive(t, tc.pkl, map[string][]byte{"0": data}, false)
			_, err := NewReader(bytes.NewReader(z), int64(len(z)))
			if !errors.Is(err, tc.kind) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("got %v, want %v mentioning %q", err, tc.kind, tc.msg)
			}
		})
	}

	t.Run("missing storage", func(t *testing.T) {
		z := archive(t, good, nil, false)
		if _, err := NewReader(bytes.NewReader(z), int64(len(z))); !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), "not in the archive") {
			t.Fatal(err)
		}
	})
	t.Run("compressed storage", func(t *testing.T) {
		z := archive(t, good, map[string][]byte{"0": data}, true)
		if _, err := NewReader(bytes.NewReader(z), int64(len(z))); !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "compressed") {
			t.Fatal(err)
		}
	})
	t.Run("not a zip", func(t *testing.T) {
		if _, err := NewReader(bytes.NewReader([]byte("hello world")), 11); !errors.Is(err, ErrFormat) {
			t.Fatal(err)
		}
	})
}

// FuzzTorchbinOpen: no input may panic, hang, or allocate by an untrusted size.
func FuzzTorchbinOpen(f *testing.F) {
	for _, name := range []string{"plain_dict.bin", "evil_os_system.bin", "legacy.bin"} {
		if b, err := os.ReadFile(filepath.Join("testdata", name)); err == nil {
			f.Add(b)
		}
	}
	f.Add(archive(f, tensorPickle("w", "BFloat16Storage", 2, []byte{2, 2}, []byte{2, 1}), map[string][]byte{"0": make([]byte, 32)}, false))
	f.Fuzz(func(t *testing.T, b []byte) {
		file, err := NewReader(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			return
		}
		for _, tt := range file.Tensors {
			if tt.Offset < 0 || tt.Size < 0 || tt.Offset+tt.Size > int64(len(b)) {
				t.Fatalf("tensor %q outside the file: %d+%d of %d", tt.Name, tt.Offset, tt.Size, len(b))
			}
		}
	})
}

// FuzzTorchbinUnpickle runs the pickle machine alone (data.pkl contents).
func FuzzTorchbinUnpickle(f *testing.F) {
	f.Add(tensorPickle("w", "FloatStorage", 0, []byte{2, 2}, []byte{2, 1}))
	f.Add([]byte("cos\nsystem\n(Vecho\ntR."))
	f.Add([]byte{0x80, 4, 0x95, 0, 0, 0, 0, 0, 0, 0, 0, '}', 0x94, '.'})
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := unpickle(b)
		if err != nil {
			return
		}
		// Whatever is accepted is made of the plain values the machine knows.
		switch v.(type) {
		case nil, bool, int64, float64, string, pyBytes, pyTuple, *pyList, *pyDict, *pyGlobal, *storageRef, *tensorRef:
		default:
			t.Fatalf("unexpected value %T", v)
		}
		if strings.Contains(string(b), "system") && typeName(v) == "global os.system" {
			t.Fatal("os.system accepted")
		}
	})
}
