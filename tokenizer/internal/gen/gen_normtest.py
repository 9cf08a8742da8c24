"""Generate tokenizer/testdata/normtest.json: strings with their NFC, NFD, NFKC and NFKD forms by
Python's unicodedata (the same Unicode version as normdata.go), for norm_test.go.

    /usr/bin/python3 tokenizer/internal/gen/gen_normtest.py > tokenizer/testdata/normtest.json
"""
import json, random, unicodedata

random.seed(1)
decomposable = [c for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF and unicodedata.decomposition(chr(c))]
marks = [c for c in range(0x300, 0x370)] + [0x0323, 0x0345, 0x05B0, 0x05BC, 0x093C, 0x094D, 0x09BC, 0x09BE, 0x09D7,
         0x0B3E, 0x0B56, 0x0B57, 0x0BBE, 0x0CD5, 0x0D3E, 0x0DCF, 0x102E, 0x1B35, 0x302A, 0x3099, 0x309A, 0x1D165, 0x1D16E]
bases = [ord(c) for c in "aAeEoOuUnNcCsSzZiIyY"] + [0x0391, 0x03B1, 0x03C9, 0x0415, 0x0435, 0x0627, 0x0648, 0x064A,
         0x0915, 0x09C7, 0x0B47, 0x0BC6, 0x0CC6, 0x0D46, 0x0DD9, 0x1025, 0x1B05, 0x304B, 0x30CF, 0x1100, 0x1161, 0x11A8,
         0xAC00, 0xAC01, 0xD7A3, 0x00A0, 0xFB01, 0x2460, 0x00B2, 0x3000, 0xFF21, 0x2126, 0x212B, 0x1E9B, 0x0F71, 0x0F72]
pool = marks + bases + random.sample(decomposable, 200)
cases = []
for c in random.sample(decomposable, 500):
    cases.append(chr(c))
for _ in range(700):
    cases.append("".join(chr(random.choice(pool)) for _ in range(random.randint(1, 6))))
cases += ["", "plain ascii", "e\u0301", "\u1e0b\u0323", "\u0071\u0307\u0323", "\ud4db", "\u1111\u1171\u11b6", "\u00c5\u212b",
          "\u0344", "\u0f73", "\u0345\u0300a"]
out = [[s, unicodedata.normalize("NFC", s), unicodedata.normalize("NFD", s),
        unicodedata.normalize("NFKC", s), unicodedata.normalize("NFKD", s)] for s in cases]
print(json.dumps({"_comment": "Python unicodedata %s; see internal/gen/gen_normtest.py" % unicodedata.unidata_version,
                  "cases": out}, ensure_ascii=False))
