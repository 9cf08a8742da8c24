package archmap

import (
	"strconv"
	"strings"
)

// nameEntry maps a Hugging Face tensor name (without .weight/.bias; block names contain
// "{bid}") to a tensor kind (MODEL_TENSOR in gguf-py, e.g. "ATTN_Q").
type nameEntry struct {
	hf   string
	kind string
}

// tensorTable is one GGUF architecture's tensor vocabulary: the kinds it declares (kind -> GGUF
// name pattern) and the HF names that map onto them, in the converter's table order.
type tensorTable struct {
	kinds  map[string]string
	global []nameEntry
	block  []nameEntry
}

// nameMap is the flat lookup table the converter builds for an architecture and block count
// (gguf-py TensorNameMap): HF name or GGUF name -> (kind, GGUF name).
type nameMap struct {
	table   *tensorTable
	mapping map[string][2]string
}

func newNameMap(arch string, nBlocks int) *nameMap {
	t := tensorTables[arch]
	m := &nameMap{table: t, mapping: map[string][2]string{}}
	if t == nil {
		return m
	}
	// Same construction order as TensorNameMap.__init__: global kinds (GGUF name, then HF
	// aliases), then per block; later assignments win.
	for _, e := range t.global {
		gg := t.kinds[e.kind]
		m.mapping[gg] = [2]string{e.kind, gg}
		m.mapping[e.hf] = [2]string{e.kind, gg}
	}
	for bid := 0; bid < nBlocks; bid++ {
		b := strconv.Itoa(bid)
		for _, e := range t.block {
			gg := strings.ReplaceAll(t.kinds[e.kind], "{bid}", b)
			m.mapping[gg] = [2]string{e.kind, gg}
			m.mapping[strings.ReplaceAll(e.hf, "{bid}", b)] = [2]string{e.kind, gg}
		}
	}
	return m
}

// lookup maps an HF tensor name to its kind and GGUF name, trying the name as is, then without
// each of the suffixes (re-appended to the result), as TensorNameMap.get_type_and_name does.
func (m *nameMap) lookup(name string, suffixes ...string) (kind, gguf string, ok bool) {
	if r, ok := m.mapping[name]; ok {
		return r[0], r[1], true
	}
	for _, s := range suffixes {
		if strings.HasSuffix(name, s) {
			if r, ok := m.mapping[strings.TrimSuffix(name, s)]; ok {
				return r[0], r[1] + s, true
			}
		}
	}
	return "", "", false
}

// hasKind reports whether the architecture declares a tensor kind.
func (m *nameMap) hasKind(kind string) bool {
	_, ok := m.table.kinds[kind]
	return ok
}

// format returns the GGUF name of a kind for block bid (-1 for global kinds) with a suffix
// (format_tensor_name). It returns "" when the architecture lacks the kind.
func (m *nameMap) format(kind string, bid int, suffix string) string {
	p, ok := m.table.kinds[kind]
	if !ok {
		return ""
	}
	if strings.Contains(p, "{bid}") {
		p = strings.ReplaceAll(p, "{bid}", strconv.Itoa(bid))
	}
	return p + suffix
}

// matches reports whether name is the GGUF name of kind in block bid (match_model_tensor_name).
func (m *nameMap) matches(name, kind string, bid int, suffix string) bool {
	p, ok := m.table.kinds[kind]
	if !ok {
		return false
	}
	if strings.Contains(p, "{bid}") {
		if bid < 0 {
			return false
		}
		p = strings.ReplaceAll(p, "{bid}", strconv.Itoa(bid))
	} else if bid >= 0 {
		return false
	}
	return name == p+suffix
}
