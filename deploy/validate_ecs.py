#!/usr/bin/env python3
"""Validate ECS task definitions offline against the ECS service model that botocore ships.

Each file must be a valid input of the RegisterTaskDefinition operation (botocore's
ParamValidator: unknown fields, wrong types, missing required members, enum values of the model),
and must keep Perstack's production invariants (check_invariants below). Exit 1 on any error.

    python3 validate_ecs.py ecs/task-definition.json [more.json ...]
"""
import json
import sys

import botocore
import botocore.session
from botocore.validate import ParamValidator


def input_shape():
    session = botocore.session.get_session()
    model = session.get_service_model("ecs")
    return model.operation_model("RegisterTaskDefinition").input_shape


def check_invariants(td: dict) -> list:
    """Perstack's shape: a runner with no secrets and a proxy holding them, both hardened."""
    errors = []
    containers = {c.get("name"): c for c in td.get("containerDefinitions", [])}
    runner, proxy = containers.get("runner"), containers.get("proxy")
    if runner is None or proxy is None:
        return ["containerDefinitions: needs a 'runner' and a 'proxy' container"]
    if td.get("taskRoleArn"):
        errors.append("taskRoleArn: the agent's task must get no AWS credentials")
    for name in ("secrets", "environmentFiles", "repositoryCredentials"):
        if runner.get(name):
            errors.append(f"runner.{name}: the runner must hold no secret")
    for env in runner.get("environment", []):
        if env.get("name", "").endswith(("_API_KEY", "_TOKEN", "_SECRET")):
            errors.append(f"runner.environment: {env['name']} looks like a secret")
    if runner.get("essential") is not True:
        errors.append("runner.essential: must be true (the task ends when the runner exits)")
    for name, c in (("runner", runner), ("proxy", proxy)):
        if c.get("readonlyRootFilesystem") is not True:
            errors.append(f"{name}.readonlyRootFilesystem: must be true")
        if c.get("privileged"):
            errors.append(f"{name}.privileged: must be false")
        if not str(c.get("user", "")).startswith("10001"):
            errors.append(f"{name}.user: must be 10001 (the image's user)")
        lp = c.get("linuxParameters", {})
        if lp.get("capabilities", {}).get("drop") != ["ALL"] or lp.get("capabilities", {}).get("add"):
            errors.append(f"{name}.linuxParameters.capabilities: must drop ALL and add none")
        if c.get("logConfiguration", {}).get("logDriver") != "awslogs":
            errors.append(f"{name}.logConfiguration: awslogs expected")
    mounts = {m["containerPath"]: m for m in runner.get("mountPoints", [])}
    if mounts.get("/config", {}).get("readOnly") is not True:
        errors.append("runner.mountPoints: /config must be mounted readOnly")
    if "/run/perstack" not in mounts:
        errors.append("runner.mountPoints: the proxy socket folder /run/perstack is missing")
    if not any(d.get("containerName") == "proxy" for d in runner.get("dependsOn", [])):
        errors.append("runner.dependsOn: must wait for the proxy")
    return errors


def main(paths) -> int:
    shape = input_shape()
    validator = ParamValidator()
    failed = 0
    for path in paths:
        try:
            with open(path, encoding="utf-8") as f:
                td = json.load(f)
        except (OSError, ValueError) as e:
            print(f"{path}: cannot read JSON: {e}")
            failed += 1
            continue
        report = validator.validate(td, shape)
        errors = []
        if report.has_errors():
            errors.append(report.generate_report())
        errors += check_invariants(td)
        if errors:
            failed += 1
            print(f"{path}: INVALID against ecs RegisterTaskDefinition (botocore {botocore.__version__})")
            for e in errors:
                print("  " + e.replace("\n", "\n  "))
        else:
            print(f"{path}: valid RegisterTaskDefinition input (botocore {botocore.__version__}), invariants hold")
    return 1 if failed else 0


if __name__ == "__main__":
    if len(sys.argv) < 2:
        print(__doc__)
        sys.exit(2)
    sys.exit(main(sys.argv[1:]))
