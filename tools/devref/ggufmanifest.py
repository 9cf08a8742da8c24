"""GGUF manifest writer: every KV, every tensor's info with sha256 of its data, data offset, file sha256.
Same JSON layout as the fixtures' manifests (so they compare key for key): arrays longer than 16 are
summarised as count, first 8, last 4 and the sha256 of their JSON list."""
import hashlib, json, struct

_KV = {0: ('u8', '<B'), 1: ('i8', '<b'), 2: ('u16', '<H'), 3: ('i16', '<h'), 4: ('u32', '<I'), 5: ('i32', '<i'),
       6: ('f32', '<f'), 7: ('bool', '<?'), 8: ('str', None), 9: ('arr', None), 10: ('u64', '<Q'), 11: ('i64', '<q'),
       12: ('f64', '<d')}
_GT = {0: 'F32', 1: 'F16', 2: 'Q4_0', 3: 'Q4_1', 6: 'Q5_0', 7: 'Q5_1', 8: 'Q8_0', 9: 'Q8_1', 10: 'Q2_K', 11: 'Q3_K',
       12: 'Q4_K', 13: 'Q5_K', 14: 'Q6_K', 15: 'Q8_K', 30: 'BF16'}
# (elements per block, bytes per block)
_BLOCK = {'F32': (1, 4), 'F16': (1, 2), 'BF16': (1, 2), 'Q8_0': (32, 34), 'Q4_0': (32, 18), 'Q4_1': (32, 20),
          'Q5_0': (32, 22), 'Q5_1': (32, 24), 'Q2_K': (256, 84), 'Q3_K': (256, 110), 'Q4_K': (256, 144),
          'Q5_K': (256, 176), 'Q6_K': (256, 210)}


class _Reader:
    def __init__(self, b):
        self.b, self.p = b, 0

    def num(self, fmt):
        v = struct.unpack_from(fmt, self.b, self.p)[0]
        self.p += struct.calcsize(fmt)
        return v

    def string(self):
        n = self.num('<Q')
        s = self.b[self.p:self.p + n].decode('utf-8', errors='surrogateescape')
        self.p += n
        return s

    def value(self, t):
        if t == 8:
            return self.string()
        if t == 9:
            et, n = self.num('<I'), self.num('<Q')
            return {'elem_type': _KV[et][0], 'values': [self.value(et) for _ in range(n)]}
        return self.num(_KV[t][1])


def manifest(path):
    b = open(path, 'rb').read()
    r = _Reader(b)
    if b[:4] != b'GGUF':
        raise ValueError(f'{path}: not a GGUF file')
    r.p = 4
    version, n_tensors, n_kv = r.num('<I'), r.num('<Q'), r.num('<Q')
    kv = {}
    for _ in range(n_kv):
        key = r.string()
        t = r.num('<I')
        kv[key] = {'type': _KV[t][0], 'value': r.value(t)}
    tensors = []
    for _ in range(n_tensors):
        name = r.string()
        dims = [r.num('<Q') for _ in range(r.num('<I'))]
        tt, off = r.num('<I'), r.num('<Q')
        tensors.append({'name': name, 'dims': dims, 'type': _GT.get(tt, tt), 'offset': off})
    header_end = r.p
    align = kv.get('general.alignment', {'value': 32})['value']
    data = (header_end + align - 1) // align * align
    ends = sorted({t['offset'] for t in tensors} | {len(b) - data})
    for t in tensors:
        nxt = next(o for o in ends if o > t['offset'])
        t['nbytes_to_next'] = nxt - t['offset']
        t['sha256_padded'] = hashlib.sha256(b[data + t['offset']:data + nxt]).hexdigest()
    for t in tensors:
        if t['type'] in _BLOCK:
            per, size = _BLOCK[t['type']]
            n = 1
            for d in t['dims']:
                n *= d
            t['nbytes'] = n // per * size
            t['sha256'] = hashlib.sha256(b[data + t['offset']:data + t['offset'] + t['nbytes']]).hexdigest()
    for v in kv.values():
        val = v['value']
        if isinstance(val, dict) and len(val['values']) > 16:
            vals = val['values']
            v['value'] = {'elem_type': val['elem_type'], 'count': len(vals), 'first': vals[:8], 'last': vals[-4:],
                          'sha256_of_json_values': hashlib.sha256(
                              json.dumps(vals, ensure_ascii=False).encode('utf-8', 'surrogateescape')).hexdigest()}
    return {'file': path.split('/')[-1], 'file_size': len(b), 'file_sha256': hashlib.sha256(b).hexdigest(),
            'gguf_version': version, 'header_bytes': header_end, 'data_offset': data, 'n_kv': len(kv),
            'n_tensors': len(tensors), 'kv': kv, 'tensors': tensors}


def write(path, out):
    json.dump(manifest(path), open(out, 'w'), indent=1, ensure_ascii=False)
