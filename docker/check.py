#!/usr/bin/env python3
"""Checks docker/ without a Docker engine (run by .ci/run).

- compose.yaml and otel-collector.yaml parse as YAML;
- the compose file has riskd, Redis, the Collector and Jaeger, its references resolve (build
  context and Dockerfile, depends_on, mounted files) and riskd points at the Collector's OTLP
  port and at Redis;
- every Collector pipeline uses only components the file defines;
- the Dockerfile is multi-stage, runs as a non-root user, checks health with
  `riskd healthcheck`, and builds with cargo commands only (CI runs those very lines).
"""

import re
import sys
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
problems = []


def check(ok, message):
    if not ok:
        problems.append(message)


def load(name):
    with open(HERE / name, encoding="utf-8") as f:
        return yaml.safe_load(f)


compose = load("compose.yaml")
collector = load("otel-collector.yaml")

# compose.yaml
services = compose.get("services", {}) if isinstance(compose, dict) else {}
for name in ("riskd", "redis", "otel-collector", "jaeger"):
    check(name in services, f"compose.yaml: service {name!r} missing")
for name, svc in services.items():
    deps = svc.get("depends_on", [])
    for dep in deps if isinstance(deps, list) else deps.keys():
        check(dep in services, f"compose.yaml: {name} depends on unknown service {dep!r}")
    for volume in svc.get("volumes", []):
        source = volume.split(":", 1)[0]
        if source.startswith("."):
            check((HERE / source).exists(), f"compose.yaml: {name} mounts missing {source}")
riskd = services.get("riskd", {})
build = riskd.get("build", {})
context = HERE / build.get("context", ".")
check((context / build.get("dockerfile", "Dockerfile")).is_file(), "compose.yaml: riskd's Dockerfile not found")
check((context / "Cargo.toml").is_file(), "compose.yaml: riskd's build context is not the repository root")
env = riskd.get("environment", {})
endpoint = str(env.get("OTEL_EXPORTER_OTLP_ENDPOINT", ""))
m = re.fullmatch(r"https?://([^:/]+):(\d+)/?", endpoint)
check(m is not None, f"compose.yaml: riskd OTEL_EXPORTER_OTLP_ENDPOINT {endpoint!r} is not http(s)://host:port")
if m:
    check(m.group(1) in services, f"compose.yaml: OTLP endpoint host {m.group(1)!r} is not a service")
    grpc = collector.get("receivers", {}).get("otlp", {}).get("protocols", {}).get("grpc", {})
    check(
        str(grpc.get("endpoint", "")).endswith(":" + m.group(2)),
        "compose.yaml: riskd's OTLP port is not the Collector's OTLP/gRPC receiver port",
    )
redis_url = str(env.get("REDIS_URL", ""))
check(redis_url.startswith("redis://redis:"), f"compose.yaml: riskd REDIS_URL {redis_url!r} does not point at the redis service")
check("RISKD_METRICS_LISTEN" in env, "compose.yaml: riskd has no metrics endpoint")

# otel-collector.yaml
pipelines = collector.get("service", {}).get("pipelines", {})
check({"traces", "metrics"} <= set(pipelines), "otel-collector.yaml: traces and metrics pipelines expected")
for pname, pipeline in pipelines.items():
    for kind in ("receivers", "processors", "exporters"):
        defined = collector.get(kind) or {}
        for component in pipeline.get(kind, []):
            check(component in defined, f"otel-collector.yaml: pipeline {pname} uses undefined {kind[:-1]} {component!r}")
    check(pipeline.get("receivers"), f"otel-collector.yaml: pipeline {pname} has no receiver")
    check(pipeline.get("exporters"), f"otel-collector.yaml: pipeline {pname} has no exporter")
for ext in collector.get("service", {}).get("extensions", []):
    check(ext in (collector.get("extensions") or {}), f"otel-collector.yaml: undefined extension {ext!r}")
check("jaeger" in str(collector.get("exporters", {})), "otel-collector.yaml: no exporter to Jaeger")

# Dockerfile
dockerfile = (HERE / "Dockerfile").read_text(encoding="utf-8")
lines = [line.strip() for line in dockerfile.replace("\\\n", " ").splitlines() if line.strip() and not line.strip().startswith("#")]
froms = [line for line in lines if line.upper().startswith("FROM ")]
check(len(froms) >= 2, "Dockerfile: a multi-stage build expected")
users = [line.split(None, 1)[1] for line in lines if line.upper().startswith("USER ")]
check(bool(users) and not users[-1].startswith(("root", "0")), "Dockerfile: the runtime stage must set a non-root USER")
health = [line for line in lines if line.upper().startswith("HEALTHCHECK ")]
check(any("healthcheck" in line.split("CMD", 1)[-1] for line in health), "Dockerfile: HEALTHCHECK must run `riskd healthcheck`")
check(any(line.upper().startswith("STOPSIGNAL SIGTERM") for line in lines), "Dockerfile: STOPSIGNAL SIGTERM expected")
runs = [line[4:].strip() for line in lines if line.upper().startswith("RUN ")]
check(bool(runs), "Dockerfile: no build step")
for run in runs:
    check(run.startswith("cargo "), f"Dockerfile: build step {run!r} is not a cargo command CI runs")
copies = [line for line in lines if line.upper().startswith("COPY --FROM=")]
check(any("/riskd " in line or line.endswith("/riskd") for line in copies), "Dockerfile: the runtime stage must copy the riskd binary")

if problems:
    for p in problems:
        print("docker/:", p, file=sys.stderr)
    sys.exit(1)
print(f"docker/: compose ({len(services)} services), collector config ({len(pipelines)} pipelines) and Dockerfile ({len(froms)} stages) check out")
