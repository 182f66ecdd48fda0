#!/usr/bin/env bash
# Offline validation of the deployment manifests in deploy/ (called by .ci/run).
#
# Installs pinned validators into .tools/deploy-venv (inside the clone; nothing cached elsewhere)
# and checks:
#   kubernetes/*.yaml     kubernetes-validate --strict against the schemas of Kubernetes
#                         $KUBE_VERSIONS (1.29: the first with native sidecars on by default),
#                         plus Perstack's invariants (validate_yaml.py k8s-policy), plus a Job
#                         stamped by stamp_job.py from a hostile query
#   ecs/*.json            botocore's ParamValidator against the ECS model's RegisterTaskDefinition
#                         input, plus invariants (validate_ecs.py)
#   compose/compose.yaml  the Compose Specification JSON Schema that check-jsonschema vendors
#                         (check-jsonschema CLI and jsonschema), plus invariants; also
#                         `docker compose config -q` where the Compose plugin is installed
#   cloudrun/job.yaml     our own JSON Schema of the Cloud Run v1 Job fields used (no official
#                         schema is packaged), plus invariants
# then proves each check is not vacuous: every validator is run on deliberately broken copies
# and must reject them. Exit non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=.tools/deploy-venv
KUBE_VERSIONS="1.29.0 1.33.0"
PINS=(
  "kubernetes-validate==1.37.0"
  "botocore==1.44.5"
  "check-jsonschema==0.39.0"
  "jsonschema==4.26.0"
  "PyYAML==6.0.3"
)
K8S_FILES=(deploy/kubernetes/runner-job-sidecar.yaml deploy/kubernetes/runner-job.yaml
           deploy/kubernetes/proxy-daemonset.yaml deploy/kubernetes/networkpolicy.yaml)
ECS_FILES=(deploy/ecs/task-definition.json)
COMPOSE_FILE=deploy/compose/compose.yaml
CLOUDRUN_FILE=deploy/cloudrun/job.yaml

START=$(date +%s%N)
now_ms() { echo $(( ($(date +%s%N) - START) / 1000000 )); }
step() {
  local name=$1; shift
  local t0=$(date +%s%N)
  echo "--- ${name}"
  "$@"
  echo "--- ${name}: ok in $(( ($(date +%s%N) - t0) / 1000000 )) ms"
}

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

install() {
  local want
  want=$(printf '%s\n' "${PINS[@]}" "python $(python3 -c 'import sys; print(sys.version.split()[0])')")
  if [ -x "$VENV/bin/python" ] && [ "$(cat "$VENV/.pins" 2>/dev/null)" = "$want" ]; then
    echo "reusing $VENV"
  else
    rm -rf "$VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check --no-cache-dir "${PINS[@]}"
    echo "$want" > "$VENV/.pins"
  fi
  "$VENV/bin/python" -m pip list --disable-pip-version-check 2>/dev/null \
    | grep -iE '^(kubernetes-validate|botocore|check-jsonschema|jsonschema|PyYAML) '
}

PY() { "$VENV/bin/python" "$@"; }

# kubernetes-validate exits 0 on a kind it has no schema for (it only warns), so anything but an
# INFO "passed" line per document counts as a failure here.
kube_validate() {
  local version=$1; shift
  local out rc=0
  out=$("$VENV/bin/kubernetes-validate" --strict -k "$version" "$@" 2>&1) || rc=$?
  echo "$out"
  if [ "$rc" -ne 0 ] || echo "$out" | grep -qv '^INFO .* passed '; then
    echo "kubernetes-validate ${version}: FAILED"
    return 1
  fi
}

check_kubernetes() {
  local v
  for v in $KUBE_VERSIONS; do kube_validate "$v" "${K8S_FILES[@]}"; done
  PY deploy/validate_yaml.py k8s-policy "${K8S_FILES[@]}"
  # A queue message with a hostile query, stamped into a Job: still valid, and the query arrives
  # byte for byte as the runner's last argument.
  local query=$'Quote " colon: ${EXPERT_KEY} \'single\' # not a comment\n- not a list item'
  PY deploy/kubernetes/stamp_job.py --template deploy/kubernetes/runner-job-sidecar.yaml \
    --set JOB_ID=ticket-42 --set EXPERT_KEY=writer --set "QUERY=$query" \
    --set WORKSPACE_PVC=ws-ticket-42 --set STATE_PVC=perstack-state --set CONFIG_MAP=perstack-config \
    > "$TMP/stamped.json"
  for v in $KUBE_VERSIONS; do kube_validate "$v" "$TMP/stamped.json"; done
  PY deploy/validate_yaml.py k8s-policy "$TMP/stamped.json"
  QUERY="$query" PY - "$TMP/stamped.json" <<'PYEOF'
import json, os, sys
job = json.load(open(sys.argv[1]))
args = job["spec"]["template"]["spec"]["containers"][0]["args"]
assert args[-1] == os.environ["QUERY"], args
assert args[-2] == "writer" and job["metadata"]["name"] == "perstack-ticket-42", job["metadata"]
assert "${" not in json.dumps(job).replace(json.dumps(os.environ["QUERY"])[1:-1], ""), "placeholder left"
print("stamped Job: query preserved byte for byte, no placeholder left")
PYEOF
}

check_ecs() {
  PY deploy/validate_ecs.py "${ECS_FILES[@]}"
}

compose_schema() {
  PY -c 'import check_jsonschema, os; print(os.path.join(os.path.dirname(check_jsonschema.__file__), "builtin_schemas", "vendor", "compose-spec.json"))'
}

check_compose() {
  "$VENV/bin/check-jsonschema" --builtin-schema vendor.compose-spec "$COMPOSE_FILE"
  PY deploy/validate_yaml.py compose "$COMPOSE_FILE" --schema "$(compose_schema)"
  if docker compose version >/dev/null 2>&1; then
    mkdir -p "$TMP/compose" && cp "$COMPOSE_FILE" "$TMP/compose/" && : > "$TMP/compose/proxy.env" \
      && : > "$TMP/compose/perstack.toml"
    docker compose -f "$TMP/compose/compose.yaml" config -q
    echo "docker compose config -q: ok"
  else
    echo "docker compose: plugin not installed here; the Compose Specification schema is the check"
  fi
}

check_cloudrun() {
  PY deploy/validate_yaml.py cloudrun "$CLOUDRUN_FILE"
}

# --- negative checks: each validator must reject a broken copy
NEG=0
must_fail() {
  local name=$1 file=$2 original=$3; shift 3
  if cmp -s "$file" "$original"; then
    echo "negative ${name}: the mutation changed nothing (fix the check)"; return 1
  fi
  local out
  if out=$("$@" 2>&1); then
    echo "$out"
    echo "negative ${name}: the validator ACCEPTED a broken manifest"; return 1
  fi
  NEG=$((NEG + 1))
  echo "negative ${name}: rejected as expected: $(echo "$out" | grep -v '^[[:space:]]*$' | grep -v '^INFO ' | head -2 | sed 's/^ *//' | tr '\n' ' ' | cut -c1-200)"
}

mutate() {  # mutate SRC DST PYTHON-EXPR-ON-s
  PY - "$1" "$2" "$3" <<'PYEOF'
import sys
s = open(sys.argv[1]).read()
s = eval(sys.argv[3])
open(sys.argv[2], "w").write(s)
PYEOF
}

negative_checks() {
  local k=deploy/kubernetes/runner-job-sidecar.yaml e=${ECS_FILES[0]} c=$COMPOSE_FILE r=$CLOUDRUN_FILE
  local v=${KUBE_VERSIONS%% *}
  mutate "$k" "$TMP/k1.yaml" 's.replace("readOnlyRootFilesystem", "readOnlyRootFilesytem", 1)'
  must_fail "kubernetes-validate: typo'd field" "$TMP/k1.yaml" "$k" kube_validate "$v" "$TMP/k1.yaml"
  mutate "$k" "$TMP/k2.yaml" 's.replace("backoffLimit: 0", "backoffLimit: \"zero\"", 1)'
  must_fail "kubernetes-validate: wrong type" "$TMP/k2.yaml" "$k" kube_validate "$v" "$TMP/k2.yaml"
  mutate "$k" "$TMP/k3.yaml" 's.replace("\nkind: Job", "\nkind: Jobs", 1)'
  must_fail "kubernetes-validate: unknown kind (tool only warns)" "$TMP/k3.yaml" "$k" kube_validate "$v" "$TMP/k3.yaml"
  mutate "$k" "$TMP/k4.yaml" 's.replace("          env:   # no secret", "          envFrom: [{secretRef: {name: perstack-provider-keys}}]\n          env:   # no secret", 1)'
  must_fail "k8s invariants: secret in the runner" "$TMP/k4.yaml" "$k" PY deploy/validate_yaml.py k8s-policy "$TMP/k4.yaml"
  mutate "$k" "$TMP/k5.yaml" 's.replace("restartPolicy: Always ", "restartPolicy: OnFailure ", 1)'
  must_fail "k8s invariants: proxy not a native sidecar" "$TMP/k5.yaml" "$k" PY deploy/validate_yaml.py k8s-policy "$TMP/k5.yaml"

  mutate "$e" "$TMP/e1.json" 's.replace("\"stopTimeout\"", "\"stopTimout\"", 1)'
  must_fail "botocore: typo'd field" "$TMP/e1.json" "$e" PY deploy/validate_ecs.py "$TMP/e1.json"
  mutate "$e" "$TMP/e2.json" 's.replace("\"memory\": 256", "\"memory\": \"256\"", 1)'
  must_fail "botocore: wrong type" "$TMP/e2.json" "$e" PY deploy/validate_ecs.py "$TMP/e2.json"
  mutate "$e" "$TMP/e3.json" 's.replace("\"family\": \"perstack-runner\",", "", 1)'
  must_fail "botocore: required member missing" "$TMP/e3.json" "$e" PY deploy/validate_ecs.py "$TMP/e3.json"
  mutate "$e" "$TMP/e4.json" 's.replace("\"environment\": [", "\"secrets\": [{\"name\": \"ANTHROPIC_API_KEY\", \"valueFrom\": \"arn:aws:ssm:us-east-1:1:parameter/k\"}],\n      \"environment\": [", 1)'
  must_fail "ECS invariants: secret in the runner" "$TMP/e4.json" "$e" PY deploy/validate_ecs.py "$TMP/e4.json"

  mutate "$c" "$TMP/c1.yaml" 's.replace("    network_mode: none", "    network_mod: none", 1)'
  must_fail "compose schema (check-jsonschema): typo'd field" "$TMP/c1.yaml" "$c" \
    "$VENV/bin/check-jsonschema" --builtin-schema vendor.compose-spec "$TMP/c1.yaml"
  must_fail "compose schema (jsonschema): typo'd field" "$TMP/c1.yaml" "$c" \
    PY deploy/validate_yaml.py compose "$TMP/c1.yaml" --schema "$(compose_schema)"
  mutate "$c" "$TMP/c2.yaml" 's.replace("    mem_limit: 256m", "    mem_limit: {size: 256m}", 1)'
  must_fail "compose schema: wrong type" "$TMP/c2.yaml" "$c" \
    "$VENV/bin/check-jsonschema" --builtin-schema vendor.compose-spec "$TMP/c2.yaml"
  mutate "$c" "$TMP/c3.yaml" 's.replace("    network_mode: none\n", "", 1)'
  must_fail "compose invariants: runner with network" "$TMP/c3.yaml" "$c" \
    PY deploy/validate_yaml.py compose "$TMP/c3.yaml" --schema "$(compose_schema)"

  mutate "$r" "$TMP/r1.yaml" 's.replace("volumeMounts:", "volumeMount:", 1)'
  must_fail "cloud run schema: typo'd field" "$TMP/r1.yaml" "$r" PY deploy/validate_yaml.py cloudrun "$TMP/r1.yaml"
  mutate "$r" "$TMP/r2.yaml" 's.replace("taskCount: 1", "taskCount: one", 1)'
  must_fail "cloud run schema: wrong type" "$TMP/r2.yaml" "$r" PY deploy/validate_yaml.py cloudrun "$TMP/r2.yaml"
  mutate "$r" "$TMP/r3.yaml" 's.replace("          env:   # no secret in this container\n", "          env:   # no secret in this container\n                - name: ANTHROPIC_API_KEY\n                  valueFrom:\n                    secretKeyRef: {name: anthropic-api-key, key: latest}\n", 1)'
  must_fail "cloud run invariants: secret in the runner" "$TMP/r3.yaml" "$r" PY deploy/validate_yaml.py cloudrun "$TMP/r3.yaml"
  echo "negative checks: ${NEG} broken manifests, all rejected"
}

step "install validators (${VENV})" install
step "kubernetes (${KUBE_VERSIONS})" check_kubernetes
step "ecs" check_ecs
step "compose" check_compose
step "cloud run" check_cloudrun
step "negative checks" negative_checks
echo "deploy validation passed in $(now_ms) ms"
