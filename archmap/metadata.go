package archmap

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"unicode"
)

// General is the provenance metadata llama.cpp's converter writes as general.* keys
// (gguf-py metadata.py), gathered from the model card, config.json and the directory name.
type General struct {
	Name, Author, Version, Organization, Finetune, Basename, Description, QuantizedBy, SizeLabel string
	License, LicenseName, LicenseLink                                                            string
	SourceURL, SourceDOI, SourceUUID, SourceRepoURL                                              string
	BaseModels                                                                                   []map[string]string
	Datasets                                                                                     []map[string]string
	Tags, Languages                                                                              []string
	hasTags, hasLanguages                                                                        bool

	sampling []samplingKV
}

type samplingKV struct {
	gguf  string
	value any // int64 or float64
	isInt bool
}

var (
	versionRE   = regexp.MustCompile(`(?i)^(v|iter)?\d+([.]\d+)*$`)
	quantTypeRE = regexp.MustCompile(`(?i)^(i?q\d(_\w)*|b?fp?(16|32))$`)
	sizeRE      = regexp.MustCompile(`(?i)^(([A]|\d+[x])?\d+([._]\d+)?[KMBT][\d]?|small|mini|medium|large|x?xl)$`)
	finetuneRE  = regexp.MustCompile(`(?i)^(chat|instruct|vision|lora)$`)
	titleSkipRE = regexp.MustCompile(`^(v\d+(?:\.\d+)*|\d.*)$`)
	hfURLRE     = regexp.MustCompile(`^https?://huggingface.co/([^/]+/[^/]+)$`)
)

// idToTitle mirrors Metadata.id_to_title: title-case lowercase words except versions/numbers.
func idToTitle(s string) string {
	words := strings.Fields(strings.ReplaceAll(strings.TrimSpace(s), "-", " "))
	for i, w := range words {
		if isLower(w) && !titleSkipRE.MatchString(w) {
			words[i] = pyTitle(w)
		}
	}
	return strings.Join(words, " ")
}

// isLower mirrors str.islower: at least one cased character and no uppercase ones.
func isLower(s string) bool {
	cased := false
	for _, r := range s {
		if unicode.IsUpper(r) || unicode.IsTitle(r) {
			return false
		}
		if unicode.IsLower(r) {
			cased = true
		}
	}
	return cased
}

// pyTitle mirrors str.title: uppercase the first letter of each run of letters.
func pyTitle(s string) string {
	var b strings.Builder
	prevCased := false
	for _, r := range s {
		if unicode.IsLetter(r) {
			if prevCased {
				b.WriteRune(unicode.ToLower(r))
			} else {
				b.WriteRune(unicode.ToTitle(r))
			}
			prevCased = true
		} else {
			b.WriteRune(r)
			prevCased = false
		}
	}
	return b.String()
}

// idComponents mirrors Metadata.get_model_id_components.
func idComponents(modelID string, totalParams int64) (full, org, basename, finetune, version, sizeLabel string) {
	if modelID == "" {
		return
	}
	if strings.Contains(modelID, " ") {
		return modelID, "", "", "", "", ""
	}
	full = modelID
	if i := strings.Index(modelID, "/"); i >= 0 {
		org, full = modelID[:i], modelID[i+1:]
	}
	if org != "" && org[0] == '.' {
		org = ""
	}
	var parts []string
	for _, p := range strings.Split(full, "-") {
		if p != "" {
			parts = append(parts, p)
		}
	}
	types := make([]map[string]bool, len(parts))
	for i, part := range parts {
		types[i] = map[string]bool{}
		switch {
		case versionRE.MatchString(part):
			types[i]["version"] = true
		case quantTypeRE.MatchString(part):
			types[i]["type"] = true
			parts[i] = strings.ToUpper(part)
		case i > 0 && sizeRE.MatchString(part):
			part = strings.ReplaceAll(part, "_", ".")
			if last := part[len(part)-1]; last >= '0' && last <= '9' && len(part) >= 2 {
				part = part[:len(part)-2] + "." + string(part[len(part)-1]) + string(part[len(part)-2])
			}
			if len(part) > 1 && part[len(part)-2] >= '0' && part[len(part)-2] <= '9' && strings.ContainsRune("kmbt", rune(part[len(part)-1])) {
				part = part[:len(part)-1] + strings.ToUpper(part[len(part)-1:])
			}
			if totalParams != 0 {
				if f, err := strconv.ParseFloat(part[:len(part)-1], 64); err == nil {
					label := f * math.Pow(1000, float64(strings.IndexByte(" KMBT", part[len(part)-1])))
					if (totalParams < 0 && label < float64(-totalParams/8)) ||
						(totalParams > 0 && math.Abs(label-float64(totalParams)) > float64(7*totalParams/8)) {
						types[i]["finetune"] = true
						part = part[:len(part)-1] + strings.ToLower(part[len(part)-1:])
					}
				}
			}
			if len(types[i]) == 0 {
				types[i]["size_label"] = true
			}
			parts[i] = part
		case i > 0 && finetuneRE.MatchString(part):
			if totalParams < 0 && strings.EqualFold(part, "lora") {
				types[i]["type"] = true
			} else {
				types[i]["finetune"] = true
			}
		}
	}
	// Ignore word-based size labels when a number-based one is present.
	numeric := false
	for i, p := range parts {
		if types[i]["size_label"] && strings.IndexFunc(p, func(r rune) bool { return r >= '0' && r <= '9' }) >= 0 {
			numeric = true
		}
	}
	if numeric {
		for i, p := range parts {
			if types[i]["size_label"] && strings.IndexFunc(p, func(r rune) bool { return !unicode.IsLetter(r) }) < 0 {
				delete(types[i], "size_label")
			}
		}
	}
	atStart := true
	for i, p := range parts {
		t := types[i]
		if atStart && ((len(t) == 0 && unicode.IsLetter([]rune(p)[0])) || t["version"]) {
			t["basename"] = true
		} else {
			atStart = false
			if len(t) == 0 {
				t["finetune"] = true
			}
		}
	}
	for i := len(parts) - 1; i >= 0; i-- {
		if types[i]["basename"] && len(types[i]) > 1 {
			delete(types[i], "basename")
		} else {
			break
		}
	}
	join := func(key string, exclude string, dedupe bool) string {
		var out []string
		seen := map[string]bool{}
		for i, p := range parts {
			if types[i][key] && (exclude == "" || !types[i][exclude]) {
				if dedupe && seen[p] {
					continue
				}
				seen[p] = true
				out = append(out, p)
			}
		}
		return strings.Join(out, "-")
	}
	basename = join("basename", "", false)
	sizeLabel = join("size_label", "", true)
	finetune = join("finetune", "", false)
	version = join("version", "basename", false)
	if sizeLabel == "" && finetune == "" && version == "" {
		basename = ""
	}
	return
}

// weightCountNotation mirrors gguf.utility.model_weight_count_rounded_notation.
func weightCountNotation(n int64, minDigits int) string {
	f := float64(n)
	var scaled float64
	var suffix string
	switch {
	case f > 1e12:
		scaled, suffix = f*1e-12, "T"
	case f > 1e9:
		scaled, suffix = f*1e-9, "B"
	case f > 1e6:
		scaled, suffix = f*1e-6, "M"
	default:
		scaled, suffix = f*1e-3, "K"
	}
	rounded := strings.TrimLeft(strconv.FormatInt(int64(math.RoundToEven(scaled)), 10), "0")
	fix := max(minDigits-len(rounded), 0)
	return strconv.FormatFloat(scaled, 'f', fix, 64) + suffix
}

// SizeLabel mirrors gguf.utility.size_label.
func SizeLabel(total, shared, expert int64, nExpert int) string {
	if nExpert > 0 {
		return fmt.Sprintf("%dx%s", nExpert, weightCountNotation(abs64(shared)+abs64(expert), 2))
	}
	return weightCountNotation(abs64(total), 2)
}

func abs64(x int64) int64 {
	if x < 0 {
		return -x
	}
	return x
}

// NamingConvention mirrors gguf.utility.naming_convention (the GGUF file naming convention):
// <BaseName>-<SizeLabel>-<FineTune>-<Version>-<Encoding>.
func NamingConvention(name, basename, finetune, version, sizeLabel, outputType string) string {
	n := "ggml-model"
	switch {
	case basename != "":
		n = strings.NewReplacer(" ", "-", "/", "-").Replace(strings.TrimSpace(basename))
	case name != "":
		n = strings.NewReplacer(" ", "-", "/", "-").Replace(strings.TrimSpace(name))
	}
	if sizeLabel != "" {
		n += "-" + sizeLabel
	}
	if finetune != "" {
		n += "-" + strings.ReplaceAll(strings.TrimSpace(finetune), " ", "-")
	}
	if version != "" {
		n += "-" + strings.ReplaceAll(strings.TrimSpace(version), " ", "-")
	}
	if outputType != "" {
		n += "-" + strings.ToUpper(strings.ReplaceAll(strings.TrimSpace(outputType), " ", "-"))
	}
	return n
}

// loadGeneral mirrors Metadata.load (without an override file).
func (c *Converter) loadGeneral(totalParams int64) *General {
	g := &General{}
	card := readModelCard(filepath.Join(c.Dir, "README.md"))
	str := func(key string) (string, bool) {
		v, ok := card[key]
		if !ok {
			return "", false
		}
		switch x := v.(type) {
		case string:
			return x, true
		case []any:
			if key == "license" {
				var parts []string
				for _, e := range x {
					parts = append(parts, fmt.Sprint(e))
				}
				return strings.Join(parts, ","), true
			}
		}
		return fmt.Sprint(v), true
	}
	use := func(dst *string, key string) {
		if *dst != "" {
			return
		}
		if v, ok := str(key); ok {
			*dst = v
		}
	}
	for _, p := range []struct {
		dst  *string
		keys []string
	}{
		{&g.Name, []string{"name"}}, {&g.Author, []string{"author"}}, {&g.Version, []string{"version"}},
		{&g.Organization, []string{"organization"}}, {&g.Description, []string{"description"}},
		{&g.Finetune, []string{"finetune"}}, {&g.Basename, []string{"basename"}}, {&g.SizeLabel, []string{"size_label"}},
		{&g.SourceURL, []string{"url"}}, {&g.SourceDOI, []string{"doi"}}, {&g.SourceUUID, []string{"uuid"}},
		{&g.SourceRepoURL, []string{"repo_url"}},
		{&g.Name, []string{"model_name"}}, {&g.Author, []string{"model_author"}}, {&g.Version, []string{"model_version"}},
		{&g.Organization, []string{"model_organization"}}, {&g.Description, []string{"model_description"}},
		{&g.Finetune, []string{"model_finetune"}}, {&g.Basename, []string{"model_basename"}},
		{&g.SizeLabel, []string{"model_size_label"}}, {&g.SourceURL, []string{"model_url"}},
		{&g.SourceDOI, []string{"model_doi"}}, {&g.SourceUUID, []string{"model_uuid"}},
		{&g.SourceRepoURL, []string{"model_repo_url"}}, {&g.Author, []string{"model_creator"}},
		{&g.Basename, []string{"model_type"}},
	} {
		for _, k := range p.keys {
			use(p.dst, k)
		}
	}
	if v := firstPresent(card, "base_model", "base_models", "base_model_sources"); v != nil {
		for _, id := range listOf(v) {
			g.BaseModels = append(g.BaseModels, sourceEntry(id, totalParams))
		}
		if g.BaseModels == nil {
			g.BaseModels = []map[string]string{}
		}
	}
	if v := firstPresent(card, "datasets", "dataset", "dataset_sources"); v != nil {
		for _, id := range listOf(v) {
			g.Datasets = append(g.Datasets, sourceEntry(id, totalParams))
		}
		if g.Datasets == nil {
			g.Datasets = []map[string]string{}
		}
	}
	use(&g.License, "license")
	use(&g.LicenseName, "license_name")
	use(&g.LicenseLink, "license_link")
	for _, k := range []string{"tags", "pipeline_tag"} {
		if v, ok := card[k]; ok && v != nil {
			g.hasTags = true
			g.Tags = append(g.Tags, stringsOf(v)...)
		}
	}
	for _, k := range []string{"languages", "language"} {
		if v, ok := card[k]; ok && v != nil {
			g.hasLanguages = true
			g.Languages = append(g.Languages, stringsOf(v)...)
		}
	}
	apply := func(id string) {
		full, org, base, ft, ver, size := idComponents(id, totalParams)
		if g.Name == "" && full != "" {
			g.Name = idToTitle(full)
		}
		if g.Organization == "" && org != "" {
			g.Organization = idToTitle(org)
		}
		if g.Basename == "" && base != "" {
			g.Basename = base
		}
		if g.Finetune == "" && ft != "" {
			g.Finetune = ft
		}
		if g.Version == "" && ver != "" {
			g.Version = ver
		}
		if g.SizeLabel == "" && size != "" {
			g.SizeLabel = size
		}
	}
	if s, ok := c.HParams.Str("_name_or_path"); ok && strings.Count(s, "/") <= 1 {
		apply(s)
	}
	apply(c.dirName())
	// Sampling defaults from generation_config.json.
	if gen, err := loadJSON(filepath.Join(c.Dir, "generation_config.json")); err == nil {
		for _, s := range []struct{ key, gguf string }{
			{"sequence", "general.sampling.sequence"}, {"top_k", "general.sampling.top_k"}, {"top_p", "general.sampling.top_p"},
			{"min_p", "general.sampling.min_p"}, {"xtc_probability", "general.sampling.xtc_probability"},
			{"xtc_threshold", "general.sampling.xtc_threshold"}, {"temperature", "general.sampling.temp"},
			{"penalty_last_n", "general.sampling.penalty_last_n"}, {"repetition_penalty", "general.sampling.penalty_repeat"},
			{"mirostat", "general.sampling.mirostat"}, {"mirostat_tau", "general.sampling.mirostat_tau"},
			{"mirostat_eta", "general.sampling.mirostat_eta"},
		} {
			key := s.key
			if key == "repetition_penalty" {
				if _, ok := gen["penalty_repeat"]; ok {
					key = "penalty_repeat"
				}
			}
			v, ok := gen[key]
			if !ok || v == nil {
				continue
			}
			g.sampling = append(g.sampling, samplingKV{s.gguf, v, isJSONInt(v)})
		}
	}
	if c.opts.ModelName != "" {
		g.Name = c.opts.ModelName
	}
	return g
}

// dirName is the name the converter's heuristics see: the directory's, or the Hub repo's.
func (c *Converter) dirName() string {
	if c.opts.RepoID != "" {
		if i := strings.LastIndex(c.opts.RepoID, "/"); i >= 0 {
			return c.opts.RepoID[i+1:]
		}
		return c.opts.RepoID
	}
	abs, err := filepath.Abs(c.Dir)
	if err != nil {
		abs = c.Dir
	}
	return filepath.Base(abs)
}

func listOf(v any) []any {
	switch x := v.(type) {
	case []any:
		return x
	case nil:
		return nil
	}
	return []any{v}
}

func stringsOf(v any) []string {
	var out []string
	for _, e := range listOf(v) {
		out = append(out, fmt.Sprint(e))
	}
	return out
}

// sourceEntry turns a base_model/dataset id into the converter's dict.
func sourceEntry(v any, totalParams int64) map[string]string {
	e := map[string]string{}
	switch x := v.(type) {
	case map[string]any:
		for k, val := range x {
			e[k] = fmt.Sprint(val)
		}
	case string:
		if strings.HasPrefix(x, "http://") || strings.HasPrefix(x, "https://") || strings.HasPrefix(x, "ssh://") {
			e["repo_url"] = x
			if m := hfURLRE.FindStringSubmatch(x); m != nil && strings.Contains(x, "huggingface.co") {
				full, org, _, _, ver, _ := idComponents(m[1], totalParams)
				if full != "" {
					e["name"] = idToTitle(full)
				}
				if org != "" {
					e["organization"] = idToTitle(org)
				}
				if ver != "" {
					e["version"] = ver
				}
			}
			return e
		}
		full, org, _, _, ver, _ := idComponents(x, totalParams)
		if full != "" {
			e["name"] = idToTitle(full)
		}
		if org != "" {
			e["organization"] = idToTitle(org)
		}
		if ver != "" {
			e["version"] = ver
		}
		if org != "" && full != "" {
			e["repo_url"] = "https://huggingface.co/" + org + "/" + full
		}
	}
	return e
}

// setGeneral writes the general.* keys (Metadata.set_gguf_meta_model) after computing the size
// label from the planned tensors.
func (c *Converter) setGeneral() error {
	total, shared, expert, nExpert := c.ParamCounts()
	g := c.loadGeneral(total)
	if g.Name == "" {
		g.Name = c.dirName()
	}
	if g.SizeLabel == "" && total > 0 {
		g.SizeLabel = SizeLabel(total, shared, expert, nExpert)
	}
	c.General = g
	for _, s := range g.sampling {
		switch s.gguf {
		case "general.sampling.sequence":
			c.AddString(s.gguf, fmt.Sprint(s.value))
		case "general.sampling.top_k", "general.sampling.penalty_last_n", "general.sampling.mirostat":
			if n, ok := asInt(s.value); ok {
				c.AddInt32(s.gguf, n)
			}
		default:
			if f, ok := asFloat(s.value); ok {
				c.AddFloat32(s.gguf, f)
			}
		}
	}
	c.AddString("general.name", g.Name)
	c.AddString("general.author", g.Author)
	c.AddString("general.version", g.Version)
	c.AddString("general.organization", g.Organization)
	c.AddString("general.finetune", g.Finetune)
	c.AddString("general.basename", g.Basename)
	c.AddString("general.description", g.Description)
	c.AddString("general.quantized_by", g.QuantizedBy)
	c.AddString("general.size_label", g.SizeLabel)
	c.AddString("general.license", g.License)
	c.AddString("general.license.name", g.LicenseName)
	c.AddString("general.license.link", g.LicenseLink)
	c.AddString("general.source.url", g.SourceURL)
	c.AddString("general.source.doi", g.SourceDOI)
	c.AddString("general.source.uuid", g.SourceUUID)
	c.AddString("general.source.repo_url", g.SourceRepoURL)
	entries := func(prefix, countKey string, list []map[string]string) {
		if list == nil {
			return
		}
		c.AddUint32(countKey, int64(len(list)))
		for i, e := range list {
			for _, f := range []string{"name", "author", "version", "organization", "description", "url", "doi", "uuid", "repo_url"} {
				if v, ok := e[f]; ok {
					c.AddString(fmt.Sprintf("%s.%d.%s", prefix, i, f), v)
				}
			}
		}
	}
	entries("general.base_model", "general.base_model.count", g.BaseModels)
	entries("general.dataset", "general.dataset.count", g.Datasets)
	if g.hasTags {
		c.AddStrings("general.tags", g.Tags)
	}
	if g.hasLanguages {
		c.AddStrings("general.languages", g.Languages)
	}
	return nil
}

// readModelCard parses the YAML front matter of a model card: the subset model cards use
// (scalars, block lists, inline lists, one level of mappings in lists).
func readModelCard(path string) map[string]any {
	b, err := os.ReadFile(path)
	if err != nil {
		return map[string]any{}
	}
	lines := strings.Split(strings.ReplaceAll(string(b), "\r\n", "\n"), "\n")
	if len(lines) == 0 || lines[0] != "---" {
		return map[string]any{}
	}
	var body []string
	for _, l := range lines[1:] {
		if l == "---" {
			break
		}
		body = append(body, strings.ReplaceAll(l, "\t", "  "))
	}
	out := map[string]any{}
	var key string
	var list []any
	flush := func() {
		if key != "" && list != nil {
			out[key] = list
		}
		key, list = "", nil
	}
	for _, l := range body {
		trimmed := strings.TrimSpace(l)
		if trimmed == "" || strings.HasPrefix(trimmed, "#") {
			continue
		}
		if strings.HasPrefix(trimmed, "- ") || trimmed == "-" {
			if key != "" {
				item := strings.TrimSpace(strings.TrimPrefix(trimmed, "-"))
				if k, v, ok := strings.Cut(item, ": "); ok && !strings.HasPrefix(item, `"`) && !strings.HasPrefix(item, "'") {
					list = append(list, map[string]any{strings.TrimSpace(k): yamlScalar(v)})
				} else {
					list = append(list, yamlScalar(item))
				}
			}
			continue
		}
		if l[0] == ' ' {
			// continuation of a mapping inside a list item
			if key != "" && len(list) > 0 {
				if m, ok := list[len(list)-1].(map[string]any); ok {
					if k, v, ok := strings.Cut(trimmed, ": "); ok {
						m[strings.TrimSpace(k)] = yamlScalar(v)
					}
				}
			}
			continue
		}
		flush()
		k, v, ok := strings.Cut(l, ":")
		if !ok {
			continue
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if v == "" {
			key, list = k, []any{}
			continue
		}
		if strings.HasPrefix(v, "[") && strings.HasSuffix(v, "]") {
			var items []any
			for _, it := range strings.Split(v[1:len(v)-1], ",") {
				if it = strings.TrimSpace(it); it != "" {
					items = append(items, yamlScalar(it))
				}
			}
			out[k] = items
			continue
		}
		out[k] = yamlScalar(v)
	}
	flush()
	return out
}

func yamlScalar(s string) any {
	s = strings.TrimSpace(s)
	if len(s) >= 2 && (s[0] == '"' && s[len(s)-1] == '"' || s[0] == '\'' && s[len(s)-1] == '\'') {
		return s[1 : len(s)-1]
	}
	if i := strings.Index(s, " #"); i >= 0 {
		s = strings.TrimSpace(s[:i])
	}
	switch s {
	case "null", "~", "":
		return nil
	case "true", "True":
		return true
	case "false", "False":
		return false
	}
	return s
}
