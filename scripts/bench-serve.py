#!/usr/bin/env python3
"""dfrt serve under load, beside dfrt bench model on the same model and shapes, in one run.

For each format (DF11 and its BF16 twin) of a synthetic model:
  1. `dfrt bench model --synthetic NAME --batch LIST` (which also builds the models in the
     cache): the engine-less reference, decode tokens/s per batch size;
  2. `dfrt serve` on that format's directory with --parallel max(LIST), and for each N in
     --clients, N concurrent streaming /v1/completions clients on loopback, each with its own
     prompt of P random token ids, G tokens (ignore_eos, greedy).

Reported per N: total output tokens/s over the whole round; steady decode tokens/s (from the
server's /metrics counter of generated tokens, sampled every 50 ms, over the window in which
all N streams had their first token and none had finished); TTFT and time per output token
p50/p99 as the clients saw them; and steady decode / bench model's decode at batch N.

Synthetic models have no tokenizer.json: give one with the model's vocabulary (--tokenizer;
Llama 3's for llama-3.1-8b). Python 3.8+, standard library only.

  scripts/bench-serve.py build/tools/dfrt --synthetic llama-3.1-8b --backend cuda \\
      --tokenizer llama3/tokenizer.json --clients 1,8,64 --json serve.json
"""
import argparse
import asyncio
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time


def percentile(xs, q):
    if not xs:
        return float("nan")
    xs = sorted(xs)
    k = (len(xs) - 1) * q / 100
    lo = int(k)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


async def http_get(port, path):
    r, w = await asyncio.open_connection("127.0.0.1", port)
    w.write(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
    await w.drain()
    data = await r.read()
    w.close()
    return data.split(b"\r\n\r\n", 1)[1].decode()


async def metrics_sampler(port, samples, stop):
    while not stop.is_set():
        text = await http_get(port, "/metrics")
        m = re.search(r"^dfrt_generated_tokens_total (\d+)", text, re.M)
        if m:
            samples.append((time.monotonic(), int(m.group(1))))
        await asyncio.sleep(0.05)


async def one_stream(port, body):
    """One streamed completion: (submit time, chunk arrival times, completion tokens)."""
    payload = json.dumps(body).encode()
    t0 = time.monotonic()
    r, w = await asyncio.open_connection("127.0.0.1", port)
    w.write(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Connection: close\r\nContent-Length: " + str(len(payload)).encode() + b"\r\n\r\n" + payload)
    await w.drain()
    status = await r.readline()
    if b" 200 " not in status:
        rest = await r.read()
        raise RuntimeError(f"HTTP {status.decode().strip()}: {rest[-300:]!r}")
    times, usage, last = [], None, None
    while True:
        line = await r.readline()
        if not line:
            break
        if not line.startswith(b"data: "):
            continue
        if line.startswith(b"data: [DONE]"):
            break
        last = line
        if b'"choices":[]' in line:  # the usage chunk (generated text cannot hold this unescaped)
            usage = json.loads(line[6:])["usage"]["completion_tokens"]
        elif b'"text":""' not in line:
            times.append(time.monotonic())
    w.close()
    if usage is None:
        raise RuntimeError(f"a stream without usage: {last!r}")
    return t0, times, usage


async def round_of(port, n, prompt_len, gen, vocab, seed):
    rng = random.Random(seed)
    bodies = [{"prompt": [rng.randrange(vocab) for _ in range(prompt_len)], "max_tokens": gen, "temperature": 0,
               "ignore_eos": True, "stream": True, "stream_options": {"include_usage": True}} for _ in range(n)]
    samples, stop = [], asyncio.Event()
    sampler = asyncio.ensure_future(metrics_sampler(port, samples, stop))
    start = time.monotonic()
    results = await asyncio.gather(*(one_stream(port, b) for b in bodies))
    end = time.monotonic()
    stop.set()
    await sampler
    tokens = sum(u for _, _, u in results)
    ttft = [ts[0] - t0 for t0, ts, _ in results if ts]
    tpot = [(ts[-1] - ts[0]) / (u - 1) for _, ts, u in results if len(ts) > 1 and u > 1]
    # the steady window: every stream had its first token, none had its last
    w0 = max(ts[0] for _, ts, _ in results if ts)
    w1 = min(ts[-1] for _, ts, _ in results if ts)
    inside = [(t, g) for t, g in samples if w0 <= t <= w1]
    steady = (inside[-1][1] - inside[0][1]) / (inside[-1][0] - inside[0][0]) if len(inside) >= 3 else float("nan")
    return {"clients": n, "completion_tokens": tokens, "seconds": end - start,
            "total_tokens_per_s": tokens / (end - start), "steady_decode_tokens_per_s": steady,
            "steady_window_s": (inside[-1][0] - inside[0][0]) if len(inside) >= 3 else 0.0,
            "ttft_ms_p50": 1e3 * percentile(ttft, 50), "ttft_ms_p99": 1e3 * percentile(ttft, 99),
            "tpot_ms_p50": 1e3 * percentile(tpot, 50), "tpot_ms_p99": 1e3 * percentile(tpot, 99)}


def start_server(args, model_dir, parallel):
    cmd = [args.dfrt, "serve", model_dir, "--backend", args.backend, "--port", "0", "--parallel", str(parallel),
           "--context", str(args.prompt_len + args.gen + 8), "--queue", str(4 * parallel), "--timeout", "600"]
    if args.tokenizer:
        cmd += ["--tokenizer", args.tokenizer]
    err = tempfile.TemporaryFile()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, text=True)
    line = proc.stdout.readline()
    m = re.search(r"listening on http://127.0.0.1:(\d+)", line)
    if not m:
        proc.wait()
        err.seek(0)
        sys.exit(f"bench-serve: dfrt serve did not start: {line}{err.read().decode()}")
    return proc, int(m.group(1))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dfrt")
    ap.add_argument("--synthetic", required=True, help="a dfrt bench model --synthetic name")
    ap.add_argument("--backend", default="cuda")
    ap.add_argument("--tokenizer", help="a tokenizer.json with the model's vocabulary")
    ap.add_argument("--clients", default="1,8,64")
    ap.add_argument("--formats", default="df11,bf16")
    ap.add_argument("--prompt-len", type=int, default=128)
    ap.add_argument("--gen", type=int, default=256)
    ap.add_argument("--cache", help="dfrt bench model's --cache")
    ap.add_argument("--json", help="write every figure here")
    args = ap.parse_args()
    clients = [int(x) for x in args.clients.split(",")]
    report = {"command": sys.argv, "prompt_len": args.prompt_len, "gen": args.gen, "formats": {}}

    with tempfile.TemporaryDirectory() as tmp:
        ref = os.path.join(tmp, "model.json")
        cmd = [args.dfrt, "bench", "model", "--synthetic", args.synthetic, "--backend", args.backend, "--batch",
               args.clients, "--prompt-len", str(args.prompt_len), "--gen", str(args.gen), "--formats", args.formats,
               "--min-time", "0.5", "--json", ref]
        if args.cache:
            cmd += ["--cache", args.cache]
        print("bench-serve: " + " ".join(cmd), file=sys.stderr, flush=True)
        subprocess.run(cmd, check=True)
        with open(ref) as f:
            model = json.load(f)
    report["bench_model"] = model
    vocab = None
    for fmt in args.formats.split(","):
        model_dir = model["model"][f"{fmt}_dir"]
        if vocab is None:
            with open(os.path.join(model_dir, "config.json")) as f:
                cfg = json.load(f)
            vocab = cfg.get("vocab_size") or cfg["text_config"]["vocab_size"]
        proc, port = start_server(args, model_dir, max(clients))
        rows = []
        try:
            loop = asyncio.new_event_loop()
            loop.run_until_complete(round_of(port, min(clients), args.prompt_len, 16, vocab, 1))  # warm-up
            for n in clients:
                row = loop.run_until_complete(round_of(port, n, args.prompt_len, args.gen, vocab, 100 + n))
                fig = next((f for f in model["figures"] if f.get("figure") == "model" and f.get("format") == fmt
                            and f.get("batch") == n and f.get("backend", "").startswith(args.backend)), None)
                ref_decode = fig["decode_tokens_per_s"]["median"] if fig else float("nan")
                row["bench_model_decode_tokens_per_s"] = ref_decode
                row["steady_over_bench_model"] = row["steady_decode_tokens_per_s"] / ref_decode
                rows.append(row)
                print(f"bench-serve: {fmt} {n} clients: {row['total_tokens_per_s']:.1f} tokens/s overall, steady "
                      f"decode {row['steady_decode_tokens_per_s']:.1f} ({row['steady_over_bench_model']:.2f}x bench "
                      f"model's {ref_decode:.1f}); TTFT p50/p99 {row['ttft_ms_p50']:.0f}/{row['ttft_ms_p99']:.0f} ms,"
                      f" TPOT p50/p99 {row['tpot_ms_p50']:.2f}/{row['tpot_ms_p99']:.2f} ms", file=sys.stderr,
                      flush=True)
            loop.close()
        finally:
            proc.terminate()
            proc.wait(timeout=60)
        report["formats"][fmt] = rows

    print(f"\n{'format':7} {'clients':>7} {'total/s':>9} {'steady/s':>9} {'model/s':>9} {'ratio':>6} "
          f"{'TTFT p50':>9} {'p99':>7} {'TPOT p50':>9} {'p99':>7}")
    for fmt, rows in report["formats"].items():
        for r in rows:
            print(f"{fmt:7} {r['clients']:7} {r['total_tokens_per_s']:9.1f} {r['steady_decode_tokens_per_s']:9.1f} "
                  f"{r['bench_model_decode_tokens_per_s']:9.1f} {r['steady_over_bench_model']:6.2f} "
                  f"{r['ttft_ms_p50']:9.1f} {r['ttft_ms_p99']:7.1f} {r['tpot_ms_p50']:9.2f} {r['tpot_ms_p99']:7.2f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)


if __name__ == "__main__":
    main()
