"""`spec.podTemplate`: a partial pod template merged over the generated one, and the privileges it may ask for.

The generated pod meets Pod Security `restricted`. The overlay is free-form, but the fields that could weaken
the pod are declared (`pod_overlay.py`), so CEL can see them: a CR whose overlay uses one of them must name that
privilege in `podTemplate.privileges` (the apiserver refuses it otherwise), and the operator still refuses the
pod (`Ready=False`, `PodTemplateForbidden`) unless its `allowedPodPrivileges` setting grants the privilege.
"""

from __future__ import annotations

from typing import Any, Self

from pydantic import ConfigDict, Field, model_validator

from .common import ApiModel
from .pod_overlay import PodMetadataOverlay, PodSpecOverlay
from .privileges import POD_PRIVILEGES, PRIVILEGE_CHECKS, PodPrivilege, privilege_message, privilege_rules


class PodTemplateOverlay(ApiModel):
    """A partial pod template merged over the generated one, for what the spec does not model.

    Maps merge key by key. Containers merge by `name` (a container named `worker` extends the worker, any
    other name adds a sidecar); volumes and env variables replace the generated one of the same `name`,
    volume mounts the one at the same `mountPath`; a probe replaces the generated probe; other lists
    replace the generated ones.
    """

    model_config = ConfigDict(json_schema_extra={"x-kubernetes-validations": privilege_rules()})

    privileges: list[PodPrivilege] = Field(
        default_factory=list,
        max_length=len(POD_PRIVILEGES),
        description=(
            "Privileges this overlay needs beyond Pod Security `restricted`: " + ", ".join(POD_PRIVILEGES)
            + ". Each must also be granted by the operator's allowedPodPrivileges setting."
        ),
        json_schema_extra={"x-kubernetes-list-type": "set"},
    )
    metadata: PodMetadataOverlay = Field(default_factory=PodMetadataOverlay, description="Pod metadata.")
    spec: PodSpecOverlay = Field(default_factory=PodSpecOverlay, description="Partial PodSpec.")

    @model_validator(mode="after")
    def _privileges_declared(self) -> Self:
        for check in PRIVILEGE_CHECKS:
            if check.name not in self.privileges and check.uses(self.spec, self.metadata):
                raise ValueError(privilege_message(check))
        return self

    def privileges_used(self) -> set[str]:
        return {check.name for check in PRIVILEGE_CHECKS if check.uses(self.spec, self.metadata)}

    def pod_overlay(self) -> dict[str, Any]:
        """The overlay as a pod template fragment (camelCase, unset fields left out)."""
        return self.model_dump(by_alias=True, exclude_none=True, exclude={"privileges"})
