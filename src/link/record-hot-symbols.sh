#!/usr/bin/env bash
# Records `src/link/hot-symbols.txt`, the link order of the functions `cosmospark serve` runs: first
# those from exec to idle (start-up and the host's readiness `GET /`), then those one envelope
# invocation adds. src/link/build.rs hands the file to the linker (`--symbol-ordering-file`) so this code
# sits on a few contiguous pages instead of being scattered over the whole executable: the
# kernel maps a file page and its neighbours on every fault, so scattered start-up code keeps
# most of the text resident (see docs/benchmarks.md, "What holds memory at idle in `serve`").
#
# Usage: cargo build --release && src/link/record-hot-symbols.sh [path/to/cosmospark]
# Needs valgrind (callgrind) and curl. Symbols missing from a later build are skipped by the
# linker, so a stale file loses the effect silently. Symbol names carry a hash of the crate's
# build metadata, which any dependency change alters: record again after every change to
# Cargo.toml or Cargo.lock, and after toolchain upgrades.
set -euo pipefail
cd "$(dirname "$0")/../.."
binary="$(realpath "${1:-target/release/cosmospark}")"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

envelope='{"Data":{"req":{"Url":"http://localhost:7071/api/round","Method":"GET","Query":{},
"Headers":{"Accept":["*/*"],"Host":["localhost:7071"]},"Params":{}}},
"Metadata":{"sys":{"MethodName":"GetRound","UtcNow":"2024-05-14T15:14:15.128919Z"}}}'

# Runs `serve` under callgrind, sends `GET /` (and the envelope when $2 is set), stops it and
# prints the functions of the executable it ran.
record() {
  local name="$1" invoke="${2:-}"
  RUST_LOG=warn valgrind --tool=callgrind --demangle=no --compress-strings=no \
    --callgrind-out-file="$work/$name.out" "$binary" serve --port 0 >"$work/$name.log" 2>&1 &
  local pid=$! port=""
  for _ in $(seq 1 600); do
    port="$(sed -n 's|^Listening on http://127.0.0.1:\([0-9]*\)$|\1|p' "$work/$name.log")"
    [ -n "$port" ] && break
    sleep 0.1
  done
  [ -n "$port" ] || { echo "serve did not start:" >&2; cat "$work/$name.log" >&2; exit 1; }
  curl -sf "http://127.0.0.1:$port/" >/dev/null
  if [ -n "$invoke" ]; then
    curl -sf -H 'content-type: application/json' --data "$envelope" \
      "http://127.0.0.1:$port/GetRound" >/dev/null
  fi
  kill -INT "$pid"
  wait "$pid" || true
  # Callgrind marks recursion levels with a `'N` suffix and names functions it has no symbol
  # for by address: keep symbol names only, once each.
  awk -v bin="$binary" '/^ob=/ { ob = substr($0, 4) } /^fn=/ && ob == bin { print substr($0, 4) }' \
    "$work/$name.out" | sed "s/'[0-9]*$//" | grep -v -e '^0x' -e '^(below main)$' | awk '!seen[$0]++'
}

record idle >"$work/idle.txt"
record invoke 1 >"$work/invoke.txt"
{
  cat "$work/idle.txt"
  grep -vxF -f "$work/idle.txt" "$work/invoke.txt" || true
} >src/link/hot-symbols.txt
echo "src/link/hot-symbols.txt: $(wc -l <src/link/hot-symbols.txt) functions ($(wc -l <"$work/idle.txt") at idle)"
