"""The model registry: config resolution (torch-free), errors naming the field, and the builders."""

from __future__ import annotations

import subprocess
import sys

import pytest

import models
from models import ModelConfigError, build_model, resolve_model_config

DIGITS = {"kind": "image", "input_shape": (1, 8, 8), "n_classes": 10}
WINE = {"kind": "tabular", "input_shape": (13,), "n_classes": 3}


def test_resolve_model_config_empty_gives_default_mlp() -> None:
    config = resolve_model_config({}, **WINE)
    assert config == {"name": "mlp", "hidden": [64], "activation": "relu", "init": None, "batch_norm": False}


def test_resolve_model_config_keeps_given_values() -> None:
    config = resolve_model_config({"name": "mlp", "hidden": [32, 16], "activation": "tanh"}, **DIGITS)
    assert config["hidden"] == [32, 16] and config["activation"] == "tanh" and config["init"] is None


@pytest.mark.parametrize(
    ("config", "dataset", "field", "fragment"),
    [
        ({"name": "transformer"}, WINE, "model.name", "unknown model"),
        ({"name": "lenet5"}, WINE, "model.name", "needs image data"),
        ({"name": "resnet"}, WINE, "model.name", "tabular"),
        ({"name": "mlp", "hidden": [0]}, WINE, "model.hidden.0", "greater than or equal to 1"),
        ({"name": "mlp", "hidden": [8] * 11}, WINE, "model.hidden", "at most 10"),
        ({"name": "mlp", "activation": "swish"}, WINE, "model.activation", "relu"),
        ({"name": "mlp", "dropout": 0.5}, WINE, "model.dropout", "not permitted"),
        ({"name": "gru", "layers": 9}, DIGITS, "model.layers", "less than or equal to 4"),
    ],
)
def test_resolve_model_config_names_the_bad_field(
    config: dict, dataset: dict, field: str, fragment: str
) -> None:
    with pytest.raises(ModelConfigError) as info:
        resolve_model_config(config, **dataset)
    assert info.value.field == field
    assert fragment in info.value.message
    assert isinstance(info.value, ValueError)


def test_lenet5_refuses_tiny_images() -> None:
    with pytest.raises(ModelConfigError, match="at least 4x4"):
        resolve_model_config({"name": "lenet5"}, kind="image", input_shape=(1, 2, 2), n_classes=2)


def test_resolve_model_config_does_not_import_torch() -> None:
    code = (
        "import sys, models\n"
        "models.resolve_model_config({'name': 'resnet'}, kind='image', input_shape=(1, 8, 8), n_classes=10)\n"
        "models.model_options_schema()\n"
        "import worker.celery_app, models.config, trainboard.client\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=models.__path__[0] + "/..")


def test_every_option_field_has_a_description() -> None:
    for name, schema in models.model_options_schema().items():
        for field, spec in schema["properties"].items():
            assert spec.get("description"), f"{name}.{field} has no description"


@pytest.mark.parametrize("name", ["softmax", "mlp", "lenet5", "resnet", "gru"])
def test_build_model_outputs_logits_per_class(name: str) -> None:
    import torch

    config = resolve_model_config({"name": name}, **DIGITS)
    model = build_model(config, input_shape=(1, 8, 8), n_classes=10, keep_prob=0.5)
    assert model(torch.zeros(5, 1, 8, 8)).shape == (5, 10)


def test_gru_reads_sequences() -> None:
    import torch

    config = resolve_model_config(
        {"name": "gru", "cell": "lstm"}, kind="sequence", input_shape=(7, 3), n_classes=4
    )
    model = build_model(config, input_shape=(7, 3), n_classes=4)
    assert model(torch.zeros(2, 7, 3)).shape == (2, 4)


def test_mlp_options_change_the_network() -> None:
    config = resolve_model_config({"hidden": [16, 8], "batch_norm": True}, **WINE)
    model = build_model(config, input_shape=(13,), n_classes=3)
    sizes = [p.numel() for p in model.parameters()]
    # 13*16+16, bn 16+16, 16*8+8, bn 8+8, 8*3+3
    assert sum(sizes) == 224 + 32 + 136 + 16 + 27


def test_dropout_is_off_in_eval_mode() -> None:
    import torch

    torch.manual_seed(0)
    config = resolve_model_config({"hidden": [256]}, **WINE)
    model = build_model(config, input_shape=(13,), n_classes=3, keep_prob=0.5)
    x = torch.randn(4, 13)
    model.eval()
    assert torch.equal(model(x), model(x))
    model.train()
    assert not torch.equal(model(x), model(x))
