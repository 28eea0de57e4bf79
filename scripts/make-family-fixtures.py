#!/usr/bin/env python3
# The test fixtures of tests/test_families.c: tiny random-weight Gemma 3 and Phi-3 models made
# with transformers (5.17 made the committed ones, on the device machine), their weights
# rounded to BF16 and saved as safetensors, and goldens computed in fp32 on the CPU with eager
# attention: each prompt's last-position logits, then N_GREEDY greedy tokens through the cache
# with the margin (top1 - top2 logit) of each step.
#
#   python3 scripts/make-family-fixtures.py OUT_DIR          (needs torch and transformers)
#   python3 scripts/make-family-fixtures.py --derive OUT_DIR (the derived Gemma 3 directories
#                                                             from OUT_DIR/gemma3-vlm; no torch)
#
# OUT_DIR then holds gemma3-text (Gemma3ForCausalLM, both soft-cappings set), gemma3-vlm
# (Gemma3ForConditionalGeneration with a tiny vision tower, as transformers 5.17 saves it),
# gemma3-vlm-452-names and gemma3-vlm-4x-config (derived: the same weights and goldens),
# phi3-longrope (partial rotary, LongRoPE with an original context of 16) and phi3-window (a
# sliding window of 6, tied embeddings).
import json, os, struct, sys, shutil, traceback

VOCAB = 384
N_GREEDY = 10
PROMPT_LENS = [3, 9, 17, 30]
if len(sys.argv) == 2:
    import torch
    import transformers

    OUT = sys.argv[1]
    torch.manual_seed(0)
    print("transformers", transformers.__version__, "torch", torch.__version__)
elif len(sys.argv) != 3 or sys.argv[1] != "--derive":
    sys.exit("usage: make-family-fixtures.py OUT_DIR | --derive OUT_DIR")


def prompts(seed):
    g = torch.Generator().manual_seed(seed)
    return [torch.randint(3, VOCAB - 8, (n,), generator=g).tolist() for n in PROMPT_LENS]


def randomize(model, gemma):
    g = torch.Generator().manual_seed(1234)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() == 1:
                v = torch.randn(p.shape, generator=g) * 0.2 + (0.0 if gemma else 1.0)
            else:
                v = torch.randn(p.shape, generator=g) * 0.08
            p.copy_(v.to(torch.bfloat16).to(torch.float32))


def eager(model):
    try:
        model.set_attn_implementation("eager")
    except Exception as e:
        print("set_attn_implementation:", e)
        model.config._attn_implementation = "eager"


def goldens(model, ps):
    res = []
    with torch.no_grad():
        for ids in ps:
            out = model(input_ids=torch.tensor([ids]), use_cache=True)
            last = out.logits[0, -1].float()
            past = out.past_key_values
            logits = last
            greedy, margins = [], []
            for step in range(N_GREEDY):
                top = torch.topk(logits, 2)
                t = int(top.indices[0])
                greedy.append(t)
                margins.append(float(top.values[0] - top.values[1]))
                out = model(input_ids=torch.tensor([[t]]), past_key_values=past, use_cache=True)
                past = out.past_key_values
                logits = out.logits[0, -1].float()
            # the whole sequence again without a cache: the last position's logits
            res.append({"ids": ids, "logits": [float("%.9g" % x) for x in last.tolist()], "greedy": greedy,
                        "margins": [float("%.6g" % m) for m in margins]})
    return res


def finish(model, name, seed, gemma, note):
    """Random weights, goldens for the prompts of seed, and the directory OUT/name."""
    model = model.float().eval()
    randomize(model, gemma)
    eager(model)
    res = goldens(model, prompts(seed))
    d = os.path.join(OUT, name)
    save(model, d)
    write_golden(d, res, ABOUT + "; " + note)
    return d


def save(model, d):
    os.makedirs(d, exist_ok=True)
    model.to(torch.bfloat16).save_pretrained(d, safe_serialization=True)
    model.to(torch.float32)
    for f in os.listdir(d):
        print("  ", d, f, os.path.getsize(os.path.join(d, f)))


def write_golden(d, res, about):
    json.dump({"about": about, "prompts": res}, open(os.path.join(d, "golden.json"), "w"), indent=0)


ABOUT = "" if len(sys.argv) == 3 else (
    "random-weight model (weights rounded to BF16) from transformers %s; goldens in fp32 on the CPU, eager "
    "attention: logits of the prompt's last position, then %d greedy tokens with the cache (margins: top1 - "
    "top2 logit at each step)" % (transformers.__version__, N_GREEDY))


def rename_safetensors(src, dst, rename):
    """A copy of a safetensors file with its tensors renamed (the header rewritten, the data as it is)."""
    with open(src, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    header = {(k if k == "__metadata__" else rename(k)): v for k, v in header.items()}
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(dst, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + data)


def derive_gemma3_vlm(d, out):
    c = json.load(open(os.path.join(d, "config.json")))
    new = os.path.join(out, "gemma3-vlm-452-names")
    os.makedirs(new, exist_ok=True)

    def to_452(k):
        if k.startswith("language_model.model."):
            return "model.language_model." + k[len("language_model.model."):]
        if k.startswith("language_model.lm_head."):
            return k[len("language_model."):]
        if k.startswith("vision_tower.") or k.startswith("multi_modal_projector."):
            return "model." + k
        return k

    rename_safetensors(os.path.join(d, "model.safetensors"), os.path.join(new, "model.safetensors"), to_452)
    json.dump(c, open(os.path.join(new, "config.json"), "w"), indent=2)
    old = os.path.join(out, "gemma3-vlm-4x-config")
    os.makedirs(old, exist_ok=True)
    shutil.copy(os.path.join(d, "model.safetensors"), os.path.join(old, "model.safetensors"))
    t = c["text_config"]
    for k in ["layer_types", "rope_parameters", "_sliding_window_pattern", "use_bidirectional_attention"]:
        t.pop(k, None)
    t["rope_theta"] = 1000000.0
    t["rope_local_base_freq"] = 10000.0
    t["rope_scaling"] = {"rope_type": "linear", "factor": 8.0}
    t["sliding_window_pattern"] = 3
    c["transformers_version"] = "4.50.0.dev0"
    json.dump(c, open(os.path.join(old, "config.json"), "w"), indent=2)


def gemma_text_cfg(**kw):
    d = dict(vocab_size=VOCAB, hidden_size=64, intermediate_size=128, num_hidden_layers=6, num_attention_heads=4,
             num_key_value_heads=2, head_dim=32, max_position_embeddings=128, query_pre_attn_scalar=24,
             sliding_window=5, rms_norm_eps=1e-6, bos_token_id=2, eos_token_id=1, pad_token_id=0,
             tie_word_embeddings=True)
    d.update(kw)
    return d


def make_gemma_text_config(d, layer_types, full_rope, local_theta):
    from transformers import Gemma3TextConfig
    try:
        return Gemma3TextConfig(**d, layer_types=layer_types,
                                rope_parameters={"full_attention": full_rope,
                                                 "sliding_attention": {"rope_type": "default", "rope_theta": local_theta}})
    except Exception as e:
        print("rope_parameters form failed:", e)
        return Gemma3TextConfig(**d, layer_types=layer_types, rope_theta=full_rope["rope_theta"],
                                rope_local_base_freq=local_theta,
                                rope_scaling={k: v for k, v in full_rope.items() if k != "rope_theta"})


def run(name, fn):
    try:
        fn()
    except Exception:
        print("FAILED", name)
        traceback.print_exc()


def gemma3_text():
    from transformers import Gemma3ForCausalLM
    cfg = make_gemma_text_config(gemma_text_cfg(attn_logit_softcapping=2.0, final_logit_softcapping=1.5),
                                 ["sliding_attention", "full_attention", "sliding_attention", "sliding_attention",
                                  "full_attention", "sliding_attention"],
                                 {"rope_type": "linear", "factor": 8.0, "rope_theta": 1000000.0}, 10000.0)
    cfg.architectures = ["Gemma3ForCausalLM"]
    finish(Gemma3ForCausalLM(cfg), "gemma3-text", 1, True, "Gemma3ForCausalLM, soft-capping set")


def gemma3_vlm():
    from transformers import Gemma3Config, Gemma3ForConditionalGeneration, SiglipVisionConfig
    tc = make_gemma_text_config(gemma_text_cfg(), ["sliding_attention", "sliding_attention", "full_attention"] * 2,
                                {"rope_type": "linear", "factor": 8.0, "rope_theta": 1000000.0}, 10000.0)
    vc = SiglipVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                            image_size=28, patch_size=14)
    cfg = Gemma3Config(text_config=tc.to_dict(), vision_config=vc.to_dict(), mm_tokens_per_image=4,
                       boi_token_index=VOCAB - 3, eoi_token_index=VOCAB - 2, image_token_index=VOCAB - 1,
                       eos_token_id=[1, 106], bos_token_id=2, pad_token_id=0)
    cfg.architectures = ["Gemma3ForConditionalGeneration"]
    d = finish(Gemma3ForConditionalGeneration(cfg), "gemma3-vlm", 2, True, "Gemma3ForConditionalGeneration, text only")
    # transformers 5.17 saves the pre-4.52 names (language_model.model.*, vision_tower.*); the
    # same weights under the names of transformers 4.52 .. 4.5x (model.language_model.*), and
    # with the config of transformers 4.x (rope_theta, rope_local_base_freq, rope_scaling,
    # sliding_window_pattern)
    derive_gemma3_vlm(d, OUT)


def phi3(name, seed, **kw):
    from transformers import Phi3Config, Phi3ForCausalLM
    d = dict(vocab_size=VOCAB, hidden_size=64, intermediate_size=128, num_hidden_layers=3, num_attention_heads=4,
             num_key_value_heads=2, max_position_embeddings=64, rms_norm_eps=1e-5, bos_token_id=1, eos_token_id=2,
             pad_token_id=0, tie_word_embeddings=False, rope_theta=10000.0)
    d.update(kw)
    cfg = Phi3Config(**d)
    cfg.architectures = ["Phi3ForCausalLM"]
    finish(Phi3ForCausalLM(cfg), name, seed, False, "Phi3ForCausalLM")


def phi3_longrope():
    g = torch.Generator().manual_seed(7)
    short = (1 + torch.rand(6, generator=g)).tolist()
    long = (2 + 4 * torch.rand(6, generator=g)).tolist()
    rope = {"rope_type": "longrope", "short_factor": short, "long_factor": long, "original_max_position_embeddings": 16,
            "rope_theta": 10000.0, "partial_rotary_factor": 0.75}
    try:
        phi3("phi3-longrope", 3, partial_rotary_factor=0.75, rope_parameters=rope, original_max_position_embeddings=16)
    except Exception as e:
        print("rope_parameters form failed:", e)
        phi3("phi3-longrope", 3, partial_rotary_factor=0.75, original_max_position_embeddings=16,
             rope_scaling={"type": "longrope", "short_factor": short, "long_factor": long})


if len(sys.argv) == 3:
    derive_gemma3_vlm(os.path.join(sys.argv[2], "gemma3-vlm"), sys.argv[2])
    sys.exit(0)
run("gemma3-text", gemma3_text)
run("gemma3-vlm", gemma3_vlm)
run("phi3-longrope", phi3_longrope)
run("phi3-window", lambda: phi3("phi3-window", 4, sliding_window=6, tie_word_embeddings=True))
for n in sorted(os.listdir(OUT)):
    p = os.path.join(OUT, n, "config.json")
    if os.path.exists(p):
        print("==", n)
        print(open(p).read())
