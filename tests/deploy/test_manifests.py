"""The deployment files, checked offline: the Kubernetes manifests against the official JSON
schemas (``kubernetes-validate`` ships them; strict: an unknown or misspelt field fails), the
compose file's `scale` profile, the HAProxy configuration (``haproxy -c`` when Debian's package is
installed), and what ties them together: probes, roles, secret references, the shared volume, and
every ``SENTIMENT_*`` name being a real setting."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from app.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
KUBERNETES = ROOT / "deploy" / "kubernetes"
KUBERNETES_VERSION = "1.31"  # the oldest release the manifests are checked against; later ones accept them
SETTINGS = {f"SENTIMENT_{name.upper()}" for name in Settings.model_fields}


def _manifests() -> list[tuple[str, dict]]:
    docs = []
    for path in sorted(KUBERNETES.glob("*.yaml")):
        docs += [(path.name, doc) for doc in yaml.safe_load_all(path.read_text()) if doc]
    return docs


MANIFESTS = _manifests()


def _one(kind: str, name: str) -> dict:
    [doc] = [d for _, d in MANIFESTS if d["kind"] == kind and d["metadata"]["name"] == name]
    return doc


def _container(deployment: dict) -> dict:
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    return container


def _env(container: dict) -> dict:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}


@pytest.mark.parametrize("name,doc", MANIFESTS, ids=[f"{n}:{d['kind']}" for n, d in MANIFESTS])
def test_each_manifest_is_valid_against_the_kubernetes_schema(name, doc):
    try:
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.ValidationError as exc:
        pytest.fail(f"{name}: {str(exc).splitlines()[0]}")


def test_the_manifests_hold_what_the_readme_promises():
    kinds = sorted(d["kind"] for _, d in MANIFESTS)
    assert kinds == ["ConfigMap", "Deployment", "Deployment", "PersistentVolumeClaim", "Secret", "Service"]


@pytest.mark.parametrize("name,role,replicas", [("sentiment-api", "api", 2), ("sentiment-trainer", "trainer", 1)])
def test_each_deployment_runs_its_role_non_root_with_probes_and_resources(name, role, replicas):
    deployment = _one("Deployment", name)
    assert deployment["spec"]["replicas"] == replicas
    pod = deployment["spec"]["template"]["spec"]
    container = _container(deployment)
    assert _env(container)["SENTIMENT_ROLE"] == role
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["resources"]["requests"]["cpu"] and container["resources"]["limits"]["memory"]
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] == 10001
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    # the shared volume, where the image keeps its data
    [mount] = container["volumeMounts"]
    [volume] = [v for v in pod["volumes"] if v["name"] == mount["name"]]
    assert mount["mountPath"] == "/data"
    claim = _one("PersistentVolumeClaim", volume["persistentVolumeClaim"]["claimName"])
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]
    # the selector selects the pods it makes
    assert deployment["spec"]["selector"]["matchLabels"].items() <= deployment["spec"]["template"]["metadata"]["labels"].items()


def test_secret_and_config_references_resolve_and_name_real_settings():
    secret, config = _one("Secret", "sentiment"), _one("ConfigMap", "sentiment")
    assert set(secret["stringData"]) == {"SENTIMENT_API_KEYS", "SENTIMENT_DATABASE_URL"}
    assert "REPLACE" in secret["stringData"]["SENTIMENT_API_KEYS"]  # a placeholder, never a real key
    assert set(config["data"]) <= SETTINGS
    for name in ("sentiment-api", "sentiment-trainer"):
        container = _container(_one("Deployment", name))
        for env_name, value in _env(container).items():
            assert env_name in SETTINGS, f"{name}: {env_name} is not a setting"
            if isinstance(value, dict):
                ref = value["secretKeyRef"]
                assert ref["name"] == "sentiment" and ref["key"] in secret["stringData"]
        assert [source["configMapRef"]["name"] for source in container["envFrom"]] == ["sentiment"]
    api, trainer = (_env(_container(_one("Deployment", n))) for n in ("sentiment-api", "sentiment-trainer"))
    assert "SENTIMENT_DATABASE_URL" in api and "SENTIMENT_DATABASE_URL" in trainer
    assert "SENTIMENT_API_KEYS" not in trainer  # it serves nothing that needs a key


def test_the_service_sends_to_the_api_pods_only():
    service, api = _one("Service", "sentiment"), _one("Deployment", "sentiment-api")
    labels = api["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()
    assert service["spec"]["selector"]["app.kubernetes.io/component"] == "api"
    [port] = service["spec"]["ports"]
    assert port["targetPort"] in [p["name"] for p in _container(api)["ports"]]


# -- docker compose ---------------------------------------------------------------------------------

COMPOSE = yaml.safe_load((ROOT / "compose.yaml").read_text())


def test_compose_keeps_the_one_container_default():
    default = [name for name, service in COMPOSE["services"].items() if not service.get("profiles")]
    assert default == ["sentiment"]
    service = COMPOSE["services"]["sentiment"]
    assert "SENTIMENT_ROLE" not in service["environment"] and "SENTIMENT_DATABASE_URL" not in service["environment"]


def test_the_scale_profile_runs_postgres_two_api_replicas_a_trainer_and_a_balancer():
    scale = {name: s for name, s in COMPOSE["services"].items() if "scale" in s.get("profiles", [])}
    assert sorted(scale) == ["api-1", "api-2", "lb", "postgres", "trainer"]
    assert scale["postgres"]["image"].startswith("postgres:")
    roles = {name: s["environment"].get("SENTIMENT_ROLE") for name, s in scale.items() if name.startswith(("api", "trainer"))}
    assert roles == {"api-1": "api", "api-2": "api", "trainer": "trainer"}
    for name in roles:
        environment = scale[name]["environment"]
        assert environment["SENTIMENT_DATABASE_URL"].startswith("postgresql://") and "@postgres:5432/" in environment["SENTIMENT_DATABASE_URL"]
        assert "sentiment-shared:/data" in scale[name]["volumes"]
        assert {k for k in environment if k.startswith("SENTIMENT_")} <= SETTINGS
        # the client address comes from HAProxy alone: the replicas trust X-Forwarded-For from its address only
        assert environment.get("FORWARDED_ALLOW_IPS", scale["lb"]["networks"]["default"]["ipv4_address"]) == \
            scale["lb"]["networks"]["default"]["ipv4_address"]
    # API replicas on the API image (no torch), the trainer on the full one
    assert scale["api-1"]["build"]["target"] == "api" and scale["api-1"]["image"].endswith(":api")
    assert "target" not in scale["trainer"]["build"] and not scale["trainer"]["image"].endswith(":api")
    assert scale["lb"]["image"].startswith("haproxy:")
    assert "./deploy/haproxy.cfg:/usr/local/etc/haproxy/haproxy.cfg:ro" in scale["lb"]["volumes"]


def test_haproxy_checks_readyz_on_both_replicas():
    config = (ROOT / "deploy" / "haproxy.cfg").read_text()
    assert "http-check send meth GET uri /readyz" in config
    assert "http-request set-header X-Forwarded-For %[src]" in config  # a client's own header is replaced
    for replica in ("api-1", "api-2"):
        assert f"server {replica} {replica}:8000 check" in config
    haproxy = shutil.which("haproxy")
    if haproxy is None:
        message = "HAProxy is not installed (apt-get install haproxy): its own check of the file did not run"
        if os.environ.get("REQUIRE_HAPROXY") == "1":
            pytest.fail(message + " (REQUIRE_HAPROXY=1)")
        pytest.skip(message)
    # the replicas' names resolve only on the compose network: a warning here, not an error
    result = subprocess.run([haproxy, "-c", "-f", str(ROOT / "deploy" / "haproxy.cfg")], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
