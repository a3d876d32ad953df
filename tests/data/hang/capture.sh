#!/usr/bin/env bash
# Regenerates the real samples in this folder (run from the repository root, as root
# or where ptrace is allowed): py-spy 0.4.3 dumps and faulthandler text of the small
# programs in programs/, and a 4-rank gloo job (torch) where rank 2 waits for data.
set -euo pipefail
here=tests/data/hang
py=.venv/bin/python
spy=.venv/bin/py-spy
pids=()
$py $here/programs/pyspy_one_thread.py & pids+=($!)
$py $here/programs/pyspy_two_threads.py & pids+=($!)
$py $here/programs/faulthandler_signal.py $here/faulthandler-one-thread.txt & pids+=($!)
$py $here/programs/faulthandler_signal.py $here/faulthandler-two-threads.txt threads & pids+=($!)
sleep 2
$spy dump --json --pid "${pids[0]}" > $here/pyspy-one-thread.json
$spy dump --json --pid "${pids[1]}" > $here/pyspy-two-threads.json
kill -USR1 "${pids[2]}" "${pids[3]}"
sleep 0.5
kill "${pids[@]}"
$py $here/programs/faulthandler_dumping_thread.py $here/faulthandler-dumping-thread.txt
ranks=()
for r in 0 1 2 3; do
    RANK=$r WORLD_SIZE=4 MASTER_ADDR=127.0.0.1 MASTER_PORT=29613 \
        $py $here/gloo-4ranks/train.py & ranks+=($!)
done
sleep 10
for r in 0 1 2 3; do
    $spy dump --json --pid "${ranks[$r]}" > $here/gloo-4ranks/rank-$r.json
done
kill "${ranks[@]}"
wait || true
