#!/usr/bin/env bash
# dfrt chat in a terminal (tmux: send-keys and capture-pane) on the shipped model with the CPU
# backend: a two-turn conversation whose first answer is dfrt run --chat's and whose second
# turn carries the first; /reset; /system; an unknown command; Ctrl-C during an answer stops it
# and the chat goes on; Ctrl-C at the prompt; Ctrl-D leaves with status 0. Also piped input.
# usage: cli_chat.sh DFRT MKMODEL MODEL_DIR
set -u
DFRT=$1 MODEL=$3
source "$(dirname "${BASH_SOURCE[0]}")/cli_lib.sh" chat
if ! command -v tmux >/dev/null; then
    echo "tmux is missing (Debian: tmux)"
    exit 1
fi
DFRT=$(realpath "$DFRT") MODEL=$(realpath "$MODEL")
TM=(tmux -L "dfrt-chat-$$" -f /dev/null)
trap '"${TM[@]}" kill-server 2>/dev/null; rm -rf "$T"' EXIT

# session NAME ARGS...: dfrt chat in a detached terminal; its exit status lands in $T/NAME.rc
session() {
    local name=$1
    shift
    printf '%q ' "$DFRT" chat "$MODEL" --backend cpu --verbose "$@" >"$T/$name.cmd"
    echo "; echo \$? >$T/$name.rc; sleep 30" >>"$T/$name.cmd"
    "${TM[@]}" new-session -d -s "$name" -x 220 -y 60 "bash $T/$name.cmd"
}
screen() { "${TM[@]}" capture-pane -p -J -t "$1" -S -1000; }
# wait_for NAME COUNT PATTERN: until the screen shows PATTERN (grep -E) on COUNT lines (30 s)
wait_for() {
    for _ in $(seq 300); do
        (($(screen "$1" | grep -cE "$3") >= $2)) && return 0
        sleep 0.1
    done
    bad "$1: waited 30 s for $2 lines matching \"$3\"; the screen:"$'\n'"$(screen "$1")"
    return 1
}
say() { "${TM[@]}" send-keys -t "$1" -l "$2" && "${TM[@]}" send-keys -t "$1" Enter; }
# prompt_tokens NAME K: the K-th answer's prompt length from --verbose
prompt_tokens() { screen "$1" | sed -n 's/.*; prompt \([0-9]*\) tokens in.*/\1/p' | sed -n "${2}p"; }

want=$("$DFRT" run "$MODEL" --backend cpu --chat --prompt "In the beginning" -n 16 2>/dev/null)

# --- two turns, /reset, /system, an unknown command, Ctrl-D -------------------------------
session a -n 16
wait_for a 1 '^> $' || exit 1
say a "In the beginning"
wait_for a 1 'prompt [0-9]+ tokens in' || exit 1
screen a | grep -qF -- "$want" && ok || bad "the first answer is not dfrt run --chat's [$want]:"$'\n'"$(screen a)"
say a "And God said"
wait_for a 2 'prompt [0-9]+ tokens in' || exit 1
p1=$(prompt_tokens a 1) p2=$(prompt_tokens a 2)
((p2 > p1 + 16)) && ok || bad "the second turn's prompt ($p2 tokens) does not hold the first turn ($p1 + 16 tokens)"
say a "/reset"
wait_for a 1 'the conversation was reset' || exit 1
say a "In the beginning"
wait_for a 3 'prompt [0-9]+ tokens in' || exit 1
check_eq() { [[ $2 == "$3" ]] && ok || bad "$1: got [$2], want [$3]"; }
check_eq "the prompt after /reset" "$(prompt_tokens a 3)" "$p1"
say a "/system Answer briefly."
wait_for a 1 'system message set' || exit 1
say a "In the beginning"
wait_for a 4 'prompt [0-9]+ tokens in' || exit 1
(($(prompt_tokens a 4) > p1)) && ok || bad "the system message is not in the prompt: $(prompt_tokens a 4) tokens"
say a "/frobnicate"
wait_for a 1 'unknown command /frobnicate' || exit 1
"${TM[@]}" send-keys -t a C-d
for _ in $(seq 100); do [[ -s $T/a.rc ]] && break; sleep 0.1; done
check_eq "Ctrl-D: exit status" "$(cat "$T/a.rc" 2>/dev/null)" 0

# --- Ctrl-C: during an answer it stops the answer; at the prompt it drops the line ----------
session b
wait_for b 1 '^> $' || exit 1
say b "And the LORD spake unto Moses" # an answer of up to 512 tokens: seconds on the CPU
sleep 1
"${TM[@]}" send-keys -t b C-c
wait_for b 1 '^\[stopped\]$' || exit 1
wait_for b 1 'prompt [0-9]+ tokens in' || exit 1
n=$(screen b | sed -n 's/^\[\([0-9]*\) tokens in.*/\1/p' | head -1)
((n > 0 && n < 512)) && ok || bad "the answer stopped by Ctrl-C has $n tokens"
"${TM[@]}" send-keys -t b -l "half a line"
"${TM[@]}" send-keys -t b C-c
sleep 0.5
"${TM[@]}" send-keys -t b -l "/reset"
"${TM[@]}" send-keys -t b Enter
wait_for b 1 'the conversation was reset' || exit 1
screen b | grep -q "half a line/reset" && bad "Ctrl-C at the prompt kept the line" || ok
"${TM[@]}" send-keys -t b -l "/quit"
"${TM[@]}" send-keys -t b Enter
for _ in $(seq 100); do [[ -s $T/b.rc ]] && break; sleep 0.1; done
check_eq "/quit: exit status" "$(cat "$T/b.rc" 2>/dev/null)" 0

# --- piped: no prompts, one answer per line ---------------------------------------------------
got=$(printf 'In the beginning\n' | "$DFRT" chat "$MODEL" --backend cpu -n 16 2>/dev/null)
check_eq "piped" "$got" "$want"
expect 2 "--temperature expects a number from 0 to 100" -- "$DFRT" chat "$MODEL" --temperature hot
expect 2 "--system is empty" -- "$DFRT" chat "$MODEL" --system ""
finish
