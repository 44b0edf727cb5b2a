"""deploy/kubernetes validates against the Kubernetes API models, and says what the service needs."""

import copy
import re
import subprocess
from pathlib import Path

import flask
import pytest
import yaml
from kubernetes import client
from kubernetes.utils import parse_quantity
from pydantic import ValidationError

import service
from service.runtime import ConfigurationError, check_api_key

ROOT = Path(__file__).resolve().parent.parent
MANIFESTS = ROOT / "deploy" / "kubernetes"

# The API version and kind of every object we ship -> the client's model of it (generated from the
# Kubernetes OpenAPI schema; pydantic models that forbid unknown fields and use strict types).
MODELS = {
    ("v1", "ConfigMap"): client.V1ConfigMap,
    ("v1", "Secret"): client.V1Secret,
    ("v1", "Service"): client.V1Service,
    ("apps/v1", "Deployment"): client.V1Deployment,
    ("autoscaling/v2", "HorizontalPodAutoscaler"): client.V2HorizontalPodAutoscaler,
    ("policy/v1", "PodDisruptionBudget"): client.V1PodDisruptionBudget,
    ("networking.k8s.io/v1", "NetworkPolicy"): client.V1NetworkPolicy,
}
KUSTOMIZATION_KEYS = {
    "apiVersion",
    "kind",
    "resources",
    "images",
    "namespace",
    "labels",
    "commonAnnotations",
    "secretGenerator",
}


class ManifestError(ValueError):
    """A manifest the Kubernetes API would reject."""


def validate(document):
    """The model object for a manifest; raises ManifestError for unknown kinds, unknown fields or wrong types."""
    key = (document.get("apiVersion"), document.get("kind"))
    if key not in MODELS:
        raise ManifestError(f"unsupported apiVersion/kind {key}")
    try:
        model = MODELS[key].model_validate(document)
    except ValidationError as error:
        raise ManifestError(str(error)) from error
    # The models also accept Python attribute names (env_from); the API server only knows the JSON names
    # (envFrom). Serialising back with the JSON names must give exactly what was written.
    if model.model_dump(mode="json", by_alias=True, exclude_unset=True) != document:
        raise ManifestError(f"{key}: fields not in their JSON spelling, or values coerced")
    return model


def kustomization():
    """The parsed kustomization.yaml."""
    return yaml.safe_load((MANIFESTS / "kustomization.yaml").read_text(encoding="utf-8"))


def env_file(path):
    """KEY=VALUE lines as kustomize's secretGenerator reads them (comments and blank lines skipped)."""
    pairs = (
        line.split("=", 1)
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    )
    return {key.strip(): value for key, value in pairs}


def generated_secrets():
    """The Secrets kustomize generates at deploy time, from the committed example in place of the real file."""
    found = []
    for generator in kustomization().get("secretGenerator", []):
        data = {}
        for name in generator["envs"]:
            data.update(env_file(MANIFESTS / (name + ".example")))
        found.append(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "type": "Opaque",
                "metadata": {"name": generator["name"]},
                "stringData": data,
            }
        )
    return found


def documents():
    """Every object the kustomization applies, in order (the generated Secret last)."""
    found = []
    for name in kustomization()["resources"]:
        found.extend(doc for doc in yaml.safe_load_all((MANIFESTS / name).read_text(encoding="utf-8")) if doc)
    return found + generated_secrets()


def one(kind):
    """The single shipped object of a kind."""
    (document,) = [doc for doc in documents() if doc["kind"] == kind]
    return document


def settings_the_app_reads():
    """LDN_* variables read by the app (its DEFAULTS, via from_prefixed_env) or by gunicorn.conf.py."""
    gunicorn_conf = (ROOT / "gunicorn.conf.py").read_text(encoding="utf-8")
    from_gunicorn = set(re.findall(r"""os\.environ\.get\(\s*["'](LDN_[A-Z_]+)["']""", gunicorn_conf))
    return {f"LDN_{key}" for key in service.DEFAULTS} | from_gunicorn


def container():
    """The service container of the Deployment."""
    (found,) = one("Deployment")["spec"]["template"]["spec"]["containers"]
    return found


def test_kustomization_lists_every_manifest_and_nothing_else():
    kust = kustomization()
    assert kust["apiVersion"] == "kustomize.config.k8s.io/v1beta1"
    assert kust["kind"] == "Kustomization"
    assert set(kust) <= KUSTOMIZATION_KEYS
    on_disk = {path.name for path in MANIFESTS.glob("*.yaml")} - {"kustomization.yaml"}
    assert set(kust["resources"]) == on_disk
    assert [image["name"] for image in kust.get("images", [])] == [container()["image"].split(":")[0]]


@pytest.mark.parametrize("document", documents(), ids=lambda doc: doc["kind"])
def test_every_manifest_validates_against_the_kubernetes_models(document):
    validate(document)


def _broken(mutate):
    deployment = copy.deepcopy(one("Deployment"))
    mutate(deployment)
    return deployment


@pytest.mark.parametrize(
    "document",
    [
        _broken(
            lambda d: d["spec"]["template"]["spec"].__setitem__(
                "contianers", d["spec"]["template"]["spec"].pop("containers")
            )
        ),
        _broken(lambda d: d["spec"].__setitem__("replicas", "2")),
        _broken(
            lambda d: d["spec"]["template"]["spec"]["containers"][0]["ports"][0].__setitem__("containerPort", "8080")
        ),
        _broken(
            lambda d: d["spec"]["template"]["spec"]["containers"][0].__setitem__(
                "env_from", d["spec"]["template"]["spec"]["containers"][0].pop("envFrom")
            )
        ),
        _broken(
            lambda d: d["spec"]["template"]["spec"]["containers"][0]["securityContext"].__setitem__(
                "readOnlyRootFilesystem", "true"
            )
        ),
        _broken(lambda d: d.__setitem__("apiVersion", "apps/v1beta9")),
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}, "data": {"LDN_WORKERS": 2}},
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "x"}, "spec": {"prots": []}},
    ],
    ids=[
        "misspelt-containers",
        "string-replicas",
        "string-port",
        "python-field-name",
        "string-bool",
        "unknown-apiVersion",
        "configmap-int-value",
        "misspelt-ports",
    ],
)
def test_the_validator_rejects_broken_manifests(document):
    with pytest.raises(ManifestError):
        validate(document)


def test_probes_use_the_health_and_readiness_endpoints():
    found = container()
    assert found["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert found["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert found["startupProbe"]["httpGet"]["path"] in ("/healthz", "/readyz")
    ports = {port["name"]: port["containerPort"] for port in found["ports"]}
    assert ports == {"http": 8080, "metrics": 9090}
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        assert found[probe]["httpGet"]["port"] in ("http", 8080)


def test_pod_runs_non_root_read_only_without_privileges():
    pod = one("Deployment")["spec"]["template"]["spec"]
    security = container()["securityContext"]
    dockerfile_user = re.search(r"^USER\s+(\d+)", (ROOT / "Dockerfile").read_text(encoding="utf-8"), re.M)
    assert security["runAsUser"] == pod["securityContext"]["runAsUser"] == int(dockerfile_user.group(1)) == 10001
    assert security["runAsNonRoot"] is True and pod["securityContext"]["runAsNonRoot"] is True
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"]["drop"] == ["ALL"]
    assert security["seccompProfile"]["type"] == "RuntimeDefault"
    assert pod["automountServiceAccountToken"] is False


def test_writable_paths_are_empty_dirs_and_metrics_dir_is_in_memory():
    pod = one("Deployment")["spec"]["template"]["spec"]
    volumes = {volume["name"]: volume for volume in pod["volumes"]}
    mounts = {mount["mountPath"]: mount["name"] for mount in container()["volumeMounts"]}
    assert "emptyDir" in volumes[mounts["/tmp"]]
    env = {item["name"]: item.get("value") for item in container().get("env", [])}
    multiproc = env["PROMETHEUS_MULTIPROC_DIR"]
    assert volumes[mounts[multiproc]]["emptyDir"]["medium"] == "Memory"


def test_resources_are_requested_and_limited():
    resources = container()["resources"]
    for name in ("cpu", "memory"):
        assert parse_quantity(resources["requests"][name]) <= parse_quantity(resources["limits"][name])
    # The measured master + 2 workers (README) must fit the request with headroom.
    assert parse_quantity(resources["requests"]["memory"]) >= parse_quantity("192Mi")


def test_replicas_spread_and_shutdown_matches_gunicorn():
    deployment = one("Deployment")
    pod = deployment["spec"]["template"]["spec"]
    # The HPA owns the replica count: a spec.replicas here would reset a scaled-out service on every apply.
    assert "replicas" not in deployment["spec"]
    assert one("HorizontalPodAutoscaler")["spec"]["minReplicas"] >= 2
    assert pod.get("topologySpreadConstraints") or pod.get("affinity", {}).get("podAntiAffinity")
    config = one("ConfigMap")["data"]
    pre_stop = container()["lifecycle"]["preStop"]["exec"]["command"]
    sleep = float(re.search(r"sleep\((\d+(?:\.\d+)?)\)", " ".join(pre_stop)).group(1))
    # Kubernetes kills at the grace period: it must cover the preStop sleep and gunicorn's graceful timeout.
    assert pod["terminationGracePeriodSeconds"] >= sleep + int(config["LDN_GRACEFUL_TIMEOUT"])
    assert container()["image"] == "ldn-safety:1.0.0"
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/path"] == "/metrics"
    config = one("ConfigMap")["data"]
    ports = {port["name"]: port["containerPort"] for port in container()["ports"]}
    assert int(annotations["prometheus.io/port"]) == int(config["LDN_METRICS_PORT"]) == ports["metrics"]
    assert ports["metrics"] != ports["http"]


def test_service_hpa_and_pdb_point_at_the_deployment():
    deployment = one("Deployment")
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    selector = deployment["spec"]["selector"]["matchLabels"]
    assert selector.items() <= pod_labels.items()

    svc = one("Service")["spec"]
    assert svc["type"] == "ClusterIP"
    assert svc["selector"].items() <= pod_labels.items()
    (port,) = svc["ports"]
    assert (port["name"], port["port"], port["targetPort"]) == ("http", 80, "http")

    hpa = one("HorizontalPodAutoscaler")["spec"]
    assert hpa["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": deployment["metadata"]["name"],
    }
    assert hpa["minReplicas"] >= 2 and hpa["maxReplicas"] > hpa["minReplicas"]
    (metric,) = hpa["metrics"]
    assert metric["resource"]["name"] == "cpu"
    assert metric["resource"]["target"]["type"] == "Utilization"
    assert 0 < metric["resource"]["target"]["averageUtilization"] <= 90

    pdb = one("PodDisruptionBudget")["spec"]
    assert pdb["selector"]["matchLabels"] == selector
    assert pdb.get("minAvailable") == 1 or pdb.get("maxUnavailable") == 1


def test_configmap_and_secret_hold_settings_the_app_reads():
    config, secret = one("ConfigMap"), one("Secret")
    sources = {ref.get("configMapRef", ref.get("secretRef"))["name"] for ref in container()["envFrom"]}
    assert sources == {config["metadata"]["name"], secret["metadata"]["name"]}
    known = settings_the_app_reads()
    assert set(config["data"]) <= known, set(config["data"]) - known
    assert set(secret["stringData"]) <= known, set(secret["stringData"]) - known
    assert {"LDN_CDS_TRUSTED_ISSUERS", "LDN_API_KEY"} <= set(secret["stringData"])
    assert not set(config["data"]) & {"LDN_CDS_TRUSTED_ISSUERS", "LDN_API_KEY"}  # secrets stay out of ConfigMaps
    assert config["data"]["LDN_BIND"].rsplit(":", 1)[1] == str(container()["ports"][0]["containerPort"])


def test_configmap_and_secret_values_parse_to_the_intended_settings(monkeypatch):
    env = {**one("ConfigMap")["data"], **one("Secret")["stringData"]}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    parsed = flask.Config(str(ROOT))
    parsed.from_prefixed_env(prefix="LDN")
    assert parsed["CDS_ALLOW_UNSIGNED"] is False
    assert parsed["MAX_CONTENT_LENGTH"] == 1048576
    assert parsed["MAX_MEDICATIONS"] == 500
    assert isinstance(parsed["CDS_TRUSTED_ISSUERS"], dict) and parsed["CDS_TRUSTED_ISSUERS"]
    assert parsed["LOG_LEVEL"] == "INFO"


def test_no_usable_secret_ships():
    kust = kustomization()
    assert not [doc for doc in documents()[: -len(kust["secretGenerator"])] if doc["kind"] == "Secret"]
    for generator in kust["secretGenerator"]:
        for name in generator["envs"]:
            assert not (MANIFESTS / name).exists() or _ignored_by_git(MANIFESTS / name)
            assert _ignored_by_git(MANIFESTS / name), f"{name} must be git-ignored"
            assert (MANIFESTS / (name + ".example")).exists()
    example_key = one("Secret")["stringData"]["LDN_API_KEY"]
    with pytest.raises(ConfigurationError):
        service.create_app({"TESTING": True, "API_KEY": example_key})


def _ignored_by_git(path):
    out = subprocess.run(["git", "check-ignore", "-q", str(path)], cwd=ROOT, check=False)
    return out.returncode == 0


@pytest.mark.parametrize(
    ("key", "accepted"),
    [
        ("0f1e2d3c4b5a69788796a5b4c3d2e1f0", True),
        ("0f1e2d3c4b5a69788796a5b4c3d2e1f", False),
        ("REPLACE-ME-placeholder-api-key-0123456789", False),
        (None, True),
    ],
)
def test_the_api_key_must_be_long_and_not_a_placeholder(key, accepted):
    if accepted:
        check_api_key(key)
    else:
        with pytest.raises(ConfigurationError):
            check_api_key(key)


def test_the_metrics_port_is_reachable_only_from_the_monitoring_namespace():
    policy = one("NetworkPolicy")["spec"]
    pod_labels = one("Deployment")["spec"]["template"]["metadata"]["labels"]
    assert policy["podSelector"]["matchLabels"].items() <= pod_labels.items()
    assert policy["policyTypes"] == ["Ingress"]
    by_port = {rule["ports"][0]["port"]: rule for rule in policy["ingress"]}
    assert set(by_port) == {"http", "metrics"}
    assert "from" not in by_port["http"]  # the API is for anyone in the cluster, the ingress controller included
    (source,) = by_port["metrics"]["from"]
    assert set(source) == {"namespaceSelector"}
