#!/bin/bash
# usage: bench/upload_memory.sh <job_encoding> <nice> [idle_s] [wait_s]   (WARMUP=5: seconds of
# load before the idle run, not counted; VITRINE_* settings pass through to the server)
cd /work/main
export VITRINE_VAR_DIR=/tmp/demovar VITRINE_JOB_ENCODING=$1 VITRINE_JOB_ENCODER_NICE=$2 VITRINE_JOB_ENCODER_IDLE_S=${3:-30}
.venv/bin/gunicorn -c gunicorn.conf.py >/tmp/gunicorn.$1.log 2>&1 &
sleep 12
W=$(pgrep -f "gunicorn -c" | tail -1)
rss() { echo "$1 worker $(( $(ps -o rss= -p $W) / 1024 )) MiB; children: $(for c in $(pgrep -P $W); do echo -n "$(( $(ps -o rss= -p $c) / 1024 )) "; done)"; }
rss start
TOKEN=$(.venv/bin/vitrine admin create-token bench$RANDOM | grep -o 'vt_[A-Za-z0-9_-]*')
.venv/bin/python bench/load.py --clients 50 --seconds 15 --token $TOKEN --upload-rows 300 --warmup ${WARMUP:-0}
rss "after load+upload"
sleep ${4:-40}
rss "after idle"
kill $(pgrep -f "gunicorn -c" | head -1); sleep 3
