"""Model-file format versions: the lowest version that describes a spec and optimizer settings.

A file says the lowest version its content needs, so older fastbp still reads what it can:
1 the original fields; 2 added the optimizer's ``weight_decay`` and ``"adamw"``; 3 added the
spec's loss parameters (``huber_delta``, ``quantile``) and ``dropout``.  :mod:`fastbp.io` writes
and checks it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fastbp.spec import NetworkSpec


def version_for(optimizer: Mapping[str, Any] | None, spec: NetworkSpec | None = None) -> int:
    """The lowest format version that describes the spec and these optimizer settings (2 added
    ``weight_decay`` and ``adamw``; 3 the spec's loss parameters and ``dropout``)."""
    if spec is not None and spec_version(spec) == 3:
        return 3
    if optimizer is not None and ("weight_decay" in optimizer or optimizer.get("name") == "adamw"):
        return 2
    return 1


def spec_fields_v3(spec: NetworkSpec) -> list[str]:
    """The spec's fields that need format version 3 (its loss parameter, ``dropout``)."""
    fields = [] if spec.loss_record.param is None else [spec.loss_record.param]
    return fields + (["dropout"] if spec.has_dropout else [])


def spec_version(spec: NetworkSpec) -> int:
    """The lowest format version that describes the spec (3 added the loss parameters and
    ``dropout``)."""
    return 3 if spec_fields_v3(spec) else 1
