#!/usr/bin/env python3
"""Reference data for testdata/families, made where real `transformers` runs (the device machine).

For each variant in testdata/families (in parallel, one process each):
  1. config.json -> AutoModelForCausalLM.from_config (random init, the family's dtype) -> save_pretrained:
     that fixes the tensor names, shapes, dtypes and shard layout transformers saves;
  2. every saved tensor is overwritten in place with the deterministic generator's bytes (gen.py), then
     loaded with from_pretrained and saved again with save_pretrained, and the final files are checked
     byte for byte against the generator: weights.json records names, dtypes, shapes, kinds, offsets,
     sha256 and each shard's raw header, so Go's internal/testmodel rebuilds identical files;
  3. the published config.json / generation_config.json and the tokenizer files go beside the weights;
  4. HF tokenizer ids of testdata/text/multilingual.txt (with and without special tokens) -> hf_tokens.json;
  5. float32 eager logits for the first 48 ids -> hf_logits.json;
  6. llama.cpp's convert_hf_to_gguf.py at f32, f16, bf16, q8_0 -> ref/<variant>.<type>.gguf.json manifests.
Each step's failure goes to errors.json; the other steps go on.

Usage: devref.py --families testdata/families --text testdata/text/multilingual.txt \
         --llamacpp .cache/devref/llama.cpp --tok DIR --work DIR --out DIR [--jobs 16] [variant ...]
"""
import argparse, base64, hashlib, json, os, shutil, struct, subprocess, sys, time, traceback
from concurrent.futures import ProcessPoolExecutor, as_completed
import multiprocessing as mp

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import gen  # noqa: E402
import ggufmanifest  # noqa: E402

N_LOGIT_TOKENS = 48
N_TOP = 32
N_PROBE = 256
OUTTYPES = ['f32', 'f16', 'bf16', 'q8_0']
NP_DT = {'F32': '<f4', 'F16': '<f2', 'BF16': '<u2'}


def read_header(path):
    with open(path, 'rb') as f:
        n = struct.unpack('<Q', f.read(8))[0]
        raw = f.read(n)
    return n, raw


def shards(d):
    idx = os.path.join(d, 'model.safetensors.index.json')
    if os.path.exists(idx):
        return sorted(set(json.load(open(idx))['weight_map'].values()))
    return ['model.safetensors']


def fill(d, norm_offset):
    """Overwrite every tensor of the safetensors files in d with the generator's bytes; returns
    {name: sha256}."""
    want = {}
    for fn in shards(d):
        p = os.path.join(d, fn)
        n, raw = read_header(p)
        h = json.loads(raw)
        h.pop('__metadata__', None)
        with open(p, 'r+b') as f:
            for name, info in h.items():
                if info['dtype'] not in NP_DT:
                    raise ValueError(f'{fn}: {name}: dtype {info["dtype"]} has no generator')
                kind = gen.kind_for(name, len(info['shape']), norm_offset)
                b = gen.tensor_bytes(name, info['shape'], info['dtype'], kind)
                s, e = info['data_offsets']
                if e - s != len(b):
                    raise ValueError(f'{fn}: {name}: {e - s} bytes on file, generator made {len(b)}')
                f.seek(8 + n + s)
                f.write(b)
                want[name] = (gen.sha256_hex(b), kind)
    return want


def describe(d, want):
    """weights.json content from the files in d, checked against the generator's sha256."""
    files, bad = [], []
    for fn in shards(d):
        p = os.path.join(d, fn)
        n, raw = read_header(p)
        h = json.loads(raw)
        meta = h.pop('__metadata__', None)
        body = open(p, 'rb').read()
        ts = []
        for name, info in sorted(h.items(), key=lambda kv: kv[1]['data_offsets'][0]):
            s, e = info['data_offsets']
            sha = hashlib.sha256(body[8 + n + s:8 + n + e]).hexdigest()
            exp = want.get(name)
            if exp is None or exp[0] != sha:
                bad.append(name)
            ts.append({'name': name, 'dtype': info['dtype'], 'shape': info['shape'],
                       'kind': exp[1] if exp else None, 'data_offsets': [s, e], 'sha256': sha})
        files.append({'name': fn, 'size': len(body), 'sha256': hashlib.sha256(body).hexdigest(),
                      'metadata': meta, 'header': raw.decode('utf-8'), 'tensors': ts})
    missing = sorted(set(want) - {t['name'] for f in files for t in f['tensors']})
    return files, bad, missing


def probe_ids(vocab):
    z = gen.splitmix64(gen.fnv1a64('hf_logits/probe'), N_PROBE)
    return [int(x) for x in (z % gen.np.uint64(vocab))]


def b64f32(a):
    return base64.b64encode(gen.np.ascontiguousarray(a, dtype='<f4').tobytes()).decode('ascii')


def process(v, a):
    import numpy as np
    t0 = time.time()
    famdir = os.path.join(a.families, v)
    res = os.path.join(a.work, 'results', v)
    os.makedirs(os.path.join(res, 'ref'), exist_ok=True)
    errors, log = {}, []
    fam = json.load(open(os.path.join(famdir, 'family.json')))
    mdir = os.path.join(a.work, 'models', v)  # basename = variant: the converter names the model after it
    tmpa = os.path.join(a.work, 'tmpa', v)
    for p in (mdir, tmpa):
        shutil.rmtree(p, ignore_errors=True)
        os.makedirs(p)

    def step(name, fn):
        t = time.time()
        try:
            r = fn()
            log.append(f'{v}: {name}: ok {time.time() - t:.1f}s')
            return r
        except Exception as e:  # noqa: BLE001 -- recorded, the next steps go on
            errors[name] = ''.join(traceback.format_exception(type(e), e, e.__traceback__))[-6000:]
            log.append(f'{v}: {name}: FAILED {type(e).__name__}: {e}'[:800])
            return None

    import torch
    torch.set_num_threads(1)
    import transformers
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer
    dt = {'BF16': torch.bfloat16, 'F16': torch.float16, 'F32': torch.float32}[fam['dtype']]
    shard = fam.get('max_shard_size') or '5GB'

    def load(path, dtype, **kw):
        try:
            return AutoModelForCausalLM.from_pretrained(path, dtype=dtype, **kw)
        except TypeError:
            return AutoModelForCausalLM.from_pretrained(path, torch_dtype=dtype, **kw)

    def build():
        cfg = AutoConfig.from_pretrained(famdir)
        try:
            m = AutoModelForCausalLM.from_config(cfg, dtype=dt, attn_implementation='eager')
        except TypeError:
            m = AutoModelForCausalLM.from_config(cfg, torch_dtype=dt, attn_implementation='eager')
        m.save_pretrained(tmpa, safe_serialization=True, max_shard_size=shard)
        shutil.copyfile(os.path.join(tmpa, 'config.json'), os.path.join(res, 'config.saved_by_transformers.json'))
        return fill(tmpa, fam['norm_offset'])

    want = step('build', build)

    def resave():
        m = load(tmpa, dt)
        m.save_pretrained(mdir, safe_serialization=True, max_shard_size=shard)
        files, bad, missing = describe(mdir, want)
        if bad or missing:
            raise ValueError(f'resaved files differ from the generator: bad {bad[:8]} missing {missing[:8]}')
        return files

    files = None
    if want is not None:
        files = step('resave', resave)
        if files is None:  # keep the files save_pretrained wrote first, filled in place
            def keep_first():
                for fn in os.listdir(tmpa):
                    if fn.endswith('.safetensors') or fn.endswith('.index.json'):
                        shutil.copyfile(os.path.join(tmpa, fn), os.path.join(mdir, fn))
                fs, bad, missing = describe(mdir, want)
                if bad or missing:
                    raise ValueError(f'bad {bad[:8]} missing {missing[:8]}')
                return fs
            files = step('keep_first_save', keep_first)

    def place_files():
        for f in fam['files']:
            src = f['source']
            if src == 'testdata':
                p = os.path.join(famdir, f['name'])
            else:
                p = os.path.join(a.tok, src.split(':', 1)[1])
            if 'sha256' in f and gen.sha256_hex(open(p, 'rb').read()) != f['sha256']:
                raise ValueError(f'{p}: sha256 differs from family.json')
            shutil.copyfile(p, os.path.join(mdir, f['name']))
        # nothing else: drop what save_pretrained wrote besides weights (its own config/generation_config)
        keep = {f['name'] for f in fam['files']}
        for fn in os.listdir(mdir):
            if fn not in keep and not fn.endswith('.safetensors') and fn != 'model.safetensors.index.json':
                os.remove(os.path.join(mdir, fn))
        return sorted(os.listdir(mdir))

    listing = step('place_files', place_files)

    if files is not None:
        wj = {'variant': v, 'dtype': fam['dtype'], 'norm_offset': fam['norm_offset'],
              'transformers': transformers.__version__, 'torch': torch.__version__,
              'generator': 'tools/devref/gen.py', 'files': files}
        idx = os.path.join(mdir, 'model.safetensors.index.json')
        if os.path.exists(idx):
            shutil.copyfile(idx, os.path.join(res, 'model.safetensors.index.json'))
        json.dump(wj, open(os.path.join(res, 'weights.json'), 'w'), indent=1)

    text = open(a.text, encoding='utf-8').read()
    toks = {}

    def tokens():
        tok = AutoTokenizer.from_pretrained(mdir)
        w = tok(text)['input_ids']
        wo = tok(text, add_special_tokens=False)['input_ids']
        toks['ids'] = w
        out = {'variant': v, 'text': 'testdata/text/multilingual.txt',
               'text_sha256': hashlib.sha256(text.encode('utf-8')).hexdigest(),
               'tokenizer_class': type(tok).__name__, 'len_tokenizer': len(tok),
               'bos_token_id': tok.bos_token_id, 'eos_token_id': tok.eos_token_id,
               'transformers': transformers.__version__, 'with_special_tokens': w, 'without_special_tokens': wo}
        json.dump(out, open(os.path.join(res, 'hf_tokens.json'), 'w'))
        return len(w)

    step('tokens', tokens)

    def logits():
        ids = toks['ids'][:N_LOGIT_TOKENS]
        m = load(mdir, torch.float32, attn_implementation='eager')
        m.eval()
        with torch.no_grad():
            lg = m(torch.tensor([ids], dtype=torch.long)).logits[0].float().cpu().numpy()
        vocab = lg.shape[1]
        l64 = lg.astype(np.float64)
        mx = l64.max(axis=1, keepdims=True)
        lse = (mx[:, 0] + np.log(np.exp(l64 - mx).sum(axis=1)))
        top = np.argsort(-lg, axis=1, kind='stable')[:, :N_TOP]
        probes = probe_ids(vocab)
        out = {'variant': v, 'dtype': 'float32', 'attn_implementation': 'eager',
               'transformers': transformers.__version__, 'torch': torch.__version__,
               'token_ids': ids, 'vocab': int(vocab), 'n_positions': len(ids),
               'logsumexp': [float(x) for x in lse],
               'top_k': N_TOP, 'top_ids': top.tolist(),
               'top_logits_f32le_b64': b64f32(np.take_along_axis(lg, top, axis=1)),
               'probe_ids': probes, 'probe_logits_f32le_b64': b64f32(lg[:, probes]),
               'format': 'logits as little-endian float32, row-major [position][k], base64; '
                         'probe ids: splitmix64 stream seeded with FNV-1a-64("hf_logits/probe"), each mod vocab'}
        json.dump(out, open(os.path.join(res, 'hf_logits.json'), 'w'))
        return vocab

    if 'ids' in toks:
        step('logits', logits)

    def convert(t):
        gg = os.path.join(a.work, 'gguf', f'{v}.{t}.gguf')
        os.makedirs(os.path.dirname(gg), exist_ok=True)
        env = dict(os.environ, OMP_NUM_THREADS='1', MKL_NUM_THREADS='1')
        r = subprocess.run([sys.executable, os.path.join(a.llamacpp, 'convert_hf_to_gguf.py'), mdir,
                            '--outtype', t, '--outfile', gg], capture_output=True, text=True, timeout=420, env=env)
        open(os.path.join(res, f'convert.{t}.log'), 'w').write((r.stdout + r.stderr)[-20000:])
        if r.returncode != 0:
            raise RuntimeError(f'convert_hf_to_gguf.py exit {r.returncode}: {(r.stdout + r.stderr)[-3000:]}')
        ggufmanifest.write(gg, os.path.join(res, 'ref', f'{v}.{t}.gguf.json'))
        os.remove(gg)

    if listing is not None and files is not None:
        for t in OUTTYPES:
            step(f'convert_{t}', lambda t=t: convert(t))

    json.dump(errors, open(os.path.join(res, 'errors.json'), 'w'), indent=1)
    log.append(f'{v}: done in {time.time() - t0:.1f}s, {len(errors)} errors')
    open(os.path.join(res, 'log.txt'), 'w').write('\n'.join(log) + '\n')
    return v, errors, log


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--families', required=True)
    ap.add_argument('--text', required=True)
    ap.add_argument('--llamacpp', required=True)
    ap.add_argument('--tok', required=True)
    ap.add_argument('--work', required=True)
    ap.add_argument('--out', required=True)
    ap.add_argument('--jobs', type=int, default=16)
    ap.add_argument('variants', nargs='*')
    a = ap.parse_args()
    for k in ('families', 'text', 'llamacpp', 'tok', 'work', 'out'):
        setattr(a, k, os.path.abspath(getattr(a, k)))
    vs = a.variants or sorted(d for d in os.listdir(a.families)
                              if os.path.exists(os.path.join(a.families, d, 'family.json')))
    versions = {'python': sys.version}
    for mod in ('torch', 'transformers', 'tokenizers', 'safetensors', 'sentencepiece', 'numpy'):
        try:
            versions[mod] = __import__(mod).__version__
        except Exception as e:  # noqa: BLE001
            versions[mod] = f'unavailable: {e}'
    versions['convert_hf_to_gguf.py_sha256'] = gen.sha256_hex(open(os.path.join(a.llamacpp, 'convert_hf_to_gguf.py'), 'rb').read())
    print(json.dumps(versions), flush=True)
    summary = {'versions': versions, 'variants': {}}
    ctx = mp.get_context('spawn')
    with ProcessPoolExecutor(max_workers=min(a.jobs, len(vs)), mp_context=ctx) as ex:
        futs = {ex.submit(process, v, a): v for v in vs}
        for f in as_completed(futs):
            v = futs[f]
            try:
                _, errs, log = f.result()
                summary['variants'][v] = {'errors': sorted(errs)}
                print('\n'.join(log), flush=True)
            except Exception as e:  # noqa: BLE001
                summary['variants'][v] = {'errors': ['worker: ' + repr(e)]}
                print(f'{v}: worker failed: {e!r}', flush=True)
    os.makedirs(a.out, exist_ok=True)
    json.dump(summary, open(os.path.join(a.out, 'summary.json'), 'w'), indent=1)
    subprocess.run(['tar', '-czf', os.path.join(a.out, 'devref-results.tar.gz'), '-C', os.path.join(a.work, 'results'), '.'],
                   check=True)
    print(json.dumps(summary, indent=1))


if __name__ == '__main__':
    main()
