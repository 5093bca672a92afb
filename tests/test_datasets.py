"""Datasets and splits: stable ids, fixed split seed, normalisation fitted on train only."""

from __future__ import annotations

import re

import numpy as np
import pytest

from trainboard.datasets import DATASETS, SPLIT_NAMES, blur_shift_noise, load_splits, split_indices


@pytest.mark.parametrize("name", sorted(DATASETS))
def test_splits_cover_every_example_once(name: str) -> None:
    splits = load_splits(name)
    ids = np.concatenate([splits.by_name(s).ids for s in SPLIT_NAMES])
    assert len(ids) == len(set(ids)) == DATASETS[name].n_examples
    assert all(i.startswith(f"{name}-") for i in ids)
    assert splits.train.x.shape[1:] == DATASETS[name].input_shape
    assert splits.train.x.dtype == np.float32 and splits.train.y.dtype == np.int64


def test_split_fractions_are_the_defaults() -> None:
    parts = split_indices(1000)
    assert [len(parts[s]) for s in SPLIT_NAMES] == [600, 100, 150, 150]


def test_splits_are_stable_across_calls_and_train_fractions() -> None:
    first, second = load_splits("digits"), load_splits("digits", train_fraction=0.25)
    for split in ("train_dev", "dev", "test"):
        assert list(first.by_name(split).ids) == list(second.by_name(split).ids)
    # A smaller train_fraction keeps a prefix of the same training split.
    assert list(second.train.ids) == list(first.train.ids[: len(second.train)])
    assert len(second.train) == int(np.ceil(0.25 * len(first.train)))


def test_normalisation_is_fitted_on_the_training_split_only() -> None:
    splits = load_splits("wine")
    assert np.allclose(splits.train.x.mean(axis=0), 0.0, atol=1e-5)
    assert np.allclose(splits.train.x.std(axis=0), 1.0, atol=1e-4)
    assert not np.allclose(splits.dev.x.mean(axis=0), 0.0, atol=1e-3)
    raw = load_splits("wine", normalize=False)
    assert np.allclose(raw.dev.x, splits.dev.x * splits.std + splits.mean, atol=1e-3)


def test_image_normalisation_uses_one_scalar() -> None:
    splits = load_splits("digits")
    assert splits.mean.shape == () and splits.std.shape == ()


def test_digits_shifted_changes_only_dev_and_test() -> None:
    clean, shifted = load_splits("digits"), load_splits("digits-shifted")
    assert np.array_equal(clean.train.x, shifted.train.x)
    assert np.array_equal(clean.train_dev.x, shifted.train_dev.x)
    assert np.array_equal(clean.dev.y, shifted.dev.y)
    assert not np.allclose(clean.dev.x, shifted.dev.x)
    assert np.array_equal(load_splits("digits-shifted").dev.x, shifted.dev.x)  # deterministic


def test_blur_shift_noise_stays_in_pixel_range() -> None:
    images = np.full((10, 8, 8), 16.0)
    out = blur_shift_noise(images)
    assert out.shape == images.shape and out.min() >= 0 and out.max() <= 16


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"train_fraction": 0.0}, "train_fraction"), ({"train_fraction": 1.5}, "train_fraction")],
)
def test_load_splits_refuses_bad_input(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        load_splits("digits", **kwargs)


def test_load_splits_refuses_unknown_dataset() -> None:
    with pytest.raises(ValueError, match="unknown dataset 'mnist'"):
        load_splits("mnist")


def test_every_built_in_names_its_classes_and_tasks_consistently() -> None:
    """Class names match the class count, and task names (metric key prefixes) only on multi-task sets."""
    for name, info in DATASETS.items():
        assert not info.class_names or len(info.class_names) == info.n_classes, name
        for task in info.tasks:
            assert re.fullmatch(r"[A-Za-z0-9_.\-:]+", task), (name, task)
    assert DATASETS["breast_cancer"].class_names == ("malignant", "benign")
    assert DATASETS["breast_cancer"].tasks == ()
