"""The VaultExtension API: pydantic models that are the single source of truth for the CRD."""

from .autoscaling import AutoscalingSpec
from .common import API_VERSION, GROUP, KIND, PLURAL, SHORT_NAMES, SINGULAR, VERSION
from .extension import VaultExtension, VaultExtensionSpec
from .status import DEGRADED, PROGRESSING, READY, Condition, VaultExtensionStatus

__all__ = [
    "API_VERSION",
    "DEGRADED",
    "GROUP",
    "KIND",
    "PLURAL",
    "PROGRESSING",
    "READY",
    "SHORT_NAMES",
    "SINGULAR",
    "VERSION",
    "AutoscalingSpec",
    "Condition",
    "VaultExtension",
    "VaultExtensionSpec",
    "VaultExtensionStatus",
]
