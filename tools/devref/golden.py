#!/usr/bin/python3
"""Writes testdata/families/generator_golden.json: sha256 of gen.py's bytes for a set of names, sizes,
kinds and dtypes (F16 with a million elements reaches subnormals), and the first values' bits, so Go's
internal/testmodel generator is checked against numpy without weights.json.
Usage: tools/devref/golden.py [OUT]"""
import json, os, sys
import numpy as np
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gen

out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), '..', '..', 'testdata', 'families', 'generator_golden.json')
cases = []
for name, n in [('model.embed_tokens.weight', 1 << 20), ('model.layers.0.input_layernorm.weight', 64),
                ('transformer.h.1.ln_2.bias', 3), ('x', 1), ('empty', 0), ('ünïcødé.权重', 1000)]:
    for kind in ('weight', 'norm', 'norm0'):
        for dt in ('F32', 'F16', 'BF16'):
            b = gen.tensor_bytes(name, [n], dt, kind)
            cases.append({'name': name, 'n': n, 'kind': kind, 'dtype': dt, 'sha256': gen.sha256_hex(b),
                          'first_f64': [float(x) for x in gen.values_f64(name, min(n, 4), kind)]})
json.dump({'generator': 'tools/devref/gen.py', 'numpy': np.__version__, 'cases': cases}, open(out, 'w'), indent=1, ensure_ascii=False)
print(out, len(cases))
