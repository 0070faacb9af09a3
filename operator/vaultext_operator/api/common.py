"""Shared pieces of the VaultExtension API: the camelCase base model, name patterns, quantities."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel
from pydantic.config import JsonDict

GROUP = "vault.kerberos.io"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
KIND = "VaultExtension"
PLURAL = "vaultextensions"
SINGULAR = "vaultextension"
SHORT_NAMES = ("vext",)

# Kubernetes name rules, as regular expressions the apiserver and pydantic both enforce.
DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
DNS_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
LABEL_VALUE = r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$"
_DNS_PREFIX = r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*"
_QUALIFIED_NAME = r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?"
QUALIFIED_NAME = rf"^({_DNS_PREFIX}/)?{_QUALIFIED_NAME}$"
EXTENDED_RESOURCE_NAME = rf"^{_DNS_PREFIX}/{_QUALIFIED_NAME}$"
ENV_VAR_NAME = r"^[-._a-zA-Z][-._a-zA-Z0-9]*$"
SECRET_KEY = r"^[-._a-zA-Z0-9]+$"
KAFKA_TOPIC = r"^[a-zA-Z0-9._-]+$"
QUANTITY = r"^([0-9]+(\.[0-9]+)?|\.[0-9]+)(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$"
NO_WHITESPACE = r"^\S+$"

# Bounds keep the apiserver's CEL cost estimate finite and reject absurd input early.
MAX_LIST = 64
MAX_STRING = 1024

ObjectName = Annotated[str, Field(min_length=1, max_length=253, pattern=DNS_SUBDOMAIN)]
Quantity = Annotated[str, Field(max_length=64, pattern=QUANTITY)]
TopicName = Annotated[str, Field(min_length=1, max_length=249, pattern=KAFKA_TOPIC)]

_SUFFIXES = {
    "m": Decimal("0.001"),
    "": Decimal(1),
    "k": Decimal(10) ** 3,
    "M": Decimal(10) ** 6,
    "G": Decimal(10) ** 9,
    "T": Decimal(10) ** 12,
    "P": Decimal(10) ** 15,
    "E": Decimal(10) ** 18,
    "Ki": Decimal(2) ** 10,
    "Mi": Decimal(2) ** 20,
    "Gi": Decimal(2) ** 30,
    "Ti": Decimal(2) ** 40,
    "Pi": Decimal(2) ** 50,
    "Ei": Decimal(2) ** 60,
}


def parse_quantity(text: str) -> Decimal:
    """The numeric value of a Kubernetes quantity in the subset `QUANTITY` accepts (no exponents)."""
    match = re.fullmatch(r"([0-9.]+)([A-Za-z]*)", text)
    try:
        if match is None:
            raise InvalidOperation(text)
        return Decimal(match.group(1)) * _SUFFIXES[match.group(2)]
    except (KeyError, InvalidOperation) as error:
        raise ValueError(f"not a Kubernetes quantity: {text!r}") from error


# Lists whose items are keyed by `name`: the apiserver refuses duplicates, as server-side apply would.
KEYED_BY_NAME: JsonDict = {"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]}


def unique_names(items: list[Any], field: str) -> None:
    """The pydantic mirror of KEYED_BY_NAME."""
    names = [item.name for item in items]
    if duplicates := sorted({name for name in names if names.count(name) > 1}):
        raise ValueError(f"{field}: duplicate names {duplicates}")


def cel_rule(rule: str, message: str, field_path: str | None = None) -> JsonDict:
    """One `x-kubernetes-validations` entry; pydantic validators mirror each rule."""
    entry: JsonDict = {"rule": rule, "message": message}
    if field_path is not None:
        entry["fieldPath"] = field_path
    return entry


class ApiModel(BaseModel):
    """camelCase on the wire (the CR), snake_case in Python; unknown fields are an error, never dropped."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


class LocalObjectReference(ApiModel):
    """A reference to an object (a Secret) in the extension's namespace."""

    name: ObjectName = Field(description="Name of the object in the extension's namespace.")
