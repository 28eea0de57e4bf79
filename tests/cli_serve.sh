#!/usr/bin/env bash
# dfrt serve on the shipped model with the CPU backend, on loopback, driven by curl: every
# endpoint; a greedy answer equal to dfrt run's, streamed or not, alone and among 16
# concurrent streams of other lengths; seeds; stop strings; errors (malformed and truncated
# JSON, wrong types, invalid UTF-8, bodies over the limit, unknown endpoints and methods, long
# prompts, API keys); clients that leave mid-stream; a header-trickling client; a full server
# answering 503; SIGTERM under load. The server must stay up through all of it.
# Then OpenAI's official Node SDK (tests/serve_openai.cjs) drives it too.
# usage: cli_serve.sh DFRT MKMODEL MODEL_DIR OPENAI_SDK_DIR   ($DFRT_NODE: another node binary)
set -u
DFRT=$1 MODEL=$3 SDK=${4:-}
source "$(dirname "${BASH_SOURCE[0]}")/cli_lib.sh" serve
command -v curl >/dev/null || { echo "curl is missing"; exit 1; }

PID= PORT=
# start [OPTIONS...]: a server on a free port, waiting until it answers /health
start() {
    "$DFRT" serve "$MODEL" --backend cpu --port 0 "$@" >"$T/server.out" 2>"$T/server.err" &
    PID=$!
    for _ in $(seq 100); do
        PORT=$(sed -n 's/.*listening on http:\/\/127.0.0.1:\([0-9]*\).*/\1/p' "$T/server.out")
        [[ -n $PORT ]] && curl -sf "http://127.0.0.1:$PORT/health" >/dev/null && return 0
        sleep 0.2
    done
    bad "the server did not start: $(cat "$T/server.err")"
    return 1
}
stop() { kill -TERM "$PID" 2>/dev/null; wait "$PID"; }
alive() { kill -0 "$PID" 2>/dev/null && ok || bad "the server died: $(tail -5 "$T/server.err")"; }
url() { echo "http://127.0.0.1:$PORT$1"; }
post() { curl -s --max-time 120 "$(url "$1")" -H 'Content-Type: application/json' -d "$2"; }
# json EXPR: evaluates a Python expression over the JSON on stdin (as j)
json() { python3 -c "import json,sys; j=json.load(sys.stdin); print($1)"; }
# sse_text: the concatenated text of an SSE stream on stdin (chat deltas or completion texts)
sse_text() {
    python3 -c '
import json, sys
out, done = [], False
for line in sys.stdin.read().split("\n"):
    if not line.startswith("data: "): continue
    d = line[6:]
    if d == "[DONE]": done = True; continue
    j = json.loads(d)
    for c in j.get("choices", []):
        out.append(c.get("delta", {}).get("content", "") if "delta" in c else c.get("text", ""))
print("".join(out) + ("" if done else "<no [DONE]>"), end="")'
}
check() { # check NAME GOT WANT
    [[ $2 == "$3" ]] && ok || bad "$1: got [$2], want [$3]"
}

start --parallel 4 --queue 64 || exit 1

# --- endpoints -------------------------------------------------------------------------------
check health "$(curl -s "$(url /health)")" '{"status":"ok"}'
check models "$(curl -s "$(url /v1/models)" | json 'j["data"][0]["id"], j["object"]')" "kjv-qwen3-df11 list"
check tokenize "$(post /tokenize '{"content": "And God said"}' | json 'j["tokens"]')" "[299, 390, 391]"
check detokenize "$(post /detokenize '{"tokens": [299, 390, 391]}' | json 'j["content"]')" "And God said"

# --- greedy answers: dfrt run's text, streamed or not ---------------------------------------
want=$("$DFRT" run "$MODEL" --backend cpu --chat --prompt "In the beginning" -n 16 2>/dev/null)
got=$(post /v1/chat/completions '{"messages": [{"role": "user", "content": "In the beginning"}], "max_tokens": 16, "temperature": 0}')
check "chat text" "$(echo "$got" | json 'j["choices"][0]["message"]["content"]')" "$want"
check "chat fields" "$(echo "$got" | json 'j["object"], j["choices"][0]["finish_reason"], j["usage"]["completion_tokens"], j["model"]')" \
    "chat.completion length 16 kjv-qwen3-df11"
check "array content" "$(post /v1/chat/completions '{"messages": [{"role": "user", "content": [{"type": "text", "text": "In the "}, {"type": "text", "text": "beginning"}]}], "max_tokens": 16, "temperature": 0}' | json 'j["choices"][0]["message"]["content"]')" "$want"
streamed=$(post /v1/chat/completions '{"messages": [{"role": "user", "content": "In the beginning"}], "max_tokens": 16, "temperature": 0, "stream": true, "stream_options": {"include_usage": true}}')
check "chat streamed" "$(echo "$streamed" | sse_text)" "$want"
[[ $streamed == *'"usage":{"prompt_tokens":'* && $streamed == *'"finish_reason":"length"'* && $streamed == *'"role":"assistant"'* ]] &&
    ok || bad "stream without usage, finish_reason or role: $streamed"
want_c=$("$DFRT" run "$MODEL" --backend cpu --prompt "And God said" -n 10 2>/dev/null)
check "completion" "$(post /v1/completions '{"prompt": "And God said", "max_tokens": 10, "temperature": 0}' | json 'j["choices"][0]["text"]')" "$want_c"
check "token-id prompt" "$(post /v1/completions '{"prompt": [299, 390, 391], "max_tokens": 10, "temperature": 0}' | json 'j["choices"][0]["text"]')" "$want_c"
check "ignore_eos" "$(post /v1/completions '{"prompt": "And", "max_tokens": 40, "temperature": 0, "ignore_eos": true}' | json 'j["usage"]["completion_tokens"]')" 40
check "completion streamed" "$(post /v1/completions '{"prompt": "And God said", "max_tokens": 10, "temperature": 0, "stream": true}' | sse_text)" "$want_c"

# --- 16 concurrent streams of different lengths: each gives its own solo answer ------------
for i in $(seq 0 15); do
    n=$((4 + i))
    post /v1/completions "{\"prompt\": \"And the LORD spake unto Moses $i\", \"max_tokens\": $n, \"temperature\": 0}" |
        json 'j["choices"][0]["text"]' >"$T/solo.$i"
done
for i in $(seq 0 15); do
    n=$((4 + i))
    post /v1/completions "{\"prompt\": \"And the LORD spake unto Moses $i\", \"max_tokens\": $n, \"temperature\": 0, \"stream\": true}" |
        sse_text >"$T/many.$i" &
done
wait $(jobs -p | grep -v "^$PID$") 2>/dev/null
same=0
for i in $(seq 0 15); do cmp -s <(printf '%s\n' "$(cat "$T/many.$i")") "$T/solo.$i" && same=$((same + 1)); done
check "16 concurrent streams" "$same" 16

# --- sampling and stop strings ---------------------------------------------------------------
s1=$(post /v1/completions '{"prompt": "And God said", "max_tokens": 20, "temperature": 1.2, "seed": 7}' | json 'j["choices"][0]["text"]')
s2=$(post /v1/completions '{"prompt": "And God said", "max_tokens": 20, "temperature": 1.2, "seed": 7, "top_p": 1}' | json 'j["choices"][0]["text"]')
check "seed" "$s1" "$s2"
stop_at=${want_c:4:3} # three characters inside the greedy answer
got=$(post /v1/completions "{\"prompt\": \"And God said\", \"max_tokens\": 10, \"temperature\": 0, \"stop\": [\"zzz\", \"$stop_at\"]}")
check "stop" "$(echo "$got" | json 'j["choices"][0]["text"], j["choices"][0]["finish_reason"]')" "${want_c%%"$stop_at"*} stop"
check "stop streamed" "$(post /v1/completions "{\"prompt\": \"And God said\", \"max_tokens\": 10, \"temperature\": 0, \"stream\": true, \"stop\": \"$stop_at\"}" | sse_text)" "${want_c%%"$stop_at"*}"

# --- errors ---------------------------------------------------------------------------------
err() { # err STATUS FRAGMENT CURL_ARGS...: the status and OpenAI's error object
    local status=$1 frag=$2
    shift 2
    local body code
    body=$(curl -s -w '\n%{http_code}' --max-time 30 "$@")
    code=${body##*$'\n'}
    body=${body%$'\n'*}
    [[ $code == "$status" && $body == *'"error":{"message":'*"$frag"* ]] && ok || bad "$*: got $code $body, want $status with $frag"
}
C=(-H 'Content-Type: application/json')
err 400 "not a JSON object" "$(url /v1/completions)" "${C[@]}" -d '{"prompt": "x", "max_tokens": '
err 400 "not a JSON object" "$(url /v1/completions)" "${C[@]}" -d '[1, 2]'
err 400 "'temperature' must be a number from 0 to 2" "$(url /v1/completions)" "${C[@]}" -d '{"prompt": "x", "temperature": "hot"}'
err 400 '"param":"max_tokens"' "$(url /v1/completions)" "${C[@]}" -d '{"prompt": "x", "max_tokens": 2.5}'
err 400 "'n' must be a number from 1 to 1" "$(url /v1/completions)" "${C[@]}" -d '{"prompt": "x", "n": 2}'
err 400 "'stream' must be true or false" "$(url /v1/completions)" "${C[@]}" -d '{"prompt": "x", "stream": "yes"}'
err 400 "'stop' must be a string or an array" "$(url /v1/completions)" "${C[@]}" -d '{"prompt": "x", "stop": [1]}'
err 400 "'prompt' must be a string" "$(url /v1/completions)" "${C[@]}" -d '{"max_tokens": 3}'
err 400 "'messages' must be an array" "$(url /v1/chat/completions)" "${C[@]}" -d '{"messages": []}'
err 400 "messages[1]: a system message must come first" "$(url /v1/chat/completions)" "${C[@]}" \
    -d '{"messages": [{"role": "user", "content": "hi"}, {"role": "system", "content": "x"}]}'
err 400 "messages[0].content[0] must be" "$(url /v1/chat/completions)" "${C[@]}" \
    -d '{"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": "x"}]}]}'
err 400 "not valid UTF-8" "$(url /v1/completions)" "${C[@]}" --data-binary $'{"prompt": "\xff\xfe"}'
long=$(python3 -c 'print("In the beginning " * 800)')
err 400 "the context is 2048 tokens" "$(url /v1/completions)" "${C[@]}" -d "{\"prompt\": \"$long\"}"
err 400 "prompt[1] must be a token id from 0 to" "$(url /v1/completions)" "${C[@]}" -d '{"prompt": [299, -4]}'
err 400 "'ignore_eos' must be true or false" "$(url /v1/completions)" "${C[@]}" -d '{"prompt": "x", "ignore_eos": 1}'
err 404 "no such endpoint" "$(url /v2/nothing)"
err 405 "method GET not allowed" "$(url /v1/completions)"
err 400 "no JSON body" -X POST "$(url /v1/completions)"
python3 -c 'print("{\"prompt\": \"" + "a" * 1100000 + "\"}")' >"$T/big.json"
err 413 "larger than 1048576 bytes" "$(url /v1/completions)" "${C[@]}" --data-binary "@$T/big.json"
alive

# --- clients that leave mid-stream, and a header-trickling one ------------------------------
# (1500 tokens take this model about 25 s on the CPU: the slots must free long before)
for i in 1 2 3; do
    curl -s --max-time 0.3 "$(url /v1/completions)" "${C[@]}" -d '{"prompt": "And", "max_tokens": 1500, "stream": true}' >/dev/null
done
for i in 1 2; do
    curl -s --max-time 0.3 "$(url /v1/chat/completions)" "${C[@]}" \
        -d '{"messages": [{"role": "user", "content": "And"}], "max_tokens": 1500}' >/dev/null
done
# trickle GAP: a client sending its request a byte every GAP seconds (0: half of it, then
# nothing); prints how many seconds the server kept the connection, at most 30
trickle() {
    python3 - "$PORT" "$1" <<'PY'
import socket, sys, time
port, gap = int(sys.argv[1]), float(sys.argv[2])
s = socket.create_connection(("127.0.0.1", port))
t0 = time.monotonic()
req = b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 20\r\n\r\n{}"
try:
    if gap == 0:
        s.sendall(req[:30])
        s.settimeout(30)
        s.recv(1)  # '' when the server closes
    else:
        for i in range(int(30 / gap)):
            s.sendall(req[i % len(req):i % len(req) + 1])
            time.sleep(gap)
except OSError:
    pass
print(int(time.monotonic() - t0))
PY
}
alive
check "health after the leavers" "$(curl -s "$(url /health)")" '{"status":"ok"}'
for _ in $(seq 25); do # the leavers' slots free at the engine's next step
    [[ $(curl -s "$(url /metrics)" | sed -n 's/^dfrt_running_sequences //p') == 0 ]] && break
    sleep 0.2
done
metrics=$(curl -s "$(url /metrics)")
for m in dfrt_requests_total dfrt_generated_tokens_total 'dfrt_running_sequences 0' dfrt_queue_length \
    'dfrt_time_to_first_token_seconds_bucket{le="+Inf"}' dfrt_time_per_output_token_seconds_count dfrt_kv_slots_in_use; do
    [[ $metrics == *"$m"* ]] && ok || bad "metrics lack \"$m\": $metrics"
done
stop
check "exit after SIGTERM" "$?" 0

# --- --tokenizer: another tokenizer.json; a missing one is named --------------------------------
expect 1 "/nonexistent/tokenizer.json" -- "$DFRT" serve "$MODEL" --backend cpu --port 0 --tokenizer /nonexistent/tokenizer.json
start --tokenizer "$MODEL/tokenizer.json" || exit 1
check "--tokenizer" "$(post /tokenize '{"content": "And God said"}' | json 'j["tokens"]')" "[299, 390, 391]"
stop

# --- a short timeout and a trickling client; an API key ------------------------------------
start --timeout 2 --api-key s3cret || exit 1
held=$(trickle 0)
((held <= 6)) && ok || bad "a client that stopped half-way through its request held its connection for $held s"
held=$(trickle 0.3)
((held <= 6)) && ok || bad "a client sending a byte every 0.3 s held its connection for $held s"
alive
err 401 "missing or wrong API key" "$(url /v1/models)"
err 401 "missing or wrong API key" "$(url /v1/models)" -H 'Authorization: Bearer s3cres'
check "with the key" "$(curl -s "$(url /v1/models)" -H 'Authorization: Bearer s3cret' | json 'j["object"]')" list
check "health needs no key" "$(curl -s "$(url /health)")" '{"status":"ok"}'
stop

# --- OpenAI's Node SDK: chat, completions, streams with usage, stop, seeds, aborts, errors ---
if [[ -z $SDK || ! -s $SDK/package.json ]]; then
    bad "OpenAI's Node SDK is not at '$SDK' (scripts/fetch-openai-sdk.sh fetches it)"
elif ! command -v node >/dev/null; then
    bad "node is missing: the OpenAI SDK's checks need it"
else
    start --parallel 4 --api-key sdk-key || exit 1
    if ${DFRT_NODE:-node} "$(dirname "${BASH_SOURCE[0]}")/serve_openai.cjs" "$(realpath "$SDK")" "$(url /v1)" sdk-key kjv-qwen3-df11 \
        "$want" "$want_c" >"$T/sdk.out" 2>&1; then
        ok
    else
        bad "the OpenAI SDK's checks: $(cat "$T/sdk.out")"
    fi
    tail -1 "$T/sdk.out"
    alive
    stop
fi

# --- 200 requests against 4 slots and 16 places in the queue: each answered or refused -----
start --parallel 4 --queue 16 || exit 1
for i in $(seq 200); do
    curl -s -o "$T/b.$i" -w '%{http_code}' --max-time 120 "$(url /v1/completions)" "${C[@]}" \
        -d "{\"prompt\": \"And the $i\", \"max_tokens\": $((1 + i % 7)), \"temperature\": 0}" >"$T/c.$i" &
done
wait $(jobs -p | grep -v "^$PID$") 2>/dev/null
n200=0 n503=0 other=
for i in $(seq 200); do
    case $(cat "$T/c.$i") in
    200) [[ $(json 'j["usage"]["completion_tokens"] >= 1' <"$T/b.$i") == True ]] && n200=$((n200 + 1)) || other+=" $i:bad-body" ;;
    503) n503=$((n503 + 1)) ;;
    *) other+=" $i:$(cat "$T/c.$i")" ;;
    esac
done
((n200 >= 20 && n200 + n503 == 200)) && ok || bad "200 requests: $n200 answered, $n503 refused, others:$other"
alive
stop

# --- a full server: 503 with Retry-After; SIGTERM under load -------------------------------
start --parallel 1 --queue 1 || exit 1
for i in $(seq 8); do
    curl -s -o /dev/null -D "$T/h.$i" --max-time 120 "$(url /v1/completions)" "${C[@]}" \
        -d '{"prompt": "And", "max_tokens": 60, "temperature": 0}' &
done
wait $(jobs -p | grep -v "^$PID$") 2>/dev/null
n503=$(grep -l "^HTTP/1.1 503" "$T"/h.* | wc -l)
n200=$(grep -l "^HTTP/1.1 200" "$T"/h.* | wc -l)
((n503 >= 1 && n200 >= 2 && n503 + n200 == 8)) && ok || bad "8 requests to 1 slot + 1 waiting: $n200 answered, $n503 refused"
grep -qi "^Retry-After: 1" $(grep -l "^HTTP/1.1 503" "$T"/h.* | head -1) && ok || bad "503 without Retry-After"
for i in 1 2; do
    curl -s -o /dev/null --max-time 60 "$(url /v1/completions)" "${C[@]}" -d '{"prompt": "And", "max_tokens": 2000, "stream": true}' &
done
sleep 1
t0=$(date +%s)
kill -TERM "$PID"
wait "$PID"
rc=$?
check "SIGTERM under load: exit" "$rc" 0
(($(date +%s) - t0 <= 15)) && ok || bad "SIGTERM took $(($(date +%s) - t0)) s"
wait
finish
