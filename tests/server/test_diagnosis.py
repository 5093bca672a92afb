import math

import pytest

from server.diagnosis import GAPS, Diagnosis, ErrorLadder, Recommendation, diagnose, recommend

CONFIG = {
    "model": {"name": "mlp", "hidden": [64]},
    "hparams": {
        "epochs": 30,
        "lr": 0.001,
        "optimizer": "sgd",
        "l2": 0.0,
        "keep_prob": 1.0,
        "augment": False,
        "early_stopping_patience": None,
        "train_fraction": 0.25,
    },
}


def _actions(diagnosis: Diagnosis, gap: str) -> dict[str, object]:
    return {r.path: r.value for r in diagnosis.recommendations if r.gap == gap and r.path is not None}


def _knobs(recommendations: tuple[Recommendation, ...]) -> dict[str, object]:
    return {r.path: r.value for r in recommendations if r.path is not None}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("human_level_error", -0.01),
        ("train_error", 1.5),
        ("train_dev_error", math.nan),
        ("dev_error", math.inf),
        ("test_error", "0.1"),
        ("train_error", True),
    ],
)
def test_error_ladder_rejects_bad_rates(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=f"{field} must be .*, but got {field}="):
        ErrorLadder(**{field: value})


def test_error_ladder_message_names_field_and_value() -> None:
    with pytest.raises(ValueError) as info:
        ErrorLadder(train_error=1.5)
    assert str(info.value) == "train_error must be in [0, 1], but got train_error=1.5"


@pytest.mark.parametrize("value", [0, 0.0, 1, 1.0, 0.5, None])
def test_error_ladder_accepts_bounds_and_none(value: float | None) -> None:
    assert ErrorLadder(train_error=value).train_error == value


@pytest.mark.parametrize(
    ("ladder", "expected", "primary"),
    [
        # Ng's examples: human 1 %, train 8 %, dev 10 % -> avoidable bias.
        (ErrorLadder(0.01, 0.08, None, 0.10, None), (0.07, 0.02, None, None), "avoidable_bias"),
        # human 7.5 %, train 8 %, dev 10 % -> variance.
        (ErrorLadder(0.075, 0.08, None, 0.10, None), (0.005, 0.02, None, None), "variance"),
        # A high human-level error means a 15 % train error has no avoidable bias.
        (ErrorLadder(0.15, 0.15, None, 0.16, None), (0.0, 0.01, None, None), "variance"),
        # With train-dev: variance and data mismatch split apart.
        (ErrorLadder(0.01, 0.02, 0.03, 0.10, None), (0.01, 0.01, 0.07, None), "data_mismatch"),
        (ErrorLadder(0.01, 0.02, 0.10, 0.11, 0.12), (0.01, 0.08, 0.01, 0.01), "variance"),
        (ErrorLadder(0.01, 0.02, 0.02, 0.03, 0.09), (0.01, 0.0, 0.01, 0.06), "dev_overfitting"),
        # The course's expert team: 0.5 % vs train 0.7 % vs dev 0.8 % -> still bias (no fixed threshold).
        (ErrorLadder(0.005, 0.007, None, 0.008, None), (0.002, 0.001, None, None), "avoidable_bias"),
        (ErrorLadder(0.01, 0.012, 0.013, 0.014, 0.015), (0.002, 0.001, 0.001, 0.001), "avoidable_bias"),
        # No human-level error: Bayes error taken as 0, so avoidable bias is the train error.
        (ErrorLadder(None, 0.02, None, 0.10, None), (0.02, 0.08, None, None), "variance"),
        (ErrorLadder(None, 0.15, None, 0.16, None), (0.15, 0.01, None, None), "avoidable_bias"),
        # Negative gaps are reported but never primary.
        (ErrorLadder(0.05, 0.02, None, 0.015, 0.2), (-0.03, -0.005, None, 0.185), "dev_overfitting"),
        (ErrorLadder(0.05, 0.02, None, 0.021, None), (-0.03, 0.001, None, None), "variance"),
        (ErrorLadder(0.05, 0.02, None, 0.02, 0.02), (-0.03, 0.0, None, 0.0), "none"),
        # Too little logged.
        (ErrorLadder(), (None, None, None, None), "unknown"),
        (ErrorLadder(0.01, 0.08, None, None, None), (0.07, None, None, None), "unknown"),
        (ErrorLadder(None, None, None, 0.10, 0.12), (None, None, None, 0.02), "unknown"),
        (ErrorLadder(0.01, None, None, 0.10, 0.12), (None, None, None, 0.02), "unknown"),
    ],
)
def test_diagnose_gaps_and_primary(ladder: ErrorLadder, expected: tuple, primary: str) -> None:
    diagnosis = diagnose(ladder)
    gaps = tuple(getattr(diagnosis, name) for name in GAPS)
    assert gaps == pytest.approx(expected)
    assert [g is None for g in gaps] == [e is None for e in expected]
    assert diagnosis.primary == primary


def test_human_level_assumed_only_without_a_human_level_error() -> None:
    assumed = diagnose(ErrorLadder(None, 0.15, None, 0.16, None))
    assert assumed.human_level_assumed is True
    assert assumed.human_level_error is None  # the API reports what the project has, and flags the assumption
    assert assumed.summary.startswith("Avoidable bias dominates: train error is 15.0 points above 0 %")
    assert diagnose(ErrorLadder(0.01, 0.15, None, 0.16, None)).human_level_assumed is False
    assert diagnose(ErrorLadder(None, None, None, 0.16, None)).human_level_assumed is False


def test_human_level_above_train_error_is_explained() -> None:
    diagnosis = diagnose(ErrorLadder(0.05, 0.02, None, 0.08, None))
    assert diagnosis.avoidable_bias == pytest.approx(-0.03)
    assert diagnosis.primary == "variance"
    assert any("passed the human proxy" in note for note in diagnosis.notes)


def test_to_dict_has_the_api_shape() -> None:
    body = diagnose(ErrorLadder(0.01, 0.08, None, 0.10, None), CONFIG).to_dict()
    api_keys = {
        "human_level_error", "train_error", "train_dev_error", "dev_error", "test_error",
        "avoidable_bias", "variance", "data_mismatch", "dev_overfitting", "primary", "recommendations",
    }  # fmt: skip
    api_keys |= {"human_level_assumed", "standard_errors", "significant", "step"}
    assert api_keys <= body.keys()
    assert all(isinstance(text, str) for text in body["recommendations"])
    assert [a["text"] for a in body["actions"]] == body["recommendations"]
    assert set(body["actions"][0]) == {"gap", "text", "path", "value", "label"}
    assert body["summary"].startswith("Avoidable bias dominates: train error is 7.0 points above")


@pytest.mark.parametrize(
    ("ladder", "summary"),
    [
        (
            ErrorLadder(0.01, 0.02, None, 0.09, None),
            "Variance dominates: dev error is 7.0 points above train error; reduce variance first "
            "(more data, regularisation).",
        ),
        (ErrorLadder(0.01, 0.02, 0.03, 0.10, None), "Data mismatch dominates: dev error is 7.0 points above"),
        (ErrorLadder(0.01, 0.01, 0.01, 0.01, 0.01), "No gap between the rungs: nothing stands out to fix."),
        (ErrorLadder(train_error=0.1), "Not enough logged to diagnose: dev_error missing."),
    ],
)
def test_summary_is_one_plain_sentence(ladder: ErrorLadder, summary: str) -> None:
    assert diagnose(ladder).summary.startswith(summary)


def test_bias_recommendations_turn_one_knob_each() -> None:
    config = {"model": {"hidden": [64, 32]}, "hparams": {**CONFIG["hparams"], "l2": 0.01, "keep_prob": 0.8}}
    catalogue = recommend("avoidable_bias", config)
    assert catalogue[0] == Recommendation(
        gap="avoidable_bias",
        text="Train a bigger network: double the hidden units ([64, 32] -> [128, 64]).",
        path="model.hidden",
        value=[128, 64],
        label="2x hidden units ([64, 32] -> [128, 64])",
    )
    assert _knobs(catalogue) == {
        "model.hidden": [128, 64],
        "hparams.epochs": 60,
        "hparams.optimizer": "adam",
        "hparams.l2": 0.005,
        "hparams.keep_prob": 1.0,
    }
    # The diagnosis gives three of them, then one for the smaller gap (variance, 0.5 points, sizes unknown).
    diagnosis = diagnose(ErrorLadder(0.01, 0.08, None, 0.085, None), config)
    assert [r.path for r in diagnosis.recommendations] == [
        "model.hidden", "hparams.epochs", "hparams.optimizer", "hparams.train_fraction"
    ]  # fmt: skip


def test_bias_recommendations_skip_knobs_already_at_target() -> None:
    config = {"model": {"name": "resnet"}, "hparams": {"epochs": 10, "optimizer": "adam", "l2": 0.0}}
    diagnosis = diagnose(ErrorLadder(0.01, 0.08, None, 0.085, None), config)
    assert _actions(diagnosis, "avoidable_bias") == {"hparams.epochs": 20}
    assert (
        "Train a bigger network (more layers or more units per layer)."
        in diagnosis.to_dict()["recommendations"]
    )


@pytest.mark.parametrize(
    ("hparams", "kind", "expected"),
    [
        (
            CONFIG["hparams"],
            "image",
            {
                "hparams.train_fraction": 1.0,
                "hparams.l2": 0.001,
                "hparams.keep_prob": 0.8,
                "hparams.augment": True,
                "hparams.early_stopping_patience": 5,
            },
        ),
        ({"train_fraction": 0.1, "l2": 0.001, "keep_prob": 0.8}, None, {
            "hparams.train_fraction": 0.4, "hparams.l2": 0.01, "hparams.keep_prob": 0.7}),
        ({"train_fraction": 1.0, "keep_prob": 0.55, "augment": False}, "tabular", {"hparams.keep_prob": 0.5}),
        ({"keep_prob": 0.5, "augment": True, "early_stopping_patience": 3}, "image", {}),
        ({}, "image", {}),
    ],
)  # fmt: skip
def test_variance_recommendations(hparams: dict, kind: str | None, expected: dict) -> None:
    assert _knobs(recommend("variance", {"hparams": hparams}, dataset_kind=kind)) == pytest.approx(expected)


def test_variance_without_fraction_knob_advises_collecting_data() -> None:
    texts = [r.text for r in recommend("variance", {"hparams": {"train_fraction": 1.0}})]
    assert texts[0] == "Collect more training data."


def test_dataset_kind_can_come_from_config() -> None:
    config = {"dataset_kind": "image", "hparams": {"augment": False}}
    diagnosis = diagnose(ErrorLadder(0.01, 0.02, None, 0.09, None), config)
    assert _actions(diagnosis, "variance") == {"hparams.augment": True}


@pytest.mark.parametrize("gap", ["data_mismatch", "dev_overfitting"])
def test_mismatch_and_dev_overfitting_advice_is_text_only(gap: str) -> None:
    recommendations = recommend(gap, CONFIG)
    assert recommendations
    assert all(r.path is None and r.gap == gap for r in recommendations)


def test_primary_gap_recommendations_come_first_then_other_big_gaps() -> None:
    diagnosis = diagnose(ErrorLadder(0.01, 0.03, 0.04, 0.10, 0.101), CONFIG)
    gaps = [r.gap for r in diagnosis.recommendations]
    assert gaps == ["data_mismatch", "data_mismatch", "avoidable_bias", "avoidable_bias"]


@pytest.mark.parametrize("config", [None, {}, {"model": None, "hparams": "oops"}])
def test_diagnose_never_needs_a_config(config: object) -> None:
    diagnosis = diagnose(ErrorLadder(0.01, 0.08, None, 0.10, None), config)
    assert diagnosis.primary == "avoidable_bias"
    assert all(r.path is None for r in diagnosis.recommendations)


def test_recommend_rejects_unknown_gap() -> None:
    with pytest.raises(ValueError, match="but got gap='bias'"):
        recommend("bias")
