from collections import Counter

import numpy as np
import pytest

from server.error_analysis import (
    REVIEWED,
    ClassMetrics,
    ErrorShare,
    TagCount,
    TagTally,
    analyse_confusion,
    analyse_errors,
    compare_runs,
    confidence_bins,
    error_rate_by_class,
    error_rate_by_class_of,
    error_share,
    precision_recall_curve,
    tally_tags,
)


def test_analyse_errors_counts_tags_and_classes() -> None:
    labels = ["cat", "cat", "dog", "dog", "bird", "cat"]
    predicted = ["cat", "dog", "dog", "cat", "bird", "bird"]
    tags = {1: {"blurry"}, 3: ["blurry", "dark"], 5: [], 0: ["blurry"]}  # index 0 is correct: ignored
    result = analyse_errors(labels, predicted, tags)
    assert (result.examples, result.errors, result.error_rate) == (6, 3, 0.5)
    assert (result.tagged_errors, result.untagged_errors) == (2, 1)
    # Both tagged errors are the reviewed sample: blurry is 2 of 2, so its estimate is the whole error rate.
    assert result.by_tag == (
        TagCount(2, 2 / 3, 2 / 6, 1.0, 0.5, tag="blurry", cumulative_share=2 / 3),
        TagCount(1, 1 / 3, 1 / 6, 0.5, 0.25, tag="dark", cumulative_share=1.0),
    )
    assert result.untagged == ErrorShare(1, 1 / 3, 1 / 6, None, None)
    assert result.confusion_labels == ("bird", "cat", "dog")
    assert result.confusion_matrix == ((1, 0, 0), (1, 1, 1), (0, 1, 1))
    assert result.per_class[1] == ClassMetrics("cat", 0.5, 1 / 3, pytest.approx(0.4), 3)


def test_to_dict_matches_the_api_shape() -> None:
    body = analyse_errors([0, 1, 1], [0, 1, 0], {2: ["x"]}).to_dict()
    assert body["confusion"] == {"labels": [0, 1], "matrix": [[1, 0], [1, 1]]}
    assert body["by_tag"] == [
        {
            "tag": "x",
            "count": 1,
            "fraction_of_errors": 1.0,
            "max_error_reduction": 1 / 3,
            "fraction_of_reviewed": 1.0,
            "max_error_reduction_reviewed": 1 / 3,
            "cumulative_share": 1.0,
        }
    ]
    assert body["reviewed_errors"] == 1
    assert body["other"] == {
        "count": 0,
        "fraction_of_errors": 0.0,
        "max_error_reduction": 0.0,
        "fraction_of_reviewed": 0.0,
        "max_error_reduction_reviewed": 0.0,
    }
    assert body["untagged"]["count"] == 0 and body["untagged"]["fraction_of_reviewed"] is None
    assert set(body["per_class"][0]) == {"label", "precision", "recall", "f1", "support"}
    assert {"examples", "errors", "error_rate", "tagged_errors", "untagged_errors"} <= body.keys()
    assert body["macro_avg"]["support"] == 3


@pytest.mark.parametrize(
    ("labels", "predicted", "order"),
    [
        ([10, 9, 2], [2, 9, 10], (2, 9, 10)),
        (["10", "9", "2"], ["2", "9", "10"], ("2", "9", "10")),
        (["b", "a"], ["a", "c"], ("a", "b", "c")),
        (np.array([3, 1]), np.array([1, 2]), (1, 2, 3)),
        ([1, "cat"], [1, "cat"], (1, "cat")),
    ],
)
def test_confusion_labels_in_natural_order(labels: list, predicted: list, order: tuple) -> None:
    assert analyse_errors(labels, predicted).confusion_labels == order


@pytest.mark.parametrize(
    ("count", "errors", "examples", "reviewed_count", "reviewed", "expected"),
    [
        # The course's sample: 100 of 400 errors reviewed, 30 blurry, error rate 400 / 4000 = 0.10.
        (30, 400, 4000, 30, 100, (0.075, 0.0075, 0.30, 0.03)),
        # Every error reviewed: the estimate is the exact ceiling count / examples.
        (30, 400, 4000, 30, 400, (0.075, 0.0075, 0.075, 0.0075)),
        # 300 errors outside a 100-error sample: no estimate from it.
        (300, 400, 4000, None, 100, (0.75, 0.075, None, None)),
        # Nothing reviewed yet: no estimate, whatever the counts.
        (0, 400, 4000, 0, 0, (0.0, 0.0, None, None)),
        # 50 of the 100 reviewed in no category ("other"): half the error rate is unexplained.
        (50, 400, 4000, 50, 100, (0.125, 0.0125, 0.5, 0.05)),
        (0, 0, 0, 0, 0, (0.0, 0.0, None, None)),
    ],
)
def test_error_share_worked_examples(
    count: int, errors: int, examples: int, reviewed_count: int | None, reviewed: int, expected: tuple
) -> None:
    share = error_share(
        count, errors=errors, examples=examples, reviewed_count=reviewed_count, reviewed=reviewed
    )
    got = (
        share.fraction_of_errors,
        share.max_error_reduction,
        share.fraction_of_reviewed,
        share.max_error_reduction_reviewed,
    )
    assert got == pytest.approx(expected)
    assert share.count == count


@pytest.mark.parametrize(
    ("count", "errors", "examples", "reviewed_count", "reviewed", "message"),
    [
        (5, 4, 10, 5, 4, "but got count=5, errors=4"),
        (1, 11, 10, 1, 1, "errors=11, examples=10"),
        (1, 4, 10, 1, 5, "but got reviewed_count=1, reviewed=5"),
        (3, 4, 10, 3, 2, "but got reviewed_count=3, reviewed=2"),
        (-1, 4, 10, None, 2, "but got count=-1"),
    ],
)
def test_error_share_rejects_impossible_counts(
    count: int, errors: int, examples: int, reviewed_count: int | None, reviewed: int, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        error_share(count, errors=errors, examples=examples, reviewed_count=reviewed_count, reviewed=reviewed)


def test_reviewed_mark_joins_the_sample_without_being_a_category() -> None:
    tally = tally_tags([{REVIEWED}, [REVIEWED, "blurry"], ["blurry", "dark"], [], ()])
    assert (dict(tally.counts), tally.tagged, tally.categorised) == ({"blurry": 2, "dark": 1}, 3, 2)


def test_analysis_of_a_reviewed_sample() -> None:
    # 4000 examples, 400 errors (error rate 0.10); 100 reviewed: 30 blurry, 20 mislabeled, 50 in no category.
    cells = {(0, 0): 1800, (1, 1): 1800, (0, 1): 250, (1, 0): 150}
    tags = [["blurry"]] * 30 + [["mislabeled"]] * 20 + [[REVIEWED]] * 50
    result = analyse_confusion(cells, tally_tags(tags))
    assert (result.errors, result.error_rate, result.reviewed_errors, result.tagged_errors) == (
        400,
        0.1,
        100,
        100,
    )
    rows = {t.tag: (t.count, t.fraction_of_reviewed, t.max_error_reduction_reviewed) for t in result.by_tag}
    assert rows == {"blurry": (30, 0.3, pytest.approx(0.03)), "mislabeled": (20, 0.2, pytest.approx(0.02))}
    assert result.by_tag[0].fraction_of_errors == 0.075
    assert result.other == ErrorShare(50, 0.125, 0.0125, 0.5, pytest.approx(0.05))
    assert result.untagged == ErrorShare(300, 0.75, 0.075, None, None)
    assert result.untagged_errors == result.untagged.count


@pytest.mark.parametrize(
    ("tally", "message"),
    [
        (TagTally(Counter(), tagged=5, categorised=0), "tagged errors cannot exceed the errors"),
        (TagTally(Counter({"a": 2}), tagged=2, categorised=1), "tag counts cannot exceed the tagged errors"),
        (TagTally(Counter(), tagged=1, categorised=2), "tag counts cannot exceed the tagged errors"),
    ],
)
def test_analyse_confusion_rejects_an_inconsistent_tally(tally: TagTally, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        analyse_confusion({(0, 1): 4, (0, 0): 6}, tally)


def test_tag_ties_sort_by_name() -> None:
    result = analyse_errors([0, 0], [1, 1], {0: ["b", "a"], 1: ["c"]})
    assert [t.tag for t in result.by_tag] == ["a", "b", "c"]


def test_class_never_predicted_has_zero_precision() -> None:
    result = analyse_errors([0, 1, 1], [0, 0, 0])
    assert result.per_class[1] == ClassMetrics(1, 0.0, 0.0, 0.0, 2)
    assert result.macro_avg["precision"] == pytest.approx((1 / 3 + 0.0) / 2)
    assert result.weighted_avg["recall"] == pytest.approx(1 / 3)


def test_empty_input_gives_zeros() -> None:
    result = analyse_errors([], [])
    assert (result.examples, result.errors, result.error_rate, result.by_tag) == (0, 0, 0.0, ())
    assert result.to_dict()["confusion"] == {"labels": [], "matrix": []}


@pytest.mark.parametrize(
    ("labels", "predicted", "tags", "message"),
    [
        ([1, 2], [1], None, r"but got len\(labels\)=2 and len\(predicted\)=1"),
        ([1, 2], [1, 2], {2: ["x"]}, "but got index=2"),
        ([1, 2], [1, 2], {-1: ["x"]}, "but got index=-1"),
        ([1, 2], [1, 2], {"0": ["x"]}, "but got index='0'"),
    ],
)
def test_analyse_errors_rejects_bad_input(labels: list, predicted: list, tags: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        analyse_errors(labels, predicted, tags)


@pytest.mark.parametrize("as_text", [False, True])
def test_analyse_errors_counts_100k_examples(as_text: bool) -> None:
    # Timing lives in bench/error_analysis.py; this checks the large, vectorised path gives exact counts.
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 10, 100_000)
    predicted = np.where(rng.random(100_000) < 0.9, labels, rng.integers(0, 10, 100_000))
    labels, predicted = labels.tolist(), predicted.tolist()
    if as_text:
        labels, predicted = [f"c{v}" for v in labels], [f"c{v}" for v in predicted]
    tags = {i: ["blurry"] for i in range(0, 100_000, 50)}
    result = analyse_errors(labels, predicted, tags)
    wrong = [i for i, (y, p) in enumerate(zip(labels, predicted, strict=True)) if y != p]
    assert result.examples == 100_000
    assert result.errors == len(wrong)
    assert result.tagged_errors == sum(1 for i in wrong if i % 50 == 0)
    assert sum(map(sum, result.confusion_matrix)) == 100_000


def test_error_rate_by_class() -> None:
    rates = error_rate_by_class(["b", "a", "a", "a"], ["b", "b", "a", "c"])
    assert [(r.label, r.examples, r.errors) for r in rates] == [("a", 3, 2), ("b", 1, 0)]
    assert rates[0].error_rate == pytest.approx(2 / 3)


def test_confidence_bins() -> None:
    bins = confidence_bins([0.05, 0.15, 0.95, 1.0], [True, False, False, True], bins=10)
    assert len(bins) == 10
    assert (bins[0].count, bins[0].errors, bins[0].error_rate) == (1, 0, 0.0)
    assert (bins[1].count, bins[1].error_rate) == (1, 1.0)
    assert (bins[2].count, bins[2].error_rate, bins[2].mean_confidence) == (0, None, None)
    assert (bins[9].count, bins[9].errors, bins[9].mean_confidence) == (2, 1, pytest.approx(0.975))


@pytest.mark.parametrize(
    ("confidences", "correct", "bins", "message"),
    [
        ([0.5], [True], 0, "but got bins=0"),
        ([0.5], [True, False], 10, "same length"),
        ([1.5], [True], 10, "confidences must be in"),
        ([float("nan")], [True], 10, "confidences must be finite"),
    ],
)
def test_confidence_bins_rejects_bad_input(confidences: list, correct: list, bins: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        confidence_bins(confidences, correct, bins)


def test_precision_recall_curve() -> None:
    curve = precision_recall_curve([1, 0, 1, 1, 0], [0.9, 0.8, 0.8, 0.3, 0.1])
    assert curve.thresholds.tolist() == [0.9, 0.8, 0.3, 0.1]
    assert curve.precision.tolist() == pytest.approx([1.0, 2 / 3, 3 / 4, 3 / 5])
    assert curve.recall.tolist() == pytest.approx([1 / 3, 2 / 3, 1.0, 1.0])
    assert curve.average_precision == pytest.approx(1 / 3 + 1 / 3 * 2 / 3 + 1 / 3 * 3 / 4)
    assert curve.to_dict()["thresholds"] == [0.9, 0.8, 0.3, 0.1]


def test_precision_recall_curve_edge_cases() -> None:
    assert precision_recall_curve([], []).thresholds.size == 0
    assert precision_recall_curve([0, 0], [0.2, 0.1]).recall.tolist() == [0.0, 0.0]
    with pytest.raises(ValueError, match="labels01 must hold only 0 and 1, but got label=2"):
        precision_recall_curve([0, 2], [0.1, 0.2])
    with pytest.raises(ValueError, match="same length"):
        precision_recall_curve([0, 1], [0.1])


def test_compare_runs() -> None:
    before = {"1": True, "2": False, "10": True, "3": False, "only_a": True}
    after = {"1": False, "2": True, "10": True, "3": False, "only_b": True}
    comparison = compare_runs(before, after)
    assert (comparison.fixed, comparison.newly_broken, comparison.still_wrong) == (("1",), ("2",), ("10",))
    assert comparison.compared == 4
    assert comparison.to_dict()["fixed"] == {"count": 1, "ids": ["1"]}


def test_compare_runs_sorts_ids_naturally() -> None:
    comparison = compare_runs({10: True, 9: True, 100: True}, {10: True, 9: True, 100: True})
    assert comparison.still_wrong == (9, 10, 100)


def test_cumulative_share_runs_over_tag_counts_and_ends_at_one() -> None:
    # Tags overlap (an error may be blurry and dark): the Pareto line sums tag counts, not errors.
    labels, predicted = [0] * 6, [1] * 6
    tags = {0: ["blurry", "dark"], 1: ["blurry"], 2: ["blurry"], 3: ["dark"], 4: ["tilted"]}
    shares = [(t.tag, t.cumulative_share) for t in analyse_errors(labels, predicted, tags).by_tag]
    assert shares == [("blurry", 3 / 6), ("dark", 5 / 6), ("tilted", 1.0)]


def test_classes_and_slices_are_hot_at_one_and_a_half_times_the_overall_error_rate() -> None:
    # Overall 4 / 10 = 40 %: class 0 errs 3 / 4 = 75 % (x1.9, hot), class 1 1 / 6 (x0.4).
    labels = [0] * 4 + [1] * 6
    predicted = [1, 1, 1, 0] + [0] + [1] * 5
    rates = {r.label: (round(r.lift, 3), r.hot) for r in error_rate_by_class(labels, predicted)}
    assert rates == {0: (1.875, True), 1: (0.417, False)}
    analysis = analyse_errors(labels, predicted, {})
    assert error_rate_by_class_of(analysis) == error_rate_by_class(labels, predicted)
