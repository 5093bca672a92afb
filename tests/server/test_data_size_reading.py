"""Reading a learning curve over data size in one sentence."""

from __future__ import annotations

import pytest

from server.learning_curves import data_size_curve, read_data_size_curve, read_transfer_comparison


@pytest.mark.parametrize(
    ("runs", "phrase"),
    [
        ([(100, 0.0, 0.30), (250, 0.01, 0.20), (500, 0.02, 0.12), (1000, 0.03, 0.07)], "keeps closing"),
        ([(100, 0.05, 0.06), (1000, 0.055, 0.06)], "have met at 1,000 examples"),
        ([(100, 0.0, 0.30), (500, 0.0, 0.15), (1000, 0.0, 0.149)], "flattened out"),
        ([(100, 0.0, 0.20), (1000, 0.0, 0.20)], "not closing"),
        ([(100, 0.0, 0.20), (1000, None, 0.10)], "Not enough finished runs"),
        ([], "Not enough finished runs"),
    ],
)
def test_read_data_size_curve(runs: list, phrase: str) -> None:
    assert phrase in read_data_size_curve(data_size_curve(runs))


def test_read_data_size_curve_refuses_a_negative_threshold() -> None:
    with pytest.raises(ValueError, match="threshold must be a non-negative number"):
        read_data_size_curve((), threshold=-0.1)


def _curve(*dev: float) -> tuple:
    return data_size_curve([(n, 0.0, d) for n, d in zip((10, 20, 40, 80), dev, strict=False)])


@pytest.mark.parametrize(
    ("tuned", "scratch", "reading"),
    [
        (
            (0.3, 0.2),
            (0.6, 0.4),
            "Transfer wins at every size measured, still at 20 examples (dev error 20.0 %",
        ),
        ((0.3, 0.2, 0.2), (0.6, 0.2, 0.1), "Transfer wins up to 10 training examples; from 20 on,"),
        ((0.3, 0.2), (0.3, 0.195), "Transfer does not pay here"),
        ((0.3,), (), "Not enough finished runs to compare yet"),
    ],
)
def test_read_transfer_comparison(tuned: tuple, scratch: tuple, reading: str) -> None:
    assert read_transfer_comparison(_curve(*tuned), _curve(*scratch)).startswith(reading)


def test_read_transfer_comparison_refuses_a_bad_threshold() -> None:
    with pytest.raises(ValueError, match="threshold must be a non-negative number"):
        read_transfer_comparison((), (), threshold=-1)
