package archmap

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
)

// HParams is a model's config.json (with text_config merged into the top level, as the
// converter does). Numbers keep their JSON spelling so that integers and floats stay apart.
type HParams map[string]any

// loadJSON reads a JSON object with numbers as json.Number.
func loadJSON(path string) (map[string]any, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return decodeJSON(b, path)
}

func decodeJSON(b []byte, name string) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("archmap: %s: %w", name, err)
	}
	return m, nil
}

// loadHParams reads dir/config.json and merges text_config into the top level.
func loadHParams(dir string) (HParams, error) {
	m, err := loadJSON(filepath.Join(dir, "config.json"))
	if err != nil {
		return nil, fmt.Errorf("archmap: %w", err)
	}
	// Some multimodal configs nest the text model under other names.
	for _, alias := range []string{"llm_config"} {
		if v, ok := m[alias]; ok {
			if _, has := m["text_config"]; !has {
				m["text_config"] = v
			}
		}
	}
	if tc, ok := m["text_config"].(map[string]any); ok {
		for k, v := range tc {
			m[k] = v
		}
	}
	return HParams(m), nil
}

// Has reports whether key is present (even if null).
func (h HParams) Has(key string) bool { _, ok := h[key]; return ok }

// Find returns the value of the first of keys present (find_hparam).
func (h HParams) Find(keys ...string) (any, bool) {
	for _, k := range keys {
		if v, ok := h[k]; ok {
			return v, true
		}
	}
	return nil, false
}

// Int returns key as an integer (false if absent, null or not an integer).
func (h HParams) Int(key string) (int64, bool) { return asInt(h[key]) }

// Float returns key as a number (false if absent, null or not a number).
func (h HParams) Float(key string) (float64, bool) { return asFloat(h[key]) }

// Str returns key as a string.
func (h HParams) Str(key string) (string, bool) {
	s, ok := h[key].(string)
	return s, ok
}

// Bool returns key as a bool.
func (h HParams) Bool(key string) (bool, bool) {
	b, ok := h[key].(bool)
	return b, ok
}

// Map returns key as a JSON object.
func (h HParams) Map(key string) (map[string]any, bool) {
	m, ok := h[key].(map[string]any)
	return m, ok
}

// FindInt returns the first of keys as an integer.
func (h HParams) FindInt(keys ...string) (int64, bool) {
	v, ok := h.Find(keys...)
	if !ok {
		return 0, false
	}
	return asInt(v)
}

// FindFloat returns the first of keys as a number.
func (h HParams) FindFloat(keys ...string) (float64, bool) {
	v, ok := h.Find(keys...)
	if !ok {
		return 0, false
	}
	return asFloat(v)
}

// MustInt returns key as an integer or an error naming the key.
func (h HParams) MustInt(key string) (int64, error) {
	v, ok := h.Int(key)
	if !ok {
		return 0, fmt.Errorf("%w: config.json: %q is missing or not an integer", ErrConfig, key)
	}
	return v, nil
}

func asInt(v any) (int64, bool) {
	switch x := v.(type) {
	case json.Number:
		if i, err := strconv.ParseInt(string(x), 10, 64); err == nil {
			return i, true
		}
		// Python's int() of a float like 4096.0 in configs is rare; accept integral floats.
		if f, err := x.Float64(); err == nil && f == math.Trunc(f) && math.Abs(f) < 1<<53 {
			return int64(f), true
		}
	case float64:
		if x == math.Trunc(x) {
			return int64(x), true
		}
	case int64:
		return x, true
	case int:
		return int64(x), true
	}
	return 0, false
}

func asFloat(v any) (float64, bool) {
	switch x := v.(type) {
	case json.Number:
		f, err := x.Float64()
		return f, err == nil
	case float64:
		return x, true
	case int64:
		return float64(x), true
	case int:
		return float64(x), true
	}
	return 0, false
}

// isJSONInt reports whether v is an integer in JSON (Python int rather than float).
func isJSONInt(v any) bool {
	n, ok := v.(json.Number)
	if !ok {
		return false
	}
	_, err := strconv.ParseInt(string(n), 10, 64)
	return err == nil
}

// truthy mirrors Python truthiness for JSON values.
func truthy(v any) bool {
	switch x := v.(type) {
	case nil:
		return false
	case bool:
		return x
	case string:
		return x != ""
	case json.Number:
		f, _ := x.Float64()
		return f != 0
	case []any:
		return len(x) > 0
	case map[string]any:
		return len(x) > 0
	}
	return true
}

// loadJSONArray reads a JSON array file (nil, nil if it does not exist).
func loadJSONArray(path string) ([]any, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var a []any
	if err := dec.Decode(&a); err != nil {
		return nil, fmt.Errorf("archmap: %s: %w", path, err)
	}
	return a, nil
}
