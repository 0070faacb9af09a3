"""CEL rules (`x-kubernetes-validations`) for API models declared in modules that carry none themselves.

Each rule mirrors a pydantic validator of the named model, so the apiserver refuses at `kubectl apply` what
the operator would refuse. Rules a model declares in its own `json_schema_extra` are kept as well.
"""

from __future__ import annotations

from pydantic.config import JsonDict

from .common import cel_rule

RULES_BY_MODEL: dict[str, list[JsonDict]] = {
    "AutoscalingSpec": [
        cel_rule("self.minReplicas <= self.maxReplicas", "autoscaling.minReplicas must not exceed maxReplicas"),
        cel_rule(
            "!(self.allowIdleConsumers && self.limitToPartitionsWithLag)",
            "allowIdleConsumers and limitToPartitionsWithLag cannot both be true",
        ),
        cel_rule(
            "!(self.allowIdleConsumers && self.ensureEvenDistributionOfPartitions)",
            "allowIdleConsumers and ensureEvenDistributionOfPartitions cannot both be true",
        ),
        cel_rule(
            "!has(self.fallback) || !has(self.fallback.replicas) || "
            "(self.minReplicas <= self.fallback.replicas && self.fallback.replicas <= self.maxReplicas)",
            "autoscaling.fallback.replicas must lie within [minReplicas, maxReplicas]",
        ),
    ],
    "LagSourceSpec": [
        cel_rule(
            "self.type == 'prometheus' || (!has(self.query) && !has(self.serverAddress))",
            "`query` and `serverAddress` apply only to `type: prometheus`",
        )
    ],
    "TopicBindingSpec": [
        cel_rule(
            "self.provisioner != 'strimzi' || (has(self.strimziCluster) && self.strimziCluster != '')",
            "`provisioner: strimzi` needs `strimziCluster`",
        )
    ],
}
