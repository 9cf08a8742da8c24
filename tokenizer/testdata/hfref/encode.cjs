// Reference tokenization for hfref_test.go with tokenizers.js (@huggingface/tokenizers, the
// tokenizers of transformers.js), installed by scripts/tokenizers.sh.
//
// stdin:  {"dir": "<folder with tokenizer.json and tokenizer_config.json>", "texts": ["...", ...]}
// stdout: {"with_special": [[ids]...], "without_special": [[ids]...], "decoded": ["..."]}
//         decoded = decode(with_special ids, {skip_special_tokens: true})
"use strict";
const fs = require("fs");
const path = require("path");

const home = process.env.GGUFY_TOKENIZERS;
if (!home) {
  console.error('GGUFY_TOKENIZERS is not set: eval "$(scripts/tokenizers.sh)"');
  process.exit(2);
}
const { Tokenizer } = require(path.join(home, "js/node_modules/@huggingface/tokenizers"));

const req = JSON.parse(fs.readFileSync(0, "utf8"));
const tj = JSON.parse(fs.readFileSync(path.join(req.dir, "tokenizer.json"), "utf8"));
const cfgPath = path.join(req.dir, "tokenizer_config.json");
const cfg = fs.existsSync(cfgPath) ? JSON.parse(fs.readFileSync(cfgPath, "utf8")) : {};
const tok = new Tokenizer(tj, cfg);
const out = { with_special: [], without_special: [], decoded: [] };
for (const text of req.texts) {
  const w = tok.encode(text, { add_special_tokens: true }).ids;
  out.with_special.push(w);
  out.without_special.push(tok.encode(text, { add_special_tokens: false }).ids);
  out.decoded.push(w.length ? tok.decode(w, { skip_special_tokens: true }) : "");
}
process.stdout.write(JSON.stringify(out));
