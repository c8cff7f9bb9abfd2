#!/bin/bash
# Kill a running sweep with SIGKILL at a random moment (10-59 s), rerun it, and check that the
# file holds exactly one line per (model, resolution) and the same set as an uninterrupted run
# (the zoo sweep, restricted to the same models). Run it under flock /tmp/archcalc-heavy.lock.
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/sweep_kill9.jsonl}
rm -f "$OUT"
ARGS=(--models 'resnet*' --models 'efficientnet*' --models 'convnext*' --models 'mobilenet*' --res 48 --res 224 --res 448 --jobs 2 --timeout 120 --out "$OUT")
DELAY=$(( RANDOM % 50 + 10 ))
echo "load: $(cat /proc/loadavg); kill after ${DELAY}s"
.venv/bin/archcalc sweep "${ARGS[@]}" &
PID=$!
sleep $DELAY
kill -9 $PID
wait $PID 2>/dev/null
echo "killed pid $PID with SIGKILL at ${DELAY}s: $(wc -l < "$OUT") lines, last byte: $(tail -c 1 "$OUT" | xxd -p)"
START=$(date +%s.%N)
.venv/bin/archcalc sweep "${ARGS[@]}"
echo "rerun wall: $(echo "$(date +%s.%N) - $START" | bc) s"
.venv/bin/python - "$OUT" "${ZOO:-benchmarks/results/zoo_sweep.jsonl.gz}" <<'PY'
import collections, sys
from archcalc.jsonl import read_jsonl
from archcalc.sweep import line_key
k = [line_key(x) for x in read_jsonl(sys.argv[1]).records]
c = collections.Counter(k)
models = {x[0] for x in k}
z = {line_key(x) for x in read_jsonl(sys.argv[2]).records}
zs = {x for x in z if x[0] in models}
print(f"lines {len(k)}, unique pairs {len(c)}, duplicated pairs {sum(1 for v in c.values() if v > 1)}, models {len(models)}")
print(f"same set as the uninterrupted zoo run: {set(k) == zs} ({len(zs)} pairs there)")
PY
