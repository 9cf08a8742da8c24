package gguf

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// Metadata keys of split models, as llama.cpp's gguf-split writes them.
const (
	KeySplitNo           = "split.no"            // UINT16, 0-based shard number
	KeySplitCount        = "split.count"         // UINT16, number of shards
	KeySplitTensorsCount = "split.tensors.count" // INT32, tensors in the whole model
)

// SplitPath returns the path of shard no (0-based) of count: "<prefix>-00001-of-00003.gguf".
func SplitPath(prefix string, no, count int) string {
	return fmt.Sprintf("%s-%05d-of-%05d.gguf", prefix, no+1, count)
}

var splitRE = regexp.MustCompile(`^(.*)-(\d{5})-of-(\d{5})\.gguf$`)

// ParseSplitPath splits a shard path into its prefix, 0-based number and count.
func ParseSplitPath(path string) (prefix string, no, count int, ok bool) {
	m := splitRE.FindStringSubmatch(path)
	if m == nil {
		return "", 0, 0, false
	}
	n, _ := strconv.Atoi(m[2])
	c, _ := strconv.Atoi(m[3])
	if n < 1 || n > c {
		return "", 0, 0, false
	}
	return m[1], n - 1, c, true
}

// ParseSize parses a size as gguf-split's --split-max-size takes it (its split_str_to_n_bytes):
// a positive byte count, or one followed by K, M, G or T (either case), in powers of 1000:
// 50G, 500M, 4096K.
func ParseSize(s string) (int64, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, errors.New("empty size")
	}
	num, mult := s[:len(s)-1], int64(1)
	switch strings.ToUpper(s[len(s)-1:]) {
	case "K":
		mult = 1e3
	case "M":
		mult = 1e6
	case "G":
		mult = 1e9
	case "T":
		mult = 1e12
	default:
		num = s
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n <= 0 || n > math.MaxInt64/mult {
		return 0, fmt.Errorf("bad size %q (want e.g. 50G, 500M)", s)
	}
	return n * mult, nil
}

// SplitOptions limits the size of each shard; zero values mean no limit.
type SplitOptions struct {
	MaxBytes   int64 // tensor bytes per shard (gguf-split --split-max-size)
	MaxTensors int   // tensors per shard (gguf-split --split-max-tensors)
}

func (o SplitOptions) enabled() bool { return o.MaxBytes > 0 || o.MaxTensors > 0 }

// PlanSplits groups tensors (in order) into shards the way gguf-split does: a new shard starts
// when the padded tensor bytes would exceed MaxBytes, or every MaxTensors tensors. It returns the
// number of tensors in each shard.
func PlanSplits(tensors []TensorInfo, opt SplitOptions) []int {
	if !opt.enabled() || len(tensors) == 0 {
		return []int{len(tensors)}
	}
	var counts []int
	n, size := 0, int64(0)
	for _, t := range tensors {
		b := alignUp(t.Size(), DefaultAlignment)
		split := false
		if opt.MaxTensors > 0 && n >= opt.MaxTensors {
			split = true
		}
		if opt.MaxBytes > 0 && n > 0 && size+b > opt.MaxBytes {
			split = true
		}
		if split {
			counts = append(counts, n)
			n, size = 0, 0
		}
		n++
		size += b
	}
	return append(counts, n)
}

// ShardMetadata returns the metadata of shard no of count for a model of nTensors tensors: the
// first shard has all of meta, the others none, and every shard ends with the split.* keys.
func ShardMetadata(meta *Metadata, no, count, nTensors int) *Metadata {
	var m *Metadata
	if no == 0 {
		m = meta.Clone()
	} else {
		m = NewMetadata()
		if v, ok := meta.Get(KeyAlignment); ok {
			m.Set(KeyAlignment, v)
		}
	}
	m.Set(KeySplitNo, Uint16(uint16(no)))
	m.Set(KeySplitCount, Uint16(uint16(count)))
	m.Set(KeySplitTensorsCount, Int32(int32(nTensors)))
	return m
}

// Model is a GGUF model that may be split over several files, seen as one.
type Model struct {
	Files   []*File
	Meta    *Metadata // the first file's metadata
	Tensors []ModelTensor

	byName map[string]int
}

// ModelTensor is a tensor of a Model and the index of the file that holds it.
type ModelTensor struct {
	TensorInfo
	File  int
	index int // index within its file
}

// OpenModel opens a GGUF model; for a split model, path may be any shard, and every shard
// is opened.
func OpenModel(path string) (*Model, error) {
	first, err := Open(path)
	if err != nil {
		return nil, err
	}
	files := []*File{first}
	fail := func(err error) (*Model, error) {
		for _, f := range files {
			f.Close()
		}
		return nil, err
	}
	count := first.Meta.GetInt(KeySplitCount, 1)
	if count > 1 {
		no := first.Meta.GetInt(KeySplitNo, 0)
		prefix, pno, pcount, ok := ParseSplitPath(path)
		if !ok || int64(pno) != no || int64(pcount) != count {
			return fail(fmt.Errorf("%w: %s: shard %d of %d, but the name does not end in %q", ErrFormat, path, no+1, count, fmt.Sprintf("-%05d-of-%05d.gguf", no+1, count)))
		}
		if count > 99999 {
			return fail(fmt.Errorf("%w: %s: %d shards", ErrFormat, path, count))
		}
		files = make([]*File, count)
		files[no] = first
		for i := range int(count) {
			if int64(i) == no {
				continue
			}
			p := SplitPath(prefix, i, int(count))
			f, err := Open(p)
			if err != nil {
				return fail(fmt.Errorf("gguf: split model %s: %w", path, err))
			}
			files[i] = f
			if got := f.Meta.GetInt(KeySplitNo, -1); got != int64(i) {
				return fail(fmt.Errorf("%w: %s: %s is %d, want %d", ErrFormat, p, KeySplitNo, got, i))
			}
			if got := f.Meta.GetInt(KeySplitCount, -1); got != count {
				return fail(fmt.Errorf("%w: %s: %s is %d, want %d", ErrFormat, p, KeySplitCount, got, count))
			}
		}
	}
	m := &Model{Files: files, Meta: files[0].Meta, byName: map[string]int{}}
	for fi, f := range files {
		for ti, t := range f.Tensors {
			if _, dup := m.byName[t.Name]; dup {
				return fail(fmt.Errorf("%w: %s: tensor %q appears in two shards", ErrFormat, f.Name, t.Name))
			}
			m.byName[t.Name] = len(m.Tensors)
			m.Tensors = append(m.Tensors, ModelTensor{TensorInfo: t, File: fi, index: ti})
		}
	}
	if want := files[0].Meta.GetInt(KeySplitTensorsCount, int64(len(m.Tensors))); count > 1 && want != int64(len(m.Tensors)) {
		return fail(fmt.Errorf("%w: %s: %s is %d but the shards hold %d tensors", ErrFormat, path, KeySplitTensorsCount, want, len(m.Tensors)))
	}
	return m, nil
}

// Tensor returns the index of the named tensor, or -1.
func (m *Model) Tensor(name string) int {
	if i, ok := m.byName[name]; ok {
		return i
	}
	return -1
}

// TensorData returns tensor i's bytes (a view into the memory map, valid until Close).
func (m *Model) TensorData(i int) ([]byte, error) {
	t := m.Tensors[i]
	return m.Files[t.File].TensorData(t.index)
}

// Size returns the total size of the model's files.
func (m *Model) Size() int64 {
	var n int64
	for _, f := range m.Files {
		n += f.Size
	}
	return n
}

// Close closes every file.
func (m *Model) Close() error {
	var errs []error
	for _, f := range m.Files {
		errs = append(errs, f.Close())
	}
	return errors.Join(errs...)
}

// FileWriter writes a model to one GGUF file or to shards, through temporary files that are
// renamed into place only when Close succeeds: an interrupted write never leaves a file that
// looks complete.
type FileWriter struct {
	paths   []string
	tmp     []string
	metas   []*Metadata
	shards  [][]TensorInfo
	i       int
	f       *os.File
	w       *Writer
	done    bool
	written int64
}

// Create starts writing a model to path. With split options that produce several shards, the
// files are named SplitPath(path without ".gguf", i, n). Tensor data follows through Write.
func Create(path string, meta *Metadata, tensors []TensorInfo, opt SplitOptions) (*FileWriter, error) {
	counts := PlanSplits(tensors, opt)
	fw := &FileWriter{}
	if len(counts) == 1 && !opt.enabled() {
		fw.paths = []string{path}
		fw.metas = []*Metadata{meta}
		fw.shards = [][]TensorInfo{tensors}
	} else {
		prefix := path
		if filepath.Ext(prefix) == ".gguf" {
			prefix = prefix[:len(prefix)-len(".gguf")]
		}
		start := 0
		for i, c := range counts {
			fw.paths = append(fw.paths, SplitPath(prefix, i, len(counts)))
			fw.metas = append(fw.metas, ShardMetadata(meta, i, len(counts), len(tensors)))
			fw.shards = append(fw.shards, tensors[start:start+c])
			start += c
		}
	}
	for _, p := range fw.paths {
		fw.tmp = append(fw.tmp, p+".partial")
	}
	if err := fw.open(0); err != nil {
		fw.Abort()
		return nil, err
	}
	return fw, nil
}

// Paths returns the final paths of the files being written.
func (fw *FileWriter) Paths() []string { return fw.paths }

func (fw *FileWriter) open(i int) error {
	f, err := os.Create(fw.tmp[i])
	if err != nil {
		return fmt.Errorf("gguf: %w", err)
	}
	w, err := NewWriter(f, fw.metas[i], fw.shards[i])
	if err != nil {
		f.Close()
		return fmt.Errorf("gguf: %s: %w", fw.paths[i], err)
	}
	fw.i, fw.f, fw.w = i, f, w
	return fw.finishShards()
}

// finishShards closes every shard whose tensors are complete and opens the next one.
func (fw *FileWriter) finishShards() error {
	for fw.w != nil && fw.w.Current() == len(fw.w.Tensors()) {
		if err := fw.w.Close(); err != nil {
			return fmt.Errorf("gguf: %s: %w", fw.paths[fw.i], err)
		}
		if err := fw.f.Close(); err != nil {
			return fmt.Errorf("gguf: %w", err)
		}
		fw.w, fw.f = nil, nil
		if fw.i+1 < len(fw.paths) {
			if err := fw.open(fw.i + 1); err != nil {
				return err
			}
		}
	}
	return nil
}

// Write appends tensor data in order across tensors and shards.
func (fw *FileWriter) Write(p []byte) (int, error) {
	total := 0
	for len(p) > 0 {
		if fw.w == nil {
			return total, fmt.Errorf("gguf: %d bytes written past the last tensor", len(p))
		}
		left := fw.shardLeft()
		k := min(int64(len(p)), left)
		n, err := fw.w.Write(p[:k])
		total += n
		fw.written += int64(n)
		p = p[n:]
		if err != nil {
			return total, fmt.Errorf("gguf: %s: %w", fw.paths[fw.i], err)
		}
		if err := fw.finishShards(); err != nil {
			return total, err
		}
	}
	return total, nil
}

// shardLeft returns the data bytes the current shard still expects.
func (fw *FileWriter) shardLeft() int64 {
	n := fw.w.left
	for _, t := range fw.w.Tensors()[fw.w.Current()+1:] {
		n += t.Size()
	}
	return n
}

// Close checks that all data was written and renames the files into place.
func (fw *FileWriter) Close() error {
	if fw.done {
		return nil
	}
	if fw.w != nil {
		err := fmt.Errorf("gguf: %s: closed before tensor %q was written", fw.paths[fw.i], fw.w.Tensors()[fw.w.Current()].Name)
		fw.Abort()
		return err
	}
	for i := range fw.paths {
		if err := os.Rename(fw.tmp[i], fw.paths[i]); err != nil {
			fw.Abort()
			return fmt.Errorf("gguf: %w", err)
		}
	}
	fw.done = true
	return nil
}

// Abort stops writing and removes every temporary file.
func (fw *FileWriter) Abort() {
	if fw.f != nil {
		fw.f.Close()
		fw.f, fw.w = nil, nil
	}
	if !fw.done {
		for _, p := range fw.tmp {
			os.Remove(p)
		}
	}
	fw.done = true
}
