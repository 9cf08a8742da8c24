#!/usr/bin/python3
"""Runs llama.cpp's convert_hf_to_gguf.py with the vocabulary export of the GPT-2 family
(conversion/gpt2.py GPT2Model.set_vocab) skipped, for references of families whose vocabulary the
converter can only read through transformers' AutoTokenizer, which this machine lacks. Everything
else (tensors, parameters, key order) is the converter's own code, unchanged. Run it under the
fixtures' run_convert.py, which installs the transformers/safetensors shims first:

    L=~/.cache/llama-oracle/llama.cpp
    PYTHONPATH=$L/gguf-py:$L /usr/bin/python3 run_convert.py run_convert_novocab.py \
        $L/convert_hf_to_gguf.py DIR --outtype f32 --outfile NAME.f32.gguf
"""
import runpy
import sys

import conversion.gpt2

conversion.gpt2.GPT2Model.set_vocab = lambda self: None

script = sys.argv[1]
sys.argv = sys.argv[1:]
runpy.run_path(script, run_name='__main__')
