#!/usr/bin/env bash
# Create bench/.venv holding the benchmark's peers and the zarrs_cffi package.
#
# Every line of requirements.txt is installed on its own; a line that fails is
# recorded in .venv/peer_status.json (with pip's last words) and the set-up goes
# on, so the benchmark can report the failure instead of hiding it.
#
# Usage: bash bench/setup_env.sh [--skip-package]
#   --skip-package  do not build/install zarrs_cffi from the repository
#                   (recorded as "skipped"); useful while it is being written.
set -u
here="$(cd "$(dirname "$0")" && pwd)"
venv="$here/.venv"
python="${PYTHON:-python3.11}"
skip_package=0
for arg in "$@"; do
    case "$arg" in
        --skip-package) skip_package=1 ;;
        *) echo "setup_env.sh: unknown option $arg" >&2; exit 2 ;;
    esac
done

if [ ! -x "$venv/bin/python" ]; then
    "$python" -m venv "$venv" || { echo "cannot create $venv" >&2; exit 1; }
fi
vpy="$venv/bin/python"
log="$venv/setup.log"
results="$venv/peer_status.tsv"
: >"$log"
: >"$results"
constraints="$venv/constraints.txt"
grep -E '^[^#].*==' "$here/requirements.txt" >"$constraints" || true

record() {  # name ok detail
    printf '%s\t%s\t%s\n' "$1" "$2" "$3" >>"$results"
}

install_one() {  # display-name, pip arguments...
    local name="$1"; shift
    local out
    echo "== installing $name" | tee -a "$log"
    if out="$("$vpy" -m pip install --disable-pip-version-check "$@" 2>&1)"; then
        echo "$out" >>"$log"
        record "$name" ok ""
    else
        echo "$out" >>"$log"
        local why
        why="$(echo "$out" | grep -E 'ERROR|error' | tail -n 3 | tr '\t\n' '  ')"
        [ -n "$why" ] || why="$(echo "$out" | tail -n 3 | tr '\t\n' '  ')"
        echo "   FAILED: $why"
        record "$name" failed "$why"
    fi
}

while IFS= read -r line; do
    line="${line%%#*}"
    line="$(echo "$line" | xargs)"
    [ -n "$line" ] || continue
    name="${line%%[=<>!~ ]*}"
    install_one "$name" --only-binary=:all: -c "$constraints" "$line"
done <"$here/requirements.txt"

if [ "$skip_package" = 1 ]; then
    record zarrs_cffi skipped "setup_env.sh --skip-package"
else
    install_one zarrs_cffi "$here/.."
fi

# Turn the TSV into JSON with installed versions.
"$vpy" - "$results" "$venv/peer_status.json" <<'PY'
import json
import sys
from importlib import metadata

rows = [line.rstrip("\n").split("\t") for line in open(sys.argv[1]) if line.strip()]
status = {}
for name, state, detail in rows:
    entry = {"status": state}
    if detail:
        entry["error"] = detail.strip()
    try:
        entry["version"] = metadata.version(name)
    except metadata.PackageNotFoundError:
        entry["version"] = None
    status[name] = entry
with open(sys.argv[2], "w") as f:
    json.dump(status, f, indent=2)
for name, entry in status.items():
    print(f"{name:12s} {entry['status']:8s} {entry['version'] or '-':10s} {entry.get('error', '')}")
PY
