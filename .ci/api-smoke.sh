#!/usr/bin/env bash
# Smoke test of the API image (`podman build --target api`), called by container-check.sh
# (SMOKE_SCRIPT) once GET /readyz answers. Checks: the bundled model predicts over HTTP with the
# NumPy backend (/readyz says so); the server and its model process run as a non-root user and
# map no torch library; torch cannot even be imported in the image; the image is at most
# MAX_IMAGE_BYTES (300 MB); its HEALTHCHECK command passes; a training job is queued for the
# trainers (an API replica never trains). Exits non-zero with a line starting "FAIL:".
set -euo pipefail

: "${BASE_URL:?BASE_URL is set by container-check.sh}"
CONTAINER_NAME=${CONTAINER_NAME:-app-under-test-api}
API_KEY=${API_KEY:-ci-key}
MAX_IMAGE_BYTES=${MAX_IMAGE_BYTES:-300000000}

fail() { echo "FAIL: $*" >&2; exit 1; }
ok() { echo "ok: $*"; }
json_get() { python3 -c 'import json, sys
value = json.load(sys.stdin)
for part in sys.argv[1].split("."):
    value = value[int(part)] if part.isdigit() else value[part]
print(value)' "$1"; }

body=$(curl -fsS "$BASE_URL/v1/predict" -H 'content-type: application/json' -d '{"text": "a gorgeous, witty, seductive movie"}') \
  || fail "POST /v1/predict"
[[ $(json_get predictions.0.label <<<"$body") == positive ]] || fail "predict: $body"
ok "the bundled model predicts: $(json_get predictions.0.label <<<"$body")"
[[ $(curl -fsS "$BASE_URL/readyz" | json_get backend) == numpy ]] || fail "/readyz does not name the numpy backend"
ok "/readyz: the NumPy backend serves"

uid=$(podman exec "$CONTAINER_NAME" python3 -c 'import os; print(os.getuid())')
[[ $uid != 0 ]] || fail "the server runs as root"
maps=$(podman exec "$CONTAINER_NAME" sh -c 'cat /proc/[0-9]*/maps 2>/dev/null | grep -c libtorch || true')
[[ $maps == 0 ]] || fail "a process of the container maps libtorch"
if podman exec "$CONTAINER_NAME" python3 -c 'import torch' >/dev/null 2>&1; then fail "torch is installed in the API image"; fi
ok "runs as uid $uid; no process maps torch, and torch is not installed"

image=$(podman inspect -f '{{.Image}}' "$CONTAINER_NAME")
size=$(podman image inspect -f '{{.Size}}' "$image")
((size <= MAX_IMAGE_BYTES)) || fail "image is $((size / 1000000)) MB, over $((MAX_IMAGE_BYTES / 1000000)) MB"
ok "image size $((size / 1000000)) MB"
mapfile -d '' health_cmd < <(podman image inspect -f '{{json .HealthCheck}}' "$image" | python3 -c '
import json, sys
test = json.load(sys.stdin)["Test"]
sys.stdout.write("\0".join(test[1:]) + "\0")')
((${#health_cmd[@]})) || fail "the image has no exec-form HEALTHCHECK"
podman exec "$CONTAINER_NAME" "${health_cmd[@]}" >/dev/null || fail "the HEALTHCHECK command fails"
ok "the image's HEALTHCHECK passes"

auth=(-H "Authorization: Bearer $API_KEY")
csv=$(python3 -c 'print("text,label"); [print(f"{w} film number {i},{l}") for i in range(30) for w, l in (("great", "pos"), ("awful", "neg"))]')
dataset=$(curl -fsS "$BASE_URL/v1/datasets" "${auth[@]}" -F "file=@-;filename=train.csv" <<<"$csv" | json_get id) \
  || fail "upload a dataset"
job=$(curl -fsS "$BASE_URL/v1/train-jobs" "${auth[@]}" -H 'content-type: application/json' \
      -d "{\"dataset_id\": \"$dataset\", \"config\": {\"epochs\": 1}}") || fail "submit a job"
sleep 2
state=$(curl -fsS "$BASE_URL/v1/train-jobs/$(json_get id <<<"$job")" | json_get state)
[[ $state == queued ]] || fail "a job on an API replica is $state, not queued for a trainer"
ok "a job submitted to the API replica waits for a trainer (queued)"
echo "API IMAGE SMOKE TEST PASSED"
