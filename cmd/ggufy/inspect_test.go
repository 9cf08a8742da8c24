package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"testing"
)

// TestInspectJSONMatchesOracle compares `ggufy inspect --json` with what the llama.cpp oracle's
// meta command (llama_oracle.py meta, saved in testdata) reports for the same file: every key
// with its type and value (arrays by length, head and sha256 of the stored elements) and every
// tensor's type, dims, offsets, size and sha256.
func TestInspectJSONMatchesOracle(t *testing.T) {
	var out bytes.Buffer
	app := newApp()
	app.Writer = &out
	if err := app.Run([]string{"ggufy", "inspect", "--json", "../../testdata/ref/stories260k.f32.gguf"}); err != nil {
		t.Fatal(err)
	}
	var got, want map[string]any
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile("../../testdata/ref/stories260k.f32.oracle-meta.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"file_size", "version", "n_kv", "n_tensors", "alignment", "data_offset"} {
		if fmt.Sprint(got[k]) != fmt.Sprint(want[k]) {
			t.Errorf("%s: got %v, want %v", k, got[k], want[k])
		}
	}
	gkv, wkv := got["kv"].(map[string]any), want["kv"].(map[string]any)
	if len(gkv) != len(wkv) {
		t.Errorf("%d keys, oracle has %d", len(gkv), len(wkv))
	}
	for k, wv := range wkv {
		if gv, ok := gkv[k]; !ok {
			t.Errorf("key %s missing", k)
		} else if !reflect.DeepEqual(gv, wv) {
			t.Errorf("key %s: got %v, want %v", k, gv, wv)
		}
	}
	gt, wt := got["tensors"].([]any), want["tensors"].([]any)
	if len(gt) != len(wt) {
		t.Fatalf("%d tensors, oracle has %d", len(gt), len(wt))
	}
	for i := range wt {
		g, w := gt[i].(map[string]any), wt[i].(map[string]any)
		for _, f := range []string{"name", "type", "ne", "shape", "offset", "file_offset", "nbytes", "sha256"} {
			if !reflect.DeepEqual(g[f], w[f]) {
				t.Errorf("tensor %v: %s: got %v, want %v", w["name"], f, g[f], w[f])
			}
		}
	}
	if !reflect.DeepEqual(got["summary"], want["summary"]) {
		t.Errorf("summary: got %v, want %v", got["summary"], want["summary"])
	}
}

func TestInspectCheckpoint(t *testing.T) {
	var out bytes.Buffer
	app := newApp()
	app.Writer = &out
	if err := app.Run([]string{"ggufy", "inspect", "--json", "../../testdata/models/tiny-trained"}); err != nil {
		t.Fatal(err)
	}
	var r checkpointReport
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		t.Fatal(err)
	}
	if r.Architecture != "LlamaForCausalLM" || len(r.Tensors) != 39 || len(r.Files) != 2 || r.DTypeCounts["BF16"] != 39 {
		t.Errorf("got %s, %d tensors in %d files, dtypes %v", r.Architecture, len(r.Tensors), len(r.Files), r.DTypeCounts)
	}
	if r.Config["hidden_size"] != float64(256) {
		t.Errorf("hidden_size %v", r.Config["hidden_size"])
	}
}
