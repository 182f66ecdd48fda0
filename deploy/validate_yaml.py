#!/usr/bin/env python3
"""Offline checks of deploy/ YAML that no vendor validator covers, and Perstack's invariants.

    validate_yaml.py compose FILE --schema COMPOSE_SPEC_JSON   # Compose Specification JSON Schema
    validate_yaml.py cloudrun FILE                             # our schema of a Cloud Run v1 Job
    validate_yaml.py k8s-policy FILE...                        # invariants of the Kubernetes files

Every mode also checks the production invariants: the runner holds no secret and has no network
of its own where the platform allows it, roots are read-only, uid 10001, capabilities dropped,
the config is mounted read-only and the proxy's socket folder is shared. Exit 1 on any error.
"""
import argparse
import json
import sys

import jsonschema
import yaml

SOCKET_DIR = "/run/perstack"
RUNNER_ENV = {
    "PERSTACK_CONFIG": "/config/perstack.toml",
    "PERSTACK_STATE_DIR": "/state",
    "PERSTACK_EGRESS": "unix:///run/perstack/egress.sock",
}


def load_all(path):
    with open(path, encoding="utf-8") as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]


def schema_errors(doc, schema):
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    v = cls(schema, format_checker=cls.FORMAT_CHECKER)
    return [
        f"{'/'.join(str(p) for p in e.absolute_path) or '(root)'}: {e.message}"
        for e in sorted(v.iter_errors(doc), key=lambda e: list(map(str, e.absolute_path)))
    ]


def env_map(env_list):
    return {e.get("name"): e.get("value") for e in env_list or []}


# ---------------------------------------------------------------- Compose
def compose_invariants(doc):
    errs = []
    svc = doc.get("services", {})
    runner, proxy = svc.get("runner"), svc.get("proxy")
    if not runner or not proxy:
        return ["services: needs 'runner' and 'proxy'"]
    for name, s in (("runner", runner), ("proxy", proxy)):
        if s.get("read_only") is not True:
            errs.append(f"services.{name}.read_only: must be true")
        if s.get("cap_drop") != ["ALL"] or s.get("cap_add"):
            errs.append(f"services.{name}.cap_drop: must be [ALL], with no cap_add")
        if "no-new-privileges:true" not in (s.get("security_opt") or []):
            errs.append(f"services.{name}.security_opt: needs no-new-privileges:true")
        if not str(s.get("user", "")).startswith("10001"):
            errs.append(f"services.{name}.user: must be 10001")
        if s.get("privileged"):
            errs.append(f"services.{name}.privileged: must be false")
    if runner.get("network_mode") != "none":
        errs.append("services.runner.network_mode: must be none")
    for key in ("env_file", "secrets"):
        if runner.get(key):
            errs.append(f"services.runner.{key}: the runner must hold no secret")
    env = runner.get("environment") or {}
    if isinstance(env, list):
        env = dict(e.split("=", 1) if "=" in e else (e, None) for e in env)
    for k, v in RUNNER_ENV.items():
        if env.get(k) != v:
            errs.append(f"services.runner.environment.{k}: expected {v}")
    for k in env:
        if k.endswith(("_API_KEY", "_TOKEN", "_SECRET")):
            errs.append(f"services.runner.environment.{k}: looks like a secret")
    vols = [v if isinstance(v, str) else f"{v.get('source')}:{v.get('target')}" for v in runner.get("volumes", [])]
    if not any(v.split(":")[1:2] == [SOCKET_DIR] for v in vols):
        errs.append(f"services.runner.volumes: the socket folder {SOCKET_DIR} is not mounted")
    if not any(v.startswith(tuple(f"{p}:/config" for p in ("./perstack.toml",))) and v.endswith(":ro") for v in vols):
        errs.append("services.runner.volumes: perstack.toml must be mounted read-only at /config")
    if "proxy" not in (runner.get("depends_on") or {}):
        errs.append("services.runner.depends_on: must name proxy")
    return errs


# ---------------------------------------------------------------- Cloud Run
# Our own schema of the part of the Cloud Run Admin API v1 Job object (YAML form) that this
# project uses: not an official schema (none is published as a package). Unknown keys are errors,
# so a typo'd field fails; field names follow the v1 reference (Job > ExecutionTemplateSpec >
# ExecutionSpec > TaskTemplateSpec > TaskSpec > Container / Volume).
_str = {"type": "string"}
_strs = {"type": "array", "items": _str}
_annotations = {"type": "object", "additionalProperties": _str}
_meta = {
    "type": "object",
    "additionalProperties": False,
    "properties": {"name": _str, "namespace": _str, "labels": _annotations, "annotations": _annotations},
}
_env = {
    "type": "array",
    "items": {
        "type": "object",
        "additionalProperties": False,
        "required": ["name"],
        "properties": {
            "name": _str,
            "value": _str,
            "valueFrom": {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "secretKeyRef": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["name", "key"],
                        "properties": {"name": _str, "key": _str},
                    }
                },
            },
        },
    },
}
_quantity = {"type": "object", "additionalProperties": False,
             "properties": {"cpu": _str, "memory": _str, "nvidia.com/gpu": _str}}
_container = {
    "type": "object",
    "additionalProperties": False,
    "required": ["image"],
    "properties": {
        "name": _str, "image": _str, "command": _strs, "args": _strs, "env": _env,
        "workingDir": _str,
        "resources": {"type": "object", "additionalProperties": False, "properties": {"limits": _quantity}},
        "volumeMounts": {
            "type": "array",
            "items": {"type": "object", "additionalProperties": False, "required": ["name", "mountPath"],
                      "properties": {"name": _str, "mountPath": _str, "subPath": _str}},
        },
        "startupProbe": {"type": "object"},
        "livenessProbe": {"type": "object"},
    },
}
_volume = {
    "type": "object",
    "additionalProperties": False,
    "required": ["name"],
    "minProperties": 2,
    "maxProperties": 2,
    "properties": {
        "name": _str,
        "emptyDir": {"type": "object", "additionalProperties": False,
                     "properties": {"medium": {"enum": ["Memory", ""]}, "sizeLimit": _str}},
        "secret": {"type": "object", "additionalProperties": False, "required": ["secretName"],
                   "properties": {"secretName": _str, "defaultMode": {"type": "integer"},
                                  "items": {"type": "array", "items": {
                                      "type": "object", "additionalProperties": False,
                                      "required": ["key", "path"],
                                      "properties": {"key": _str, "path": _str, "mode": {"type": "integer"}}}}}},
        "nfs": {"type": "object", "additionalProperties": False, "required": ["server", "path"],
                "properties": {"server": _str, "path": _str, "readOnly": {"type": "boolean"}}},
        "csi": {"type": "object", "additionalProperties": False, "required": ["driver"],
                "properties": {"driver": _str, "readOnly": {"type": "boolean"}, "volumeAttributes": _annotations}},
    },
}
CLOUDRUN_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "additionalProperties": False,
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "run.googleapis.com/v1"},
        "kind": {"const": "Job"},
        "metadata": {**_meta, "required": ["name"]},
        "spec": {
            "type": "object", "additionalProperties": False, "required": ["template"],
            "properties": {"template": {
                "type": "object", "additionalProperties": False, "required": ["spec"],
                "properties": {
                    "metadata": _meta,
                    "spec": {
                        "type": "object", "additionalProperties": False, "required": ["template"],
                        "properties": {
                            "parallelism": {"type": "integer", "minimum": 0},
                            "taskCount": {"type": "integer", "minimum": 1},
                            "template": {
                                "type": "object", "additionalProperties": False, "required": ["spec"],
                                "properties": {"spec": {
                                    "type": "object", "additionalProperties": False,
                                    "required": ["containers"],
                                    "properties": {
                                        "containers": {"type": "array", "minItems": 1, "maxItems": 10,
                                                       "items": _container},
                                        "volumes": {"type": "array", "items": _volume},
                                        "maxRetries": {"type": "integer", "minimum": 0, "maximum": 10},
                                        "timeoutSeconds": {"type": "string", "pattern": "^[0-9]+$"},
                                        "serviceAccountName": _str,
                                    },
                                }},
                            },
                        },
                    },
                },
            }},
        },
    },
}


def cloudrun_invariants(doc):
    errs = []
    try:
        tmeta = doc["spec"]["template"].get("metadata", {})
        task = doc["spec"]["template"]["spec"]["template"]["spec"]
    except (KeyError, TypeError):
        return ["spec.template.spec.template.spec: missing"]
    containers = {c.get("name"): c for c in task.get("containers", [])}
    runner, proxy = containers.get("runner"), containers.get("proxy")
    if not runner or not proxy:
        return ["containers: needs 'runner' and 'proxy'"]
    if any("valueFrom" in e for e in runner.get("env", [])):
        errs.append("runner.env: the runner must hold no secret")
    for k, v in RUNNER_ENV.items():
        if env_map(runner.get("env")).get(k) != v:
            errs.append(f"runner.env.{k}: expected {v}")
    vols = {v["name"]: v for v in task.get("volumes", [])}
    for cname, c in containers.items():
        for m in c.get("volumeMounts", []):
            if m["name"] not in vols:
                errs.append(f"{cname}.volumeMounts: volume {m['name']!r} is not defined")
    for cname in ("runner", "proxy"):
        mounts = {m["mountPath"]: m["name"] for m in containers[cname].get("volumeMounts", [])}
        if mounts.get(SOCKET_DIR) != "egress" or "emptyDir" not in vols.get("egress", {}):
            errs.append(f"{cname}: {SOCKET_DIR} must be the shared in-memory volume 'egress'")
        if "secret" not in vols.get(mounts.get("/config"), {}):
            errs.append(f"{cname}: /config must come from a (read-only) Secret Manager volume")
    deps = json.loads(tmeta.get("annotations", {}).get("run.googleapis.com/container-dependencies", "{}"))
    if "proxy" not in deps.get("runner", []):
        errs.append("run.googleapis.com/container-dependencies: the runner must depend on the proxy")
    return errs


# ---------------------------------------------------------------- Kubernetes
def k8s_invariants(doc):
    errs = []
    kind = doc.get("kind")
    if kind not in ("Job", "DaemonSet"):
        return errs
    spec = doc["spec"]
    pod = spec["template"]["spec"]
    labels = spec["template"].get("metadata", {}).get("labels", {})
    component = labels.get("app.kubernetes.io/component")
    name = doc["metadata"]["name"]
    if kind == "Job":
        if component not in ("runner", "runner-with-proxy"):
            errs.append(f"{name}: pod label app.kubernetes.io/component must be runner or runner-with-proxy")
        for k in ("ttlSecondsAfterFinished", "activeDeadlineSeconds"):
            if not isinstance(spec.get(k), int):
                errs.append(f"{name}: spec.{k} must be set")
        if spec.get("backoffLimit") != 0:
            errs.append(f"{name}: spec.backoffLimit must be 0")
        if pod.get("restartPolicy") != "Never":
            errs.append(f"{name}: restartPolicy must be Never")
    psc = pod.get("securityContext", {})
    want = {"runAsNonRoot": True, "runAsUser": 10001, "runAsGroup": 10001, "fsGroup": 10001}
    for k, v in want.items():
        if psc.get(k) != v:
            errs.append(f"{name}: pod securityContext.{k} must be {v}")
    if psc.get("seccompProfile", {}).get("type") != "RuntimeDefault":
        errs.append(f"{name}: pod seccompProfile must be RuntimeDefault")
    if pod.get("automountServiceAccountToken") is not False:
        errs.append(f"{name}: automountServiceAccountToken must be false")
    vols = {v["name"]: v for v in pod.get("volumes", [])}
    cfg = vols.get("config", {})
    if "configMap" not in cfg:
        errs.append(f"{name}: volume 'config' must be a ConfigMap")
    all_containers = [(c, False) for c in pod.get("containers", [])] + \
                     [(c, True) for c in pod.get("initContainers", [])]
    for c, is_init in all_containers:
        cn = f"{name}/{c['name']}"
        sc = c.get("securityContext", {})
        if sc.get("readOnlyRootFilesystem") is not True:
            errs.append(f"{cn}: readOnlyRootFilesystem must be true")
        if sc.get("allowPrivilegeEscalation") is not False:
            errs.append(f"{cn}: allowPrivilegeEscalation must be false")
        if sc.get("capabilities", {}).get("drop") != ["ALL"] or sc.get("capabilities", {}).get("add"):
            errs.append(f"{cn}: capabilities must drop ALL and add none")
        if "limits" not in c.get("resources", {}):
            errs.append(f"{cn}: resources.limits must be set")
        mounts = {m["mountPath"]: m for m in c.get("volumeMounts", [])}
        if mounts.get("/config", {}).get("readOnly") is not True:
            errs.append(f"{cn}: /config must be mounted readOnly")
        if SOCKET_DIR not in mounts:
            errs.append(f"{cn}: the socket folder {SOCKET_DIR} is not mounted")
        for m in c.get("volumeMounts", []):
            if m["name"] not in vols:
                errs.append(f"{cn}: volume {m['name']!r} is not defined")
        if c["name"] == "proxy" and is_init and c.get("restartPolicy") != "Always":
            errs.append(f"{cn}: a proxy initContainer must be a native sidecar (restartPolicy: Always)")
        if c["name"] == "runner":
            if c.get("envFrom") or any("valueFrom" in e for e in c.get("env", [])):
                errs.append(f"{cn}: the runner must hold no secret (no envFrom/valueFrom)")
            for k, v in RUNNER_ENV.items():
                if env_map(c.get("env")).get(k) != v:
                    errs.append(f"{cn}: env {k} must be {v}")
            if mounts.get(SOCKET_DIR, {}).get("readOnly") is not True:
                errs.append(f"{cn}: the socket folder must be mounted readOnly in the runner")
            args = c.get("args", [])
            if "--max-duration" in args and kind == "Job":
                md = int(args[args.index("--max-duration") + 1])
                if md >= spec.get("activeDeadlineSeconds", 0):
                    errs.append(f"{cn}: --max-duration must be below activeDeadlineSeconds")
    return errs


def main(argv=None):
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["compose", "cloudrun", "k8s-policy"])
    p.add_argument("files", nargs="+")
    p.add_argument("--schema")
    a = p.parse_args(argv)
    failed = 0
    for path in a.files:
        try:
            docs = load_all(path)
        except (OSError, yaml.YAMLError) as e:
            print(f"{path}: cannot parse YAML: {e}")
            failed += 1
            continue
        errs = []
        if a.mode == "compose":
            with open(a.schema, encoding="utf-8") as f:
                schema = json.load(f)
            errs += [f"schema: {e}" for e in schema_errors(docs[0], schema)]
            errs += compose_invariants(docs[0])
            what = "Compose Specification schema + invariants"
        elif a.mode == "cloudrun":
            errs += [f"schema: {e}" for e in schema_errors(docs[0], CLOUDRUN_SCHEMA)]
            errs += cloudrun_invariants(docs[0]) if not errs else []
            what = "our Cloud Run v1 Job schema + invariants"
        else:
            for d in docs:
                errs += k8s_invariants(d)
            what = "Perstack's Kubernetes invariants"
        if errs:
            failed += 1
            print(f"{path}: INVALID ({what})")
            for e in errs:
                print(f"  {e}")
        else:
            print(f"{path}: ok ({what})")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
