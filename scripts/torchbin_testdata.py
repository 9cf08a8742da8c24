#!/usr/bin/python3
"""Writes the reference checkpoints of safetensors/torchbin's tests with torch.save.

Needs PyTorch (Debian: apt-get install -y python3-torch; run with /usr/bin/python3):

    /usr/bin/python3 scripts/torchbin_testdata.py safetensors/torchbin/testdata

Files (all tiny):
  state_dict.bin       an nn.Module state dict (OrderedDict with _metadata) of every dtype,
                       a scalar, an empty tensor, tied weights, a contiguous slice, a Parameter
  protocol4.bin        the same tensors pickled with protocol 4 (FRAME, MEMOIZE, STACK_GLOBAL)
  plain_dict.bin       a plain dict (not an OrderedDict) of tensors
  noncontiguous.bin    holds a transposed view: must be refused
  legacy.bin           the pre-1.6 non-zip format: must be refused as unsupported
  evil_os_system.bin   a tensor plus an object whose __reduce__ is os.system: must be refused
  evil_eval.bin        builtins.eval through a protocol-4 STACK_GLOBAL: must be refused
  expected.json        name -> dtype, shape, sha256 of the tensor's little-endian bytes
"""
import collections, hashlib, json, os, sys

import torch

out = sys.argv[1] if len(sys.argv) > 1 else "safetensors/torchbin/testdata"
os.makedirs(out, exist_ok=True)
torch.manual_seed(0)


class Tiny(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = torch.nn.Embedding(10, 4)
        self.proj = torch.nn.Linear(4, 3)
        self.head = torch.nn.Linear(4, 10, bias=False)
        self.head.weight = self.embed.weight  # tied: one storage, two names
        self.register_buffer("position_ids", torch.arange(6, dtype=torch.int64).unsqueeze(0))


sd = Tiny().state_dict()
sd["f16"] = torch.randn(2, 3).to(torch.float16)
sd["bf16"] = torch.randn(3, 2).to(torch.bfloat16)
sd["f64"] = torch.randn(2).to(torch.float64)
sd["i32"] = torch.tensor([1, -2, 3], dtype=torch.int32)
sd["i16"] = torch.tensor([-300, 300], dtype=torch.int16)
sd["i8"] = torch.tensor([-1, 2], dtype=torch.int8)
sd["u8"] = torch.tensor([250, 3], dtype=torch.uint8)
sd["bool"] = torch.tensor([True, False, True])
sd["scalar"] = torch.tensor(3.5)
sd["empty"] = torch.zeros(0, 4)
base = torch.arange(300, dtype=torch.float32)
sd["long_row"] = base  # 300 > 255: BININT2 in the shape
sd["slice"] = base[100:110]  # contiguous view at storage offset 100
sd["size1_dims"] = torch.randn(3, 1, 2)[:, :, :]
sd["param"] = torch.nn.Parameter(torch.ones(2, 2))


def raw(t):
    t = t.detach().contiguous()
    if t.dtype == torch.bfloat16:
        t = t.view(torch.int16)
    return t.numpy().tobytes()


expected = {
    k: {"dtype": {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.float64: "F64",
                  torch.int64: "I64", torch.int32: "I32", torch.int16: "I16", torch.int8: "I8",
                  torch.uint8: "U8", torch.bool: "BOOL"}[v.dtype],
        "shape": list(v.shape), "sha256": hashlib.sha256(raw(v)).hexdigest()}
    for k, v in sd.items()
}
torch.save(sd, os.path.join(out, "state_dict.bin"))
torch.save(sd, os.path.join(out, "protocol4.bin"), pickle_protocol=4)
torch.save({k: v for k, v in list(sd.items())[:3]}, os.path.join(out, "plain_dict.bin"))
with open(os.path.join(out, "expected.json"), "w") as f:
    json.dump(expected, f, indent=1, sort_keys=True)
    f.write("\n")

torch.save({"ok": torch.ones(2), "w.T": torch.randn(3, 2).t()}, os.path.join(out, "noncontiguous.bin"))
torch.save({"w": torch.ones(2)}, os.path.join(out, "legacy.bin"), _use_new_zipfile_serialization=False)


class EvilSystem:
    def __reduce__(self):
        return (os.system, ("echo pwned > /tmp/torchbin-pwned",))


class EvilEval:
    def __reduce__(self):
        return (eval, ("__import__('os').system('echo pwned')",))


torch.save({"w": torch.ones(2), "x": EvilSystem()}, os.path.join(out, "evil_os_system.bin"))
torch.save({"x": EvilEval(), "w": torch.ones(2)}, os.path.join(out, "evil_eval.bin"), pickle_protocol=4)
