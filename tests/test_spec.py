"""NetworkSpec validation and repr."""

from __future__ import annotations

import numpy as np
import pytest

import fastbp as fb


def test_valid_spec_and_repr() -> None:
    spec = fb.NetworkSpec([8, 32, 32, 1], ["relu", "relu"], "squared", "float64")
    assert spec.widths == (8, 32, 32, 1)
    assert spec.n_layers == 3
    assert spec.n_params == 32 * 9 + 32 * 33 + 1 * 33
    assert spec.output_activation == "identity"
    assert repr(spec) == (
        "NetworkSpec(widths=[8, 32, 32, 1], activations=['relu', 'relu'], loss='squared', "
        "dtype='float64')"
    )
    assert fb.NetworkSpec.from_dict(spec.to_dict()) == spec


def test_single_activation_name_is_repeated_and_numpy_dtypes_accepted() -> None:
    spec = fb.NetworkSpec(np.array([4, 5, 6, 2]), "tanh", "logistic", np.float32)
    assert spec.activations == ("tanh", "tanh")
    assert spec.dtype == "float32"


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"widths": []}, "widths must list at least"),
        ({"widths": [3]}, "widths must list at least"),
        ({"widths": [3, 0]}, r"widths\[1\] = 0 must be >= 1"),
        ({"widths": [3, -2]}, r"widths\[1\] = -2"),
        ({"widths": [3, 2.5]}, r"widths\[1\] = 2.5 must be a positive integer"),
        ({"widths": [3, True]}, r"widths\[1\]"),
        ({"widths": "34"}, "widths must be a list"),
        ({"widths": 5}, "widths must be a list"),
        ({"widths": [3, 4, 1], "activations": []}, "one name per hidden layer"),
        ({"widths": [3, 1], "activations": ["relu"]}, "one name per hidden layer"),
        ({"widths": [3, 4, 1], "activations": ["swish"]}, r"activations\[0\] = 'swish'.*allowed"),
        ({"widths": [3, 1], "loss": "hinge"}, r"loss = 'hinge' is unknown; allowed"),
        ({"widths": [3, 1], "loss": "softmax_cross_entropy"}, "at least 2 outputs"),
        ({"widths": [3, 1], "dtype": "float16"}, r"dtype = 'float16' is not supported"),
        ({"widths": [3, 1], "dtype": "int32"}, "dtype"),
        ({"widths": [3, 1], "dtype": "bogus"}, "dtype"),
        ({"widths": [10**6, 10**6, 10**6]}, "GiB for the parameters"),
    ],
)
def test_invalid_specs_name_the_field(kwargs: dict, match: str) -> None:
    widths = kwargs.get("widths")
    n_hidden = len(widths) - 2 if isinstance(widths, list) and len(widths) > 2 else 0
    kwargs.setdefault("activations", ["relu"] * n_hidden)
    with pytest.raises(ValueError, match=match):
        fb.NetworkSpec(**kwargs)


def test_spec_is_immutable() -> None:
    spec = fb.NetworkSpec([2, 1])
    with pytest.raises(AttributeError):
        spec.loss = "logistic"  # type: ignore[misc]


def test_from_dict_rejects_missing_fields() -> None:
    with pytest.raises(ValueError, match="missing field"):
        fb.NetworkSpec.from_dict({"widths": [2, 1]})
    with pytest.raises(ValueError, match="mapping"):
        fb.NetworkSpec.from_dict([2, 1])  # type: ignore[arg-type]
