"""Pure builders: what the five-line CR turns into, and how each spec field shows up in the children."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vaultext_operator.api import VaultExtensionSpec
from vaultext_operator.builders import ExtensionRef, build_children, build_deployment, required_secret_keys
from vaultext_operator.settings import OperatorSettings

OWNER = ExtensionRef(name="yolo", namespace="ml", uid="1234")
SETTINGS = OperatorSettings(kafka_bootstrap_servers="kafka.ml:9092", vault_url="http://vault.ml/api")
CONTRACT = {
    "QUEUE_SYSTEM", "QUEUE_NAME", "KAFKA_QUEUE_NAME", "QUEUE_TARGET", "TARGET_QUEUE_NAME", "KAFKA_BROKER",
    "KAFKA_GROUP", "KAFKA_SECURITY", "KAFKA_MECHANISM", "VAULT_API_URL", "STORAGE_URI", "VAULT_ACCESS_KEY",
    "VAULT_SECRET_KEY", "STORAGE_ACCESS_KEY", "STORAGE_SECRET", "STORAGE_SECRET_KEY", "NUMBER_OF_PREDICTIONS",
    "REMOVE_AFTER_PROCESSED", "FORWARDING_MEDIA", "FORWARDING_METADATA", "FORWARDING_OBJECT_THRESHOLD",
    "VAULTEXT_EXTENSION_NAME", "VAULTEXT_NAMESPACE", "VAULTEXT_DEAD_LETTER_TOPIC", "VAULTEXT_CONFIG",
    "VAULTEXT_METRICS_PORT", "VAULTEXT_KAFKA_CONSUMPTION",
}  # fmt: skip
KAFKA_CREDENTIALS = {"KAFKA_USERNAME", "KAFKA_PASSWORD"}
VAULT_CREDENTIALS = {
    "VAULT_ACCESS_KEY", "VAULT_SECRET_KEY", "STORAGE_ACCESS_KEY", "STORAGE_SECRET", "STORAGE_SECRET_KEY",
}  # fmt: skip


def deployment(replicas: int | None = 1, **fields: Any) -> dict[str, Any]:
    spec = VaultExtensionSpec.model_validate({"image": "registry.example.com/acme/yolo:1.2", **fields})
    return build_deployment(spec, OWNER, SETTINGS, replicas)


def worker(manifest: dict[str, Any]) -> dict[str, Any]:
    container: dict[str, Any] = manifest["spec"]["template"]["spec"]["containers"][0]
    return container


def env_of(manifest: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {variable["name"]: variable for variable in worker(manifest)["env"]}


def test_five_line_cr_gives_a_gpu_deployment_with_the_full_contract() -> None:
    built = deployment()
    assert built["metadata"]["name"] == "yolo" and built["metadata"]["namespace"] == "ml"
    owner = built["metadata"]["ownerReferences"][0]
    assert (owner["kind"], owner["uid"], owner["controller"]) == ("VaultExtension", "1234", True)
    assert worker(built)["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert worker(built)["resources"]["requests"] == {"cpu": "1", "memory": "2Gi"}
    env = env_of(built)
    assert set(env) == CONTRACT
    assert env["QUEUE_SYSTEM"]["value"] == "KAFKA"
    assert env["QUEUE_NAME"]["value"] == env["KAFKA_QUEUE_NAME"]["value"] == "vault-events"
    assert env["QUEUE_TARGET"]["value"] == env["TARGET_QUEUE_NAME"]["value"] == "yolo-results"
    # Upstream clients pass both to librdkafka unconditionally; an empty value would be refused.
    assert (env["KAFKA_SECURITY"]["value"], env["KAFKA_MECHANISM"]["value"]) == ("PLAINTEXT", "PLAIN")
    assert env["KAFKA_BROKER"]["value"] == "kafka.ml:9092"
    assert env["KAFKA_GROUP"]["value"] == "vaultext-ml-yolo"
    assert env["VAULTEXT_KAFKA_CONSUMPTION"]["value"] == "group"
    assert env["VAULT_API_URL"]["value"] == env["STORAGE_URI"]["value"] == "http://vault.ml/api"
    assert env["NUMBER_OF_PREDICTIONS"]["value"] == "5"
    assert env["REMOVE_AFTER_PROCESSED"]["value"] == "False"
    assert env["FORWARDING_MEDIA"]["value"] == env["FORWARDING_METADATA"]["value"] == "false"
    assert env["VAULTEXT_DEAD_LETTER_TOPIC"]["value"] == "yolo-dead-letter"
    assert env["VAULT_ACCESS_KEY"] == {
        "name": "VAULT_ACCESS_KEY",
        "valueFrom": {"secretKeyRef": {"name": "vault-credentials", "key": "accessKey"}},
    }
    assert env["VAULTEXT_CONFIG"]["valueFrom"]["configMapKeyRef"]["name"] == "yolo-config"
    for name, key in (("STORAGE_ACCESS_KEY", "accessKey"), ("STORAGE_SECRET", "secretKey"),
                      ("STORAGE_SECRET_KEY", "secretKey")):
        assert env[name]["valueFrom"]["secretKeyRef"] == {"name": "vault-credentials", "key": key}


def test_secrets_only_by_reference_and_auth_settings_from_the_spec() -> None:
    auth = {"secretRef": {"name": "kafka-sasl"}, "mechanism": "SCRAM-SHA-512"}
    env = env_of(deployment(kafka={"auth": auth}, vault={"removeAfterProcessed": True}))
    assert set(env) == CONTRACT | KAFKA_CREDENTIALS
    for name in KAFKA_CREDENTIALS | VAULT_CREDENTIALS:
        assert "value" not in env[name] and "secretKeyRef" in env[name]["valueFrom"], name
    assert env["KAFKA_PASSWORD"]["valueFrom"]["secretKeyRef"] == {"name": "kafka-sasl", "key": "password"}
    assert env["KAFKA_SECURITY"] == {"name": "KAFKA_SECURITY", "value": "SASL_SSL"}
    assert env["KAFKA_MECHANISM"] == {"name": "KAFKA_MECHANISM", "value": "SCRAM-SHA-512"}
    assert env["REMOVE_AFTER_PROCESSED"]["value"] == "True"


def test_pod_is_restricted_and_rolls_out_in_place() -> None:
    built = deployment()
    pod = built["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["automountServiceAccountToken"] is False
    assert "serviceAccountName" not in pod and not pod.get("hostNetwork")
    context = worker(built)["securityContext"]
    assert context["allowPrivilegeEscalation"] is False
    assert context["readOnlyRootFilesystem"] is True
    assert context["runAsNonRoot"] is True
    assert context["capabilities"] == {"drop": ["ALL"]}
    assert "privileged" not in context
    assert pod["terminationGracePeriodSeconds"] == 60
    # GPUs are scarce: an update replaces a pod rather than needing a spare GPU for a surge pod.
    assert built["spec"]["strategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1}}


def test_probes_only_for_the_vaultext_runtime() -> None:
    for image in ("vaultext-worker", "registry.example.com/acme/vaultext-worker:cuda", "r.io/vaultext-worker@sha256:a"):
        probed = worker(deployment(image=image))
        assert probed["startupProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}, image
        assert probed["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
        assert probed["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}
        assert probed["ports"][0]["containerPort"] == 8080
    plain = worker(deployment())  # an upstream image serves no /healthz
    assert not {"startupProbe", "livenessProbe", "readinessProbe"} & set(plain)
    assert "readinessProbe" in worker(deployment(runtime="vaultext"))
    assert "readinessProbe" not in worker(deployment(image="vaultext-worker", runtime="plain"))


def test_a_probe_in_the_pod_template_replaces_ours() -> None:
    exec_probe = {"exec": {"command": ["cat", "/tmp/ready"]}, "periodSeconds": 7}
    overlay = {"spec": {"containers": [{"name": "worker", "readinessProbe": exec_probe}]}}
    container = worker(deployment(runtime="vaultext", podTemplate=overlay))
    assert container["readinessProbe"] == exec_probe
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"  # the others stay
    assert worker(deployment(podTemplate=overlay))["readinessProbe"] == exec_probe  # plain image: added


def test_scratch_volume_backs_tmp_the_working_dir_and_extra_paths() -> None:
    def mounts(built: dict[str, Any]) -> dict[str, str]:
        return {mount["mountPath"]: mount["subPath"] for mount in worker(built)["volumeMounts"]}

    vaultext = deployment(image="vaultext-worker", scratch={"sizeLimit": "5Gi"})
    assert vaultext["spec"]["template"]["spec"]["volumes"] == [{"name": "scratch", "emptyDir": {"sizeLimit": "5Gi"}}]
    assert worker(vaultext)["workingDir"] == "/work"
    assert mounts(vaultext) == {"/tmp": "tmp", "/work": "work"}
    plain = deployment(scratch={"paths": ["/ml/data", "/home/app/.cache"]})
    assert "workingDir" not in worker(plain)  # its entrypoint may be relative to the image's WORKDIR
    assert mounts(plain) == {"/tmp": "tmp", "/ml/data": "path-0", "/home/app/.cache": "path-1"}
    assert worker(deployment(workingDir="/data"))["workingDir"] == "/data"
    assert mounts(deployment(workingDir="/data"))["/data"] == "work"
    assert worker(plain)["securityContext"]["readOnlyRootFilesystem"] is True


def test_gpu_fields_become_scheduling_constraints() -> None:
    built = deployment(
        gpu={
            "count": 2,
            "resourceName": "nvidia.com/mig-1g.10gb",
            "product": "NVIDIA-A100-SXM4-40GB",
            "runtimeClassName": "nvidia",
            "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "ml", "effect": "NoSchedule"}],
        }
    )
    pod = built["spec"]["template"]["spec"]
    assert worker(built)["resources"]["limits"]["nvidia.com/mig-1g.10gb"] == "2"
    assert "nvidia.com/gpu" not in worker(built)["resources"]["limits"]
    assert pod["nodeSelector"] == {"nvidia.com/gpu.product": "NVIDIA-A100-SXM4-40GB"}
    assert pod["runtimeClassName"] == "nvidia"
    assert {"key": "dedicated", "operator": "Equal", "value": "ml", "effect": "NoSchedule"} in pod["tolerations"]
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in pod["tolerations"]


def test_cpu_only_extension_requests_no_gpu_and_tolerates_nothing() -> None:
    built = deployment(gpu={"count": 0})
    assert "nvidia.com/gpu" not in worker(built)["resources"].get("limits", {})
    assert built["spec"]["template"]["spec"]["tolerations"] == []


def test_replicas_omitted_when_another_manager_owns_them() -> None:
    assert "replicas" not in deployment(replicas=None)["spec"]
    assert deployment(replicas=3)["spec"]["replicas"] == 3


def test_spec_env_overrides_contract_and_adds_variables() -> None:
    env = env_of(deployment(env=[{"name": "QUEUE_NAME", "value": "other"}, {"name": "EXTRA", "value": "1"}]))
    assert env["QUEUE_NAME"] == {"name": "QUEUE_NAME", "value": "other"}
    assert env["EXTRA"]["value"] == "1"
    names = [variable["name"] for variable in worker(deployment(env=[{"name": "QUEUE_NAME", "value": "x"}]))["env"]]
    assert names.count("QUEUE_NAME") == 1


def test_pod_template_overlay_merges_sidecars_volumes_and_keeps_the_selector() -> None:
    built = deployment(
        podTemplate={
            "metadata": {"labels": {"team": "vision", "vault.kerberos.io/extension": "hijack"}},
            "spec": {
                "priorityClassName": "inference",
                "volumes": [{"name": "models", "emptyDir": {}}],
                "containers": [
                    {"name": "worker", "volumeMounts": [{"name": "models", "mountPath": "/models"}]},
                    {"name": "sidecar", "image": "busybox"},
                ],
            },
        }
    )
    template = built["spec"]["template"]
    assert template["metadata"]["labels"]["team"] == "vision"
    assert template["metadata"]["labels"]["vault.kerberos.io/extension"] == "yolo"
    pod = template["spec"]
    assert pod["priorityClassName"] == "inference"
    assert [volume["name"] for volume in pod["volumes"]] == ["scratch", "models"]
    assert [container["name"] for container in pod["containers"]] == ["worker", "sidecar"]
    mounts = [mount["mountPath"] for mount in pod["containers"][0]["volumeMounts"]]
    assert mounts == ["/tmp", "/models"]
    assert pod["containers"][0]["image"] == "registry.example.com/acme/yolo:1.2"
    assert pod["containers"][1]["securityContext"] == pod["containers"][0]["securityContext"]  # restricted too


def test_empty_keyed_lists_in_the_overlay_change_nothing() -> None:
    pod = deployment(podTemplate={"spec": {"containers": [], "volumes": []}})["spec"]["template"]["spec"]
    assert [container["name"] for container in pod["containers"]] == ["worker"]
    assert [volume["name"] for volume in pod["volumes"]] == ["scratch"]


def test_overlay_items_with_one_source_replace_ours_instead_of_merging() -> None:
    pod = deployment(
        podTemplate={
            "spec": {
                "volumes": [{"name": "scratch", "ephemeral": {"volumeClaimTemplate": {"spec": {}}}}],
                "containers": [
                    {
                        "name": "worker",
                        "env": [{"name": "QUEUE_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
                        "volumeMounts": [{"name": "scratch", "mountPath": "/tmp", "readOnly": True}],
                        "securityContext": {"readOnlyRootFilesystem": False},
                    },
                    {"name": "shipper", "image": "busybox", "securityContext": {"capabilities": {"drop": ["ALL"]}}},
                ],
            }
        }
    )["spec"]["template"]["spec"]
    assert pod["volumes"] == [{"name": "scratch", "ephemeral": {"volumeClaimTemplate": {"spec": {}}}}]
    env = {variable["name"]: variable for variable in pod["containers"][0]["env"]}
    assert env["QUEUE_NAME"] == {"name": "QUEUE_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}
    assert pod["containers"][0]["volumeMounts"][0] == {"name": "scratch", "mountPath": "/tmp", "readOnly": True}
    context = pod["containers"][0]["securityContext"]
    assert context["readOnlyRootFilesystem"] is False and context["capabilities"] == {"drop": ["ALL"]}
    assert pod["containers"][1]["securityContext"]["allowPrivilegeEscalation"] is False


def test_config_change_changes_the_pod_template() -> None:
    first = deployment(config={"threshold": 0.5})["spec"]["template"]["metadata"]["annotations"]
    again = deployment(config={"threshold": 0.5})["spec"]["template"]["metadata"]["annotations"]
    other = deployment(config={"threshold": 0.6})["spec"]["template"]["metadata"]["annotations"]
    assert first == again != other


def test_children_in_apply_order_share_owner_and_namespace() -> None:
    spec = VaultExtensionSpec.model_validate({"image": "x", "config": {"a": [1, 2]}})
    children = build_children(spec, OWNER, SETTINGS, replicas=1)
    assert [child["kind"] for child in children] == ["ConfigMap", "Service", "PodDisruptionBudget", "Deployment"]
    assert children[0]["data"] == {"config.json": '{"a":[1,2]}'}
    assert children[1]["spec"]["clusterIP"] == "None"
    for child in children:
        assert child["metadata"]["namespace"] == "ml"
        assert child["metadata"]["ownerReferences"][0]["uid"] == "1234"


def test_required_secret_keys_lists_every_referenced_secret() -> None:
    spec = VaultExtensionSpec.model_validate(
        {
            "image": "x",
            "kafka": {"auth": {"secretRef": {"name": "sasl"}}},
            "vault": {"credentialsSecretRef": {"name": "vault"}},
            "env": [{"name": "T", "valueFrom": {"secretKeyRef": {"name": "hub", "key": "token"}}}],
        }
    )
    assert required_secret_keys(spec, OWNER, SETTINGS) == {
        "sasl": {"username", "password"},
        "vault": {"accessKey", "secretKey"},
        "hub": {"token"},
    }


def test_every_variable_the_operator_sets_is_in_the_documented_contract() -> None:
    documented = (Path(__file__).resolve().parents[2] / "docs" / "env-contract.md").read_text()
    built = deployment(kafka={"auth": {"secretRef": {"name": "sasl"}}})
    for name in env_of(built):
        assert f"`{name}`" in documented, name


def test_share_consumption_reaches_the_worker_with_the_share_group_in_kafka_group() -> None:
    env = env_of(deployment(kafka={"consumption": "share", "consumerGroup": "yolo-share"}))
    assert env["VAULTEXT_KAFKA_CONSUMPTION"]["value"] == "share"
    assert env["KAFKA_GROUP"]["value"] == "yolo-share"
