#!/usr/bin/env python3
"""Turn one queue message into one Kubernetes Job, from runner-job-sidecar.yaml (or runner-job.yaml).

The template's ${NAME} placeholders are replaced in the parsed document, string by string, so a
query may hold any text (quotes, colons, newlines, "${...}") without breaking or changing the YAML:
a placeholder that is a whole string becomes the value as is; a placeholder inside a longer string
(the Job's name) is substituted there. Every placeholder must be given; none may be left over.

    python3 stamp_job.py --template runner-job-sidecar.yaml \
        --set JOB_ID=ticket-42 --set EXPERT_KEY=writer --set QUERY='Summarise notes.md' \
        --set WORKSPACE_PVC=ws-ticket-42 --set STATE_PVC=perstack-state \
        --set CONFIG_MAP=perstack-config | kubectl create -f -

Needs PyYAML only. Prints the Job as JSON (which kubectl reads).
"""
import argparse
import json
import re
import sys

import yaml

PLACEHOLDER = re.compile(r"\$\{([A-Z_]+)\}")
JOB_ID = re.compile(r"^[a-z0-9]([a-z0-9-]{0,48}[a-z0-9])?$")


def stamp(template: dict, values: dict) -> dict:
    """Return a copy of template with every ${NAME} replaced from values."""
    used = set()

    def walk(node):
        if isinstance(node, dict):
            return {walk(k): walk(v) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v) for v in node]
        if isinstance(node, str):
            whole = PLACEHOLDER.fullmatch(node)
            if whole:
                name = whole.group(1)
                if name not in values:
                    raise KeyError(f"no value for placeholder ${{{name}}}")
                used.add(name)
                return values[name]

            def one(m):
                if m.group(1) not in values:
                    raise KeyError(f"no value for placeholder ${{{m.group(1)}}}")
                used.add(m.group(1))
                return values[m.group(1)]

            return PLACEHOLDER.sub(one, node)
        return node

    out = walk(template)
    unused = set(values) - used
    if unused:
        raise KeyError(f"values given for no placeholder: {', '.join(sorted(unused))}")
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--template", required=True)
    p.add_argument("--set", action="append", default=[], metavar="NAME=VALUE")
    a = p.parse_args(argv)
    values = {}
    for item in a.set:
        name, sep, value = item.partition("=")
        if not sep:
            p.error(f"--set {item!r}: expected NAME=VALUE")
        values[name] = value
    if not JOB_ID.match(values.get("JOB_ID", "")):
        p.error("JOB_ID: 1 to 50 lowercase letters, digits or '-', starting and ending alphanumeric")
    with open(a.template, encoding="utf-8") as f:
        template = yaml.safe_load(f)
    try:
        job = stamp(template, values)
    except KeyError as e:
        p.error(str(e.args[0]))
    json.dump(job, sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
