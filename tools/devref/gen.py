"""Deterministic test weights, bit-identical to Go's internal/testmodel generator.

Per tensor: a splitmix64 stream seeded with FNV-1a-64 of the tensor's name (UTF-8). Element i (row-major)
takes the (i+1)-th output z; u = (z >> 11) * 2**-53 in [0, 1); v = 2u - 1 in [-1, 1). All in float64:
  kind "weight": x = v * (0.02 * sqrt(3))          (uniform, std 0.02)
  kind "norm":   x = 1 + v * 0.1                     (norm weights stored as gains)
  kind "norm0":  x = v * 0.1                         (Gemma norms, stored as offsets from 1)
then float32 by round-to-nearest-even, then the checkpoint dtype: F32 as is, BF16 by RNE on the float32
bits (ggml_compute_fp32_to_bf16), F16 by numpy's float32 -> float16 cast (RNE, subnormals included).
"""
import hashlib
import numpy as np

GAMMA = np.uint64(0x9E3779B97F4A7C15)
M1 = np.uint64(0xBF58476D1CE4E5B9)
M2 = np.uint64(0x94D049BB133111EB)
SCALE_WEIGHT = 0.02 * np.sqrt(3.0)  # float64, correctly rounded product of correctly rounded sqrt
NORM_NOISE = 0.1


def fnv1a64(s: str) -> int:
    h = 0xCBF29CE484222325
    for b in s.encode('utf-8'):
        h ^= b
        h = (h * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def splitmix64(seed: int, n: int) -> np.ndarray:
    with np.errstate(over='ignore'):
        i = np.arange(1, n + 1, dtype=np.uint64)
        z = np.uint64(seed) + i * GAMMA
        z = (z ^ (z >> np.uint64(30))) * M1
        z = (z ^ (z >> np.uint64(27))) * M2
        z = z ^ (z >> np.uint64(31))
    return z


def uniform(name: str, n: int) -> np.ndarray:
    z = splitmix64(fnv1a64(name), n)
    u = (z >> np.uint64(11)).astype(np.float64) * (2.0 ** -53)
    return 2.0 * u - 1.0


def values_f64(name: str, n: int, kind: str) -> np.ndarray:
    v = uniform(name, n)
    if kind == 'weight':
        return v * SCALE_WEIGHT
    if kind == 'norm':
        return 1.0 + v * NORM_NOISE
    if kind == 'norm0':
        return v * NORM_NOISE
    raise ValueError(f'unknown kind {kind!r}')


def f32_to_bf16_bits(a: np.ndarray) -> np.ndarray:
    u = a.astype(np.float32).view(np.uint32).astype(np.uint64)
    nan = (u & 0x7FFFFFFF) > 0x7F800000
    r = ((u + (0x7FFF + ((u >> 16) & 1))) >> 16).astype(np.uint16)
    r[nan] = ((u[nan] >> 16) | 64).astype(np.uint16)
    return r


def tensor_bytes(name: str, shape, dtype: str, kind: str) -> bytes:
    n = int(np.prod(shape)) if len(shape) else 1
    f32 = values_f64(name, n, kind).astype(np.float32)
    if dtype == 'F32':
        return f32.astype('<f4').tobytes()
    if dtype == 'F16':
        return f32.astype('<f2').tobytes()
    if dtype == 'BF16':
        return f32_to_bf16_bits(f32).astype('<u2').tobytes()
    raise ValueError(f'unsupported dtype {dtype}')


def kind_for(name: str, ndim: int, norm_offset: bool) -> str:
    """Which generator rule a saved tensor gets: 1-D norm gains (names with 'norm' or GPT-2's 'ln_'
    ending in '.weight') are 'norm' ('norm0' for Gemma, whose RMSNorm multiplies by 1 + w); all else
    (matrices, embeddings, biases, routers) 'weight'."""
    is_norm = ndim == 1 and name.endswith('.weight') and ('norm' in name or '.ln_' in name or name.startswith('ln_'))
    if is_norm:
        return 'norm0' if norm_offset else 'norm'
    return 'weight'


def sha256_hex(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()
