"""The Kubernetes manifests (deploy/k8s), checked offline: each resource against the
Kubernetes schemas that the kubernetes-validate package ships, and the parts against each other
(names, labels, probes, the shutdown grace) and against the image (Dockerfile)."""

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

ROOT = Path(__file__).parents[2]
K8S = ROOT / "deploy" / "k8s"
VERSIONS = ["1.31.0", kubernetes_validate.utils.latest_version() + ".0"]
"""The oldest Kubernetes still maintained when these were written, and the newest the package knows."""


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((K8S / name).read_text())
    return data


def resources() -> dict[str, dict[str, Any]]:
    """Every resource the kustomization lists, by kind."""
    return {(found := load(name))["kind"]: found for name in load("kustomization.yaml")["resources"]}


def test_the_kustomization_lists_every_manifest() -> None:
    files = {path.name for path in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert sorted(load("kustomization.yaml")["resources"]) == sorted(files)


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("kind", sorted(resources()))
def test_each_resource_is_valid_kubernetes(kind: str, version: str) -> None:
    kubernetes_validate.validate(resources()[kind], version, strict=True)


def container(workload: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = workload["spec"]["template"]["spec"]["containers"][0]
    return spec


def test_the_deployment_probes_readiness_and_liveness_and_takes_its_settings_from_the_configmap_and_secret() -> None:
    found = resources()
    server = container(found["Deployment"])
    assert server["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert server["livenessProbe"]["httpGet"]["path"] == "/healthz"
    sources = {next(iter(source.values()))["name"] for source in server["envFrom"]}
    assert sources == {found["ConfigMap"]["metadata"]["name"], found["Secret"]["metadata"]["name"]}
    assert {"cpu", "memory"} <= set(server["resources"]["requests"])


def test_pods_get_longer_to_stop_than_replies_and_summaries_take_to_drain() -> None:
    found = resources()
    grace_s = int(found["ConfigMap"]["data"]["REPLYD_SHUTDOWN_GRACE_S"])
    assert found["Deployment"]["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] > 2 * grace_s


def test_the_service_hpa_and_budget_point_at_the_deployment_s_pods() -> None:
    found = resources()
    labels = found["Deployment"]["spec"]["template"]["metadata"]["labels"]
    assert found["Deployment"]["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert found["Service"]["spec"]["selector"].items() <= labels.items()
    assert found["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"].items() <= labels.items()
    target = found["HorizontalPodAutoscaler"]["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", found["Deployment"]["metadata"]["name"])
    port = container(found["Deployment"])["ports"][0]["name"]
    assert found["Service"]["spec"]["ports"][0]["targetPort"] == port


def test_the_migration_job_runs_replyd_migrate_as_the_image_s_user() -> None:
    found = resources()
    assert container(found["Job"])["args"] == ["migrate"]
    user = next(line.split()[1] for line in (ROOT / "Dockerfile").read_text().splitlines() if line.startswith("USER"))
    for workload in (found["Job"], found["Deployment"]):
        assert workload["spec"]["template"]["spec"]["securityContext"]["runAsUser"] == int(user)
