"""Sample VaultExtensions, validated by the models here and written to `manifests/samples/` by crdgen."""

from __future__ import annotations

from .api import VaultExtension

SAMPLES: dict[str, VaultExtension] = {
    "minimal.yaml": VaultExtension.model_validate(
        {"metadata": {"name": "yolo"}, "spec": {"image": "registry.example.com/acme/yolo:1.2"}}
    ),
    "manual-replicas.yaml": VaultExtension.model_validate(
        {
            "metadata": {"name": "yolo-fixed"},
            "spec": {
                "image": "registry.example.com/acme/yolo:1.2",
                "replicas": 2,
                "autoscaling": {"engine": "none"},
            },
        }
    ),
    "mig-slice.yaml": VaultExtension.model_validate(
        {
            "metadata": {"name": "yolo-mig"},
            "spec": {
                "image": "registry.example.com/acme/yolo:1.2",
                "gpu": {"count": 1, "resourceName": "nvidia.com/mig-1g.10gb", "product": "NVIDIA-A100-SXM4-40GB"},
                "autoscaling": {"engine": "builtin", "minReplicas": 1, "maxReplicas": 7, "lagThreshold": 20},
            },
        }
    ),
    "share-group.yaml": VaultExtension.model_validate(
        {
            "metadata": {"name": "yolo-shared"},
            "spec": {
                "image": "registry.example.com/acme/yolo:1.2",
                "gpu": {"count": 1},
                "kafka": {"input": {"topic": "vault-events"}, "consumption": "share"},
                "autoscaling": {"engine": "builtin", "minReplicas": 1, "maxReplicas": 12, "lagThreshold": 25},
            },
        }
    ),
    "upstream-image.yaml": VaultExtension.model_validate(
        {
            "metadata": {"name": "vault-ml"},
            "spec": {
                "image": "registry.example.com/kerberos/vault-ml:1.0",
                "scratch": {"paths": ["/ml/data"]},
                "kafka": {
                    "bootstrapServers": "kafka.example.com:9093",
                    "auth": {"secretRef": {"name": "kafka-credentials"}},
                },
                "podTemplate": {
                    "spec": {
                        "containers": [
                            {
                                "name": "worker",
                                "readinessProbe": {"exec": {"command": ["test", "-d", "/ml/data"]}},
                            }
                        ]
                    }
                },
            },
        }
    ),
    "full.yaml": VaultExtension.model_validate(
        {
            "metadata": {"name": "plates", "labels": {"team": "vision"}},
            "spec": {
                "image": "registry.example.com/acme/plates:2.0",
                "runtime": "vaultext",
                "imagePullPolicy": "IfNotPresent",
                "imagePullSecrets": [{"name": "registry-credentials"}],
                "args": ["--verbose"],
                "env": [
                    {"name": "VAULTEXT_LOG_LEVEL", "value": "DEBUG"},
                    {"name": "HF_TOKEN", "valueFrom": {"secretKeyRef": {"name": "hub", "key": "token"}}},
                ],
                "config": {"classes": ["car", "truck"], "confidence": 0.4},
                "framesPerRecording": 8,
                "gpu": {
                    "count": 1,
                    "resourceName": "nvidia.com/gpu.shared",
                    "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
                    "runtimeClassName": "nvidia",
                },
                "resources": {"requests": {"cpu": "2", "memory": "4Gi"}, "limits": {"memory": "8Gi"}},
                "kafka": {
                    "bootstrapServers": "kafka-0.kafka:9092,kafka-1.kafka:9092",
                    "input": {"topic": "vault-events"},
                    "output": {"topic": "plates-results"},
                    "deadLetter": {"topic": "plates-dead-letter"},
                    "consumerGroup": "plates",
                    "auth": {"secretRef": {"name": "kafka-credentials"}, "mechanism": "SCRAM-SHA-512"},
                },
                "vault": {
                    "url": "https://vault.example.com/api",
                    "credentialsSecretRef": {"name": "vault-credentials"},
                },
                "autoscaling": {
                    "engine": "keda",
                    "minReplicas": 0,
                    "maxReplicas": 8,
                    "lagThreshold": 50,
                    "cooldownPeriod": 600,
                },
                "terminationGracePeriodSeconds": 120,
                "scratch": {"sizeLimit": "4Gi"},
                "podTemplate": {
                    "metadata": {"annotations": {"prometheus.io/scrape": "true"}},
                    "spec": {
                        "priorityClassName": "inference",
                        "volumes": [{"name": "models", "emptyDir": {}}],
                        "containers": [
                            {"name": "worker", "volumeMounts": [{"name": "models", "mountPath": "/models"}]}
                        ],
                    },
                },
            },
        }
    ),
}
