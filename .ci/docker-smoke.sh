#!/usr/bin/env bash
# Smoke test of the running container, called by ../shared/tools/container-check.sh (SMOKE_SCRIPT)
# once GET /readyz answers. Checks, in order:
#   1. POST /v1/predict answers with the bundled model (model_version, label "positive");
#   2. the server (PID 1) runs as a non-root user that owns /data, and so does its model
#      process (one, a child of PID 1); the image is under
#      MAX_IMAGE_BYTES; its HEALTHCHECK command passes (and fails when nothing listens);
#   3. the API key from SENTIMENT_API_KEYS guards the mutating endpoints (401 without, 200 with);
#   4. training: upload a synthetic dataset (60 examples, two labels), run a tiny 1-epoch job
#      with promote "always" in the container's training process until it succeeds (deadline
#      TRAIN_TIMEOUT_S), then predictions report the job's new model version;
#   5. SIGTERM: `podman stop` ends the server gracefully (exit status not 137, lifespan shutdown
#      logged) well before the 10 s kill timeout;
#   6. persistence: after stop + start, /data/sentiment.db, a marker file, the dataset, the job
#      record (succeeded, same version), both model versions (bundled and the trained one) and
#      the active version (the trained one, also in predictions) are unchanged; then rollback:
#      activating "bundled" serves it again; a fresh container on the same named volume sees the
#      marker;
#   7. SIGTERM during start-up (before uvicorn runs): a new container stopped at once exits
#      within STOP_BUDGET_S, not killed at the timeout.
# Environment: BASE_URL (from the check), CONTAINER_NAME, API_KEY; podman configured by the check
# (CONTAINERS_CONF, CONTAINERS_STORAGE_CONF are exported there). Exits non-zero on any failure,
# with a line starting "FAIL:".
set -euo pipefail

: "${BASE_URL:?BASE_URL is set by container-check.sh}"
CONTAINER_NAME=${CONTAINER_NAME:-app-under-test-smoke}
API_KEY=${API_KEY:-ci-key}
MAX_IMAGE_BYTES=${MAX_IMAGE_BYTES:-1000000000}
STOP_BUDGET_S=${STOP_BUDGET_S:-8}       # podman stop -t 10 would SIGKILL at 10 s
READY_TIMEOUT_S=${READY_TIMEOUT_S:-120}
TRAIN_TIMEOUT_S=${TRAIN_TIMEOUT_S:-120} # queue + train + save of the tiny job

fail() { echo "FAIL: $*" >&2; exit 1; }
ok() { echo "ok: $*"; }
in_container() { podman exec "$CONTAINER_NAME" "$@"; }
# json_get FIELD-PATH < body: print one field of a JSON document, e.g. json_get predictions.0.label
json_get() {
  python3 -c '
import json, sys
value = json.load(sys.stdin)
for key in sys.argv[1].split("."):
    value = value[int(key)] if isinstance(value, list) else value[key]
print(value)' "$1"
}
# status METHOD PATH [curl args...]: print the HTTP status code only
status() { curl -sS -o /dev/null -w '%{http_code}' -X "$1" "$BASE_URL$2" "${@:3}"; }
wait_ready() {
  local deadline=$((SECONDS + READY_TIMEOUT_S))
  until curl -fsS --max-time 2 "$BASE_URL/readyz" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || fail "no 2xx from $BASE_URL/readyz within ${READY_TIMEOUT_S}s"
    sleep 0.5
  done
}
predict_positive() {
  local body label version
  body=$(curl -fsS -X POST "$BASE_URL/v1/predict" -H 'Content-Type: application/json' \
    -d '{"text": "a gorgeous, witty, seductive movie"}') || fail "POST /v1/predict failed"
  version=$(json_get model_version <<<"$body") || fail "no model_version in $body"
  label=$(json_get predictions.0.label <<<"$body") || fail "no predictions[0].label in $body"
  [[ -n $version ]] || fail "empty model_version in $body"
  [[ $label == positive ]] || fail "expected label positive, got $label: $body"
  ok "POST /v1/predict -> $body"
}
active_version() { curl -fsS "$BASE_URL/v1/models/sentiment-en" | json_get active_version; }
# call METHOD PATH CODES [curl args...]: print the response body; fail unless the HTTP status
# matches CODES (a pattern such as 200 or '20[01]'). Use as: body=$(call ...) || exit 1
call() {
  local out code
  out=$(curl -sS --max-time 30 -w '\n%{http_code}' -X "$1" "$BASE_URL$2" "${@:4}") \
    || fail "$1 $2: no response"
  code=${out##*$'\n'}
  out=${out%$'\n'*}
  [[ $code =~ ^($3)$ ]] || fail "$1 $2 answered $code, expected $3: $out"
  printf '%s\n' "$out"
}
auth=(-H "Authorization: Bearer $API_KEY")
# predict_version VERSION: predictions report VERSION within 10 s (a server process follows an
# activation made elsewhere within SENTIMENT_VERSION_POLL_S)
predict_version() {
  local body version deadline=$((SECONDS + 10))
  while :; do
    body=$(call POST /v1/predict 200 -H 'Content-Type: application/json' -d '{"text": "a good film"}') || exit 1
    version=$(json_get model_version <<<"$body") || fail "no model_version in $body"
    [[ $version == "$1" ]] && break
    ((SECONDS < deadline)) || fail "predictions report model_version $version, expected $1: $body"
    sleep 0.5
  done
  ok "predictions report model_version $1"
}

# ---------------------------------------------------------------- 1. prediction
predict_positive

# ---------------------------------------------------------------- 2. user, health, size
uids=$(in_container grep '^Uid:' /proc/1/status) || fail "cannot read PID 1's status"
read -r _ ruid euid _ <<<"$uids"
[[ -n $euid && $ruid != 0 && $euid != 0 ]] || fail "the server (PID 1) runs as root (uid $ruid/$euid)"
data_owner=$(in_container stat -c %u /data)
[[ $data_owner == "$euid" ]] || fail "/data is owned by uid $data_owner, the server runs as $euid"
ok "server runs as uid $euid and owns /data"
# The model process (python -m app.serving.model_process): one, a child of the server, same user.
model_procs=$(in_container python3 -c '
import os
for pid in filter(str.isdigit, os.listdir("/proc")):
    try:
        command = open(f"/proc/{pid}/cmdline", "rb").read()
        status = dict(line.split(":", 1) for line in open(f"/proc/{pid}/status").read().splitlines())
    except OSError:
        continue
    if b"app.serving.model_process" in command.split(b"\0"):  # an argument, not part of this script
        print(status["PPid"].split()[0], status["Uid"].split()[1])') || fail "cannot list the container's processes"
[[ $model_procs == "1 $euid" ]] || fail "expected one model process, child of PID 1, uid $euid; found: '$model_procs'"
ok "the model process runs beside the server (parent PID 1, uid $euid)"
# Only the model process holds torch: the server maps no torch library and stays small.
server_mem=$(in_container python3 -c '
import os
maps = open("/proc/1/maps").read()
rss_kb = next(int(line.split()[1]) for line in open("/proc/1/status") if line.startswith("VmRSS:"))
print(int("libtorch" in maps), rss_kb // 1024)') || fail "cannot read the server's memory map"
read -r server_torch server_rss_mb <<<"$server_mem"
[[ $server_torch == 0 ]] || fail "the server process (PID 1) maps a torch library"
((server_rss_mb < 200)) || fail "the server process holds $server_rss_mb MB (RSS), over 200 MB"
ok "the server process maps no torch library and holds $server_rss_mb MB"

image=$(podman inspect -f '{{.Image}}' "$CONTAINER_NAME")
size=$(podman image inspect -f '{{.Size}}' "$image")
((size < MAX_IMAGE_BYTES)) || fail "image is $size bytes, over $MAX_IMAGE_BYTES"
ok "image size $((size / 1000000)) MB"

# The image's HEALTHCHECK command, run the way Docker runs it (exec in the container). Podman's
# own scheduler needs systemd, which CI lacks, hence --no-healthcheck in .ci/run and this instead.
mapfile -d '' health_cmd < <(podman image inspect -f '{{json .HealthCheck}}' "$image" | python3 -c '
import json, sys
test = (json.load(sys.stdin) or {}).get("Test") or []
if test[:1] == ["CMD"]:
    sys.stdout.write("\0".join(test[1:]) + "\0")')
((${#health_cmd[@]})) || fail "the image has no exec-form HEALTHCHECK"
in_container "${health_cmd[@]}" || fail "HEALTHCHECK fails on a ready server"
if podman exec -e SENTIMENT_PORT=9 "$CONTAINER_NAME" "${health_cmd[@]}" >/dev/null 2>&1; then
  fail "HEALTHCHECK passes with nothing listening"
fi
ok "HEALTHCHECK passes on the server, fails with nothing listening"

# ---------------------------------------------------------------- 3. API key
code=$(status POST /v1/models/sentiment-en/versions/bundled/activate)
[[ $code == 401 ]] || fail "activate without a key answered $code, expected 401"
code=$(status POST /v1/models/sentiment-en/versions/bundled/activate -H "Authorization: Bearer $API_KEY")
[[ $code == 200 ]] || fail "activate with the key answered $code, expected 200"
ok "mutating endpoints need the key (401 without, 200 with)"

# ---------------------------------------------------------------- 4. training
# 60 distinct short texts: "good" ones labelled positive, "bad" ones negative.
dataset=$(python3 -c '
import csv, io
out = io.StringIO()
w = csv.writer(out, lineterminator="\n")
w.writerow(["text", "label"])
nouns = ["film", "movie", "story", "cast", "script", "ending"]
adverbs = ["really", "truly", "very", "so", "quite"]
for label, word in (("positive", "good"), ("negative", "bad")):
    for i in range(30):
        w.writerow([f"a {adverbs[i % 5]} {word} {nouns[i % 6]}, {word} take {i}", label])
print(out.getvalue(), end="")')
body=$(call POST /v1/datasets '20[01]' "${auth[@]}" -F "file=@-;filename=ci-train.csv;type=text/csv" \
  <<<"$dataset") || exit 1
dataset_id=$(json_get id <<<"$body")
examples=$(json_get examples <<<"$body")
[[ $examples == 60 ]] || fail "dataset $dataset_id has $examples examples, expected 60: $body"
ok "POST /v1/datasets -> dataset $dataset_id (60 examples)"

job_request=$(printf '{"dataset_id": "%s", "config": {"embedding_dim": 8, "hidden_size": 8, "epochs": 1}, "promote": "always"}' "$dataset_id")
body=$(call POST /v1/train-jobs 202 "${auth[@]}" -H 'Content-Type: application/json' -d "$job_request") || exit 1
job_id=$(json_get id <<<"$body")
deadline=$((SECONDS + TRAIN_TIMEOUT_S))
while :; do
  body=$(call GET "/v1/train-jobs/$job_id" 200) || exit 1
  state=$(json_get state <<<"$body")
  case $state in
    succeeded) break ;;
    queued | running) ;;
    *) fail "training job $job_id ended $state: $body" ;;
  esac
  ((SECONDS < deadline)) || fail "training job $job_id still $state after ${TRAIN_TIMEOUT_S}s: $body"
  sleep 1
done
trained=$(json_get model_version <<<"$body")
[[ -n $trained && $trained != None && $trained != bundled ]] \
  || fail "job $job_id succeeded without a new model version: $body"
ok "training job $job_id succeeded in the container -> model version $trained"
predict_version "$trained"
[[ $(active_version) == "$trained" ]] || fail "GET /v1/models/sentiment-en: active_version is not $trained after promote always"

# ---------------------------------------------------------------- 5 + 6. stop, start, persistence
volume=$(podman inspect -f '{{range .Mounts}}{{if eq .Destination "/data"}}{{.Name}}{{end}}{{end}}' "$CONTAINER_NAME")
[[ -n $volume ]] || fail "/data is not a volume"
in_container test -s /data/sentiment.db || fail "no /data/sentiment.db"
version_before=$(active_version)
marker="ci-$(date +%s)-$$-$RANDOM"
in_container sh -c 'printf %s "$1" > /data/ci-marker' sh "$marker"

started=$(date +%s%N)
podman stop -t 10 "$CONTAINER_NAME" >/dev/null
stop_ms=$((($(date +%s%N) - started) / 1000000))
exit_code=$(podman inspect -f '{{.State.ExitCode}}' "$CONTAINER_NAME")
[[ $exit_code != 137 ]] || fail "the server was killed (exit 137) after ${stop_ms} ms: SIGTERM ignored"
((stop_ms < STOP_BUDGET_S * 1000)) || fail "podman stop took ${stop_ms} ms"
# The log is read whole first: `podman logs | grep -q` fails under pipefail whenever grep exits at
# the match before podman has written everything (podman then gets EPIPE).
stop_log=$(podman logs --tail 20 "$CONTAINER_NAME" 2>&1)
grep -q 'Application shutdown complete' <<<"$stop_log" \
  || fail "no 'Application shutdown complete' in the log after SIGTERM; last lines: $stop_log"
ok "SIGTERM: graceful shutdown in ${stop_ms} ms, exit status $exit_code"

podman start "$CONTAINER_NAME" >/dev/null
wait_ready
in_container test -s /data/sentiment.db || fail "/data/sentiment.db is gone after a restart"
[[ $(in_container cat /data/ci-marker) == "$marker" ]] || fail "/data/ci-marker changed after a restart"
version_after=$(active_version)
[[ $version_after == "$version_before" ]] \
  || fail "active version was $version_before before the restart, $version_after after"
[[ $version_after == "$trained" ]] || fail "active version after the restart is $version_after, not $trained"
predict_version "$trained"
body=$(call GET "/v1/datasets/$dataset_id" 200) || exit 1
[[ $(json_get examples <<<"$body") == 60 ]] || fail "dataset $dataset_id changed after a restart: $body"
body=$(call GET "/v1/train-jobs/$job_id" 200) || exit 1
[[ $(json_get state <<<"$body") == succeeded && $(json_get model_version <<<"$body") == "$trained" ]] \
  || fail "job $job_id is no longer succeeded with version $trained after a restart: $body"
body=$(call GET /v1/models/sentiment-en 200) || exit 1
versions=$(python3 -c 'import json, sys; print(" ".join(sorted(json.load(sys.stdin)["versions"])))' <<<"$body")
[[ " $versions " == *" bundled "* && " $versions " == *" $trained "* ]] \
  || fail "GET /v1/models/sentiment-en after a restart lists [$versions], expected bundled and $trained: $body"
ok "restart kept /data (sentiment.db, marker), dataset $dataset_id, job $job_id, versions [$versions] and the active version ($version_after)"

# Rollback to the bundled model.
body=$(call POST /v1/models/sentiment-en/versions/bundled/activate 200 "${auth[@]}") || exit 1
[[ $(active_version) == bundled ]] || fail "active_version is not bundled after activating it"
predict_version bundled
predict_positive
ok "rollback: POST /v1/models/sentiment-en/versions/bundled/activate serves bundled again"

# A new container on the same volume (what an upgrade does) sees the same data.
seen=$(podman run --rm --no-healthcheck --network none -v "$volume:/data" "$image" cat /data/ci-marker)
[[ $seen == "$marker" ]] || fail "a new container on volume $volume does not see the marker"
ok "a new container on volume $volume sees the same data"

# ---------------------------------------------------------------- 7. SIGTERM during start-up
# Stopped while python is still importing torch / loading the model (before uvicorn installs its
# handlers): PID 1 must not ignore SIGTERM. No volume: the image's anonymous /data is enough.
trap '[[ -n ${early:-} ]] && podman rm -f -v "$early" >/dev/null 2>&1; true' EXIT
early=$(podman run -d --no-healthcheck --network none -e SENTIMENT_API_KEYS=unused "$image")
sleep 1
started=$(date +%s%N)
podman stop -t 10 "$early" >/dev/null
stop_ms=$((($(date +%s%N) - started) / 1000000))
exit_code=$(podman inspect -f '{{.State.ExitCode}}' "$early")
podman rm -f -v "$early" >/dev/null
[[ $exit_code != 137 ]] || fail "SIGTERM during start-up ignored: killed (exit 137) after ${stop_ms} ms"
((stop_ms < STOP_BUDGET_S * 1000)) || fail "podman stop during start-up took ${stop_ms} ms"
ok "SIGTERM during start-up: stopped in ${stop_ms} ms, exit status $exit_code"
echo "docker smoke test passed"
