package archmap

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Qwen families (llama.cpp conversion/qwen.py): Qwen2Model (qwen2), Qwen2MoeModel (qwen2moe),
// Qwen3Model (qwen3) and Qwen3MoeModel (qwen3moe).

type qwen2 struct{ qwen3 bool }

type qwen2moe struct {
	experts map[int]map[string]*Tensor
}

func init() {
	register("qwen2", func(c *Converter) (Family, error) { return &qwen2{}, nil },
		"Qwen2Model", "Qwen2ForCausalLM", "KORMoForCausalLM")
	register("qwen3", func(c *Converter) (Family, error) {
		if isQwen3Reranker(c) {
			return nil, fmt.Errorf("%w: %s: Qwen3 reranker models are not supported", ErrUnsupportedArch, c.Dir)
		}
		return &qwen2{qwen3: true}, nil
	}, "Qwen3ForCausalLM", "Qwen3Model")
	register("qwen2moe", func(c *Converter) (Family, error) { return &qwen2moe{}, nil }, "Qwen2MoeForCausalLM")
	register("qwen3moe", func(c *Converter) (Family, error) { return &qwen2moe{}, nil }, "Qwen3MoeForCausalLM")
}

// isQwen3Reranker mirrors Qwen3Model._is_qwen3_reranker.
func isQwen3Reranker(c *Converter) bool {
	if b, err := os.ReadFile(filepath.Join(c.Dir, "README.md")); err == nil {
		lower := strings.ToLower(string(b))
		if strings.Contains(lower, "# qwen3-reranker") || strings.Contains(lower, "# qwen3-vl-reranker") {
			return true
		}
	}
	hints := []string{c.dirName(), fmt.Sprint(c.HParams["_name_or_path"]), fmt.Sprint(c.HParams["model_type"]), c.HFArch}
	for _, h := range hints {
		h = strings.ToLower(h)
		if strings.Contains(h, "qwen3-reranker") || strings.Contains(h, "qwen3-vl-reranker") {
			return true
		}
	}
	return strings.Contains(strings.ToLower(c.HFArch), "sequenceclassification")
}

func (q *qwen2) SetVocab(c *Converter) error {
	if err := c.SentencePieceVocab(); err != nil {
		if !isNoFile(err) {
			return err
		}
		return c.GPT2Vocab()
	}
	return nil
}

func (q *qwen2) SetParams(c *Converter) error {
	if err := c.TextParams(); err != nil {
		return err
	}
	return c.poolingType()
}

func (q *qwen2) Modify(c *Converter, t *Tensor, name string, bid int) ([]*Tensor, error) {
	if c.HFArch == "Qwen2Model" {
		name = "model." + name
	}
	return c.MapTensor(t, name)
}

// poolingType mirrors _try_set_pooling_type: sentence-transformers pooling from modules.json.
func (c *Converter) poolingType() error {
	mods, err := loadJSONArray(filepath.Join(c.Dir, "modules.json"))
	if err != nil || mods == nil {
		return err
	}
	var path string
	for _, m := range mods {
		mm, _ := m.(map[string]any)
		if t, _ := mm["type"].(string); strings.HasSuffix(t, "Pooling") {
			path, _ = mm["path"].(string)
			break
		}
	}
	if path == "" {
		return nil
	}
	p, err := loadJSON(filepath.Join(c.Dir, path, "config.json"))
	if err != nil {
		return fmt.Errorf("archmap: pooling config: %w", err)
	}
	var typ int64
	switch {
	case truthy(p["pooling_mode_mean_tokens"]):
		typ = 1
	case truthy(p["pooling_mode_cls_token"]):
		typ = 2
	case truthy(p["pooling_mode_lasttoken"]):
		typ = 3
	default:
		switch p["pooling_mode"] {
		case "mean":
			typ = 1
		case "cls":
			typ = 2
		case "lasttoken":
			typ = 3
		default:
			return fmt.Errorf("%w: only MEAN, CLS and LAST pooling are supported", ErrConfig)
		}
	}
	c.AddUint32(c.K("pooling_type"), typ)
	return nil
}

func (q *qwen2moe) SetVocab(c *Converter) error { return c.GPT2Vocab() }

func (q *qwen2moe) SetParams(c *Converter) error {
	if err := c.TextParams(); err != nil {
		return err
	}
	if v, ok := c.HParams.Int("moe_intermediate_size"); ok {
		c.AddUint32(c.K("expert_feed_forward_length"), v)
	}
	if v, ok := c.HParams.Int("shared_expert_intermediate_size"); ok {
		c.AddUint32(c.K("expert_shared_feed_forward_length"), v)
	}
	return nil
}

func (q *qwen2moe) Modify(c *Converter, t *Tensor, name string, bid int) ([]*Tensor, error) {
	// Fused expert tensors (transformers >= 5 saves experts as one 3-D tensor per projection).
	if strings.HasSuffix(name, "mlp.experts.down_proj") || strings.HasSuffix(name, "mlp.experts.down_proj.weight") {
		if !strings.HasSuffix(name, ".weight") {
			name += ".weight"
		}
		return c.MapTensor(t, name)
	}
	if strings.HasSuffix(name, "mlp.experts.gate_up_proj") || strings.HasSuffix(name, "mlp.experts.gate_up_proj.weight") {
		if len(t.Shape) < 3 || t.Shape[len(t.Shape)-2]%2 != 0 {
			return nil, fmt.Errorf("archmap: unexpected gate_up_proj shape for %s: %v", name, t.Shape)
		}
		gate, up, err := splitPenultimate(t)
		if err != nil {
			return nil, err
		}
		base := strings.TrimSuffix(strings.TrimSuffix(name, ".weight"), ".gate_up_proj")
		g, err := c.MapTensor(gate, base+".gate_proj.weight")
		if err != nil {
			return nil, err
		}
		u, err := c.MapTensor(up, base+".up_proj.weight")
		if err != nil {
			return nil, err
		}
		return append(g, u...), nil
	}
	if strings.Contains(name, "experts") {
		nExp, ok := c.HParams.FindInt("num_local_experts", "num_experts")
		if !ok {
			return nil, fmt.Errorf("%w: num_experts missing", ErrConfig)
		}
		if bid < 0 {
			return nil, fmt.Errorf("archmap: expert tensor %q has no block number", name)
		}
		if q.experts == nil {
			q.experts = map[int]map[string]*Tensor{}
		}
		if q.experts[bid] == nil {
			q.experts[bid] = map[string]*Tensor{}
		}
		q.experts[bid][name] = t
		if int64(len(q.experts[bid])) < nExp*3 {
			return nil, nil
		}
		var out []*Tensor
		for _, w := range []string{"down_proj", "gate_proj", "up_proj"} {
			parts := make([]*Tensor, nExp)
			for x := range parts {
				ename := fmt.Sprintf("model.layers.%d.mlp.experts.%d.%s.weight", bid, x, w)
				p, ok := q.experts[bid][ename]
				if !ok {
					return nil, fmt.Errorf("archmap: block %d: expert tensor %q missing", bid, ename)
				}
				parts[x] = p
				delete(q.experts[bid], ename)
			}
			merged := fmt.Sprintf("model.layers.%d.mlp.experts.%s.weight", bid, w)
			st, err := Stack(merged, parts)
			if err != nil {
				return nil, err
			}
			m, err := c.MapTensor(st, merged)
			if err != nil {
				return nil, err
			}
			out = append(out, m...)
		}
		return out, nil
	}
	return c.MapTensor(t, name)
}

func (q *qwen2moe) Finish(c *Converter) error {
	var left []string
	for _, m := range q.experts {
		for k := range m {
			left = append(left, k)
		}
	}
	if len(left) > 0 {
		return fmt.Errorf("archmap: unprocessed experts: %v", left)
	}
	return nil
}

// splitPenultimate splits a [..., 2n, m] tensor into its [..., :n, :] and [..., n:, :] halves.
func splitPenultimate(t *Tensor) (*Tensor, *Tensor, error) {
	k := len(t.Shape) - 2
	n := t.Shape[k] / 2
	shape := append([]int64(nil), t.Shape...)
	shape[k] = n
	rowLen := t.RowLen()
	part := func(off int64) *Tensor {
		src := t.rows
		return t.derive(t.Name, shape, func(dst []float32, r0, cnt int) error {
			for r := r0; r < r0+cnt; r++ {
				o, i := r/int(n), r%int(n)
				srcRow := o*int(2*n) + int(off) + i
				if err := src(dst[(r-r0)*rowLen:(r-r0+1)*rowLen], srcRow, 1); err != nil {
					return err
				}
			}
			return nil
		})
	}
	return part(0), part(n), nil
}
