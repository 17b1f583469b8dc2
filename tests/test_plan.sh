#!/bin/sh
# A plan measured in one process, exported, imported into a fresh process,
# picks the same strategy with no timing (WISDOM_ONLY) and runs correctly.
set -eu
bin=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$bin"
strategy=$("$bin" export "$tmp/wisdom")
"$bin" import "$tmp/wisdom" "$strategy"
