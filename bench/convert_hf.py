#!/usr/bin/python3
"""Runs llama.cpp's convert_hf_to_gguf.py unmodified on a machine with Debian's python3-torch
(1.13), python3-numpy and python3-sentencepiece but no transformers.

  bench/convert_hf.py LLAMA_CPP_SRC/convert_hf_to_gguf.py ARGS...

Shims, only for what is missing:
  - transformers: AutoConfig.from_pretrained raises, so the converter takes its documented fallback
    and reads config.json itself; AutoTokenizer raises ImportError (only BPE vocabularies need it,
    and the benchmark checkpoints use SentencePiece).
  - torch.float8_e4m3fn / float8_e5m2 (torch < 2.1): stand-ins, the converter only names them in a
    dtype table.
"""
import importlib.util
import os
import runpy
import sys
import types

if importlib.util.find_spec("transformers") is None:
    tf = types.ModuleType("transformers")

    class _NoConfig:
        @staticmethod
        def from_pretrained(*args, **kwargs):
            raise OSError("transformers is not installed: read config.json")

    class _NoTokenizer:
        @staticmethod
        def from_pretrained(*args, **kwargs):
            raise ImportError("transformers is not installed: no AutoTokenizer")

    tf.AutoConfig = _NoConfig
    tf.AutoTokenizer = _NoTokenizer
    sys.modules["transformers"] = tf

import torch  # noqa: E402

for _name in ("float8_e4m3fn", "float8_e5m2"):
    if not hasattr(torch, _name):
        setattr(torch, _name, torch.uint8)

if len(sys.argv) < 2:
    sys.exit("usage: convert_hf.py CONVERT_HF_TO_GGUF.PY ARGS...")
script = sys.argv[1]
sys.argv = sys.argv[1:]
sys.path[0] = os.path.dirname(os.path.abspath(script))  # as if run as a script: its conversion/ package
runpy.run_path(script, run_name="__main__")
