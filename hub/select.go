package hub

import (
	"encoding/json"
	"fmt"
	"path"
	"regexp"
	"sort"
	"strings"
	"unicode/utf8"
)

// conversionMetadata are the small root files conversion reads besides weights: configs,
// tokenizer files in every format transformers uses, and chat templates.
var conversionMetadata = []string{
	"config.json",
	"generation_config.json",
	"tokenizer.json",
	"tokenizer_config.json",
	"tokenizer.model",
	"special_tokens_map.json",
	"added_tokens.json",
	"vocab.json",
	"vocab.txt",
	"merges.txt",
	"spiece.model",
	"sentencepiece.bpe.model",
	"*.tiktoken",
	"chat_template.json",
	"chat_template.jinja",
	"additional_chat_templates/*.jinja",
	"model.safetensors.index.json",
	"pytorch_model.bin.index.json",
}

// isConversionMetadata reports whether p is one of conversionMetadata.
func isConversionMetadata(p string) bool {
	for _, pat := range conversionMetadata {
		if fnmatch(pat, p) {
			if !strings.Contains(pat, "/") && strings.Contains(p, "/") {
				continue // root files only
			}
			return true
		}
	}
	return false
}

// weightIndex is the part of a *.index.json we read.
type weightIndex struct {
	WeightMap map[string]string `json:"weight_map"`
}

// indexShards returns the shard files a weights index names, sorted.
func indexShards(data []byte, indexPath string) ([]string, error) {
	var idx weightIndex
	if err := json.Unmarshal(data, &idx); err != nil {
		return nil, fmt.Errorf("hub: %s: %w", indexPath, err)
	}
	dir := path.Dir(indexPath)
	seen := map[string]bool{}
	var out []string
	for _, f := range idx.WeightMap {
		if dir != "." {
			f = dir + "/" + f
		}
		if validateRepoPath(f) != nil {
			return nil, fmt.Errorf("hub: %s: bad shard name %q", indexPath, f)
		}
		if !seen[f] {
			seen[f] = true
			out = append(out, f)
		}
	}
	sort.Strings(out)
	return out, nil
}

// weightPlan says which weight files conversion needs, given the repo's file list and, once
// fetched, the index. Safetensors win; pytorch_model*.bin only when there are none.
type weightPlan struct {
	index   string   // the index file to read first ("" when none)
	weights []string // known without the index
}

func planWeights(files []string) weightPlan {
	has := map[string]bool{}
	for _, f := range files {
		has[f] = true
	}
	var st, bin []string
	for _, f := range files {
		if strings.Contains(f, "/") {
			continue
		}
		switch {
		case strings.HasSuffix(f, ".safetensors"):
			st = append(st, f)
		case strings.HasPrefix(f, "pytorch_model") && strings.HasSuffix(f, ".bin"):
			bin = append(bin, f)
		}
	}
	switch {
	case len(st) > 0 && has["model.safetensors.index.json"]:
		return weightPlan{index: "model.safetensors.index.json"}
	case has["model.safetensors"]:
		return weightPlan{weights: []string{"model.safetensors"}}
	case len(st) > 0:
		return weightPlan{weights: st}
	case has["pytorch_model.bin.index.json"]:
		return weightPlan{index: "pytorch_model.bin.index.json"}
	case has["pytorch_model.bin"]:
		return weightPlan{weights: []string{"pytorch_model.bin"}}
	default:
		return weightPlan{weights: bin}
	}
}

// filterPatterns keeps the paths matching any include pattern (all when none) and no exclude
// pattern, as huggingface_hub's filter_repo_objects (allow_patterns / ignore_patterns).
func filterPatterns(paths, include, exclude []string) []string {
	var out []string
	for _, p := range paths {
		if len(include) > 0 && !matchAny(include, p) {
			continue
		}
		if matchAny(exclude, p) {
			continue
		}
		out = append(out, p)
	}
	return out
}

func matchAny(patterns []string, p string) bool {
	for _, pat := range patterns {
		if strings.HasSuffix(pat, "/") {
			pat += "*" // "dir/" means everything below it
		}
		if fnmatch(pat, p) {
			return true
		}
	}
	return false
}

// fnmatch is Python's fnmatch.fnmatch on POSIX: '*' and '?' also match '/', [seq] and
// [!seq] are character classes, and matching is case-sensitive.
func fnmatch(pattern, name string) bool {
	re, err := fnmatchRegexp(pattern)
	if err != nil {
		return pattern == name
	}
	return re.MatchString(name)
}

func fnmatchRegexp(pattern string) (*regexp.Regexp, error) {
	var b strings.Builder
	b.WriteString(`^(?s:`)
	for i := 0; i < len(pattern); i++ {
		ch := pattern[i]
		switch ch {
		case '*':
			b.WriteString(`.*`)
		case '?':
			b.WriteString(`.`)
		case '[':
			j := i + 1
			if j < len(pattern) && pattern[j] == '!' {
				j++
			}
			if j < len(pattern) && pattern[j] == ']' {
				j++
			}
			for j < len(pattern) && pattern[j] != ']' {
				j++
			}
			if j >= len(pattern) {
				b.WriteString(`\[`)
				continue
			}
			class := pattern[i+1 : j]
			i = j
			neg := strings.HasPrefix(class, "!")
			if neg {
				class = class[1:]
			}
			class = strings.ReplaceAll(class, `\`, `\\`)
			class = strings.ReplaceAll(class, `[`, `\[`)
			if strings.HasPrefix(class, "^") {
				class = `\` + class
			}
			if neg {
				b.WriteString(`[^` + class + `]`)
			} else {
				b.WriteString(`[` + class + `]`)
			}
		default:
			// the whole UTF-8 sequence: string(ch) would re-encode a byte of it as a rune
			_, size := utf8.DecodeRuneInString(pattern[i:])
			b.WriteString(regexp.QuoteMeta(pattern[i : i+size]))
			i += size - 1
		}
	}
	b.WriteString(`)$`)
	return regexp.Compile(b.String())
}
