"""Comparing two versions without Django: hashes, diffs, McNemar and the paired interval."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import binomtest

from apps import ml

ROWS = [
    {"id": 1, "label": "ants", "split": "train"},
    {"id": 2, "label": "bees", "split": "test"},
    {"id": 3, "label": "ants", "split": "val"},
]


def test_snapshot_hash_depends_on_content_not_order():
    assert ml.snapshot_hash(ROWS) == ml.snapshot_hash(list(reversed(ROWS)))
    relabelled = [dict(ROWS[0], label="bees"), *ROWS[1:]]
    moved = [dict(ROWS[0], split="test"), *ROWS[1:]]
    hashes = {ml.snapshot_hash(r) for r in (ROWS, relabelled, moved, ROWS[:2])}
    assert len(hashes) == 4 and all(len(h) == 64 for h in hashes)


def test_training_hash_changes_with_any_parameter():
    data = ml.snapshot_hash(ROWS)
    base = {"mode": "quick", "quick.l2": 0.03}
    assert ml.training_hash(data, base) == ml.training_hash(data, dict(reversed(base.items())))
    assert ml.training_hash(data, base) != ml.training_hash(data, {**base, "quick.l2": 0.01})
    assert ml.training_hash(data, base) != ml.training_hash(ml.snapshot_hash(ROWS[:2]), base)


def test_training_parameters_list_every_spec_field():
    quick = ml.training_parameters(mode="quick", backbone="efficientnet_lite0", labels=["a", "b"])
    assert quick["mode"] == "quick" and quick["backbone"] == "efficientnet_lite0"
    assert quick["quick.l2"] == ml.QuickSpec("x", ("a",)).l2 and "quick.seed" in quick
    assert not any(name.startswith("finetune.") for name in quick)
    chosen = ml.training_parameters(mode="quick", backbone="b", labels=["a"], quick={"l2": 0.1})
    assert chosen["quick.l2"] == 0.1
    tuned = ml.training_parameters(mode="finetune", backbone="efficientnet_lite0", labels=["a"])
    assert tuned["finetune.epochs"] == ml.FinetuneSpec("x", ("a",)).epochs
    assert {"finetune.lr", "finetune.weight_decay", "finetune.seed"} <= set(tuned)
    assert "finetune.device" not in tuned and "finetune.labels" not in tuned


def test_snapshot_diff_names_each_kind_of_change():
    after = [
        {"id": 1, "label": "bees", "split": "train"},  # relabelled
        {"id": 2, "label": "bees", "split": "train"},  # moved test -> train
        {"id": 4, "label": "ants", "split": "test"},  # added; 3 removed
    ]
    diff = ml.snapshot_diff(ROWS, after)
    assert diff == {
        "added": [4],
        "removed": [3],
        "relabelled": [{"image": 1, "from": "ants", "to": "bees"}],
        "moved": [{"image": 2, "from": "test", "to": "train"}],
    }
    assert ml.snapshot_diff(ROWS, ROWS) == {
        "added": [],
        "removed": [],
        "relabelled": [],
        "moved": [],
    }


def test_parameters_diff_lists_only_changes():
    changes = ml.parameters_diff({"a": 1, "b": 2, "c": 3}, {"a": 1, "b": 5, "d": 4})
    assert changes == [
        {"name": "b", "a": 2, "b": 5},
        {"name": "c", "a": 3, "b": None},
        {"name": "d", "a": None, "b": 4},
    ]


def test_mcnemar_exact_is_the_binomial_test_on_discordant_pairs():
    assert ml.mcnemar_exact(0, 0) == 1.0
    assert ml.mcnemar_exact(3, 9) == pytest.approx(binomtest(9, 12, 0.5).pvalue)
    # 0 against 10: (1/2)^10 twice.
    assert ml.mcnemar_exact(0, 10) == pytest.approx(2 * 0.5**10)
    assert ml.mcnemar_exact(5, 5) == 1.0


def test_paired_interval_contains_the_estimate_and_is_antisymmetric():
    interval = ml.paired_difference_interval(12, 2, 9, 4)
    assert interval.delta == pytest.approx(7 / 27)
    assert -1 <= interval.low < interval.delta < interval.high <= 1
    swapped = ml.paired_difference_interval(12, 9, 2, 4)
    assert swapped.low == pytest.approx(-interval.high)
    assert swapped.high == pytest.approx(-interval.low)
    assert interval.low > 0  # 9 against 2 discordant pairs: b is better
    same = ml.paired_difference_interval(20, 0, 0, 0)
    assert same.delta == 0 and same.low < 0 < same.high  # even 20/20 each is not certainty
    assert ml.paired_difference_interval(0, 0, 0, 0).pairs == 0


def test_paired_interval_keeps_its_coverage():
    """Simulated: paired recalls 0.8 and 0.9 with correlated errors on 40 images; the 95 %
    interval must cover the true difference (0.1) in about 95 % of 2000 draws."""
    rng = np.random.default_rng(7)
    # Cell probabilities: both right, only a, only b, neither.
    cells = np.array([0.75, 0.05, 0.15, 0.05])
    truth = (cells[0] + cells[2]) - (cells[0] + cells[1])
    covered = 0
    draws = 2000
    for counts in rng.multinomial(40, cells, size=draws):
        interval = ml.paired_difference_interval(*map(int, counts))
        covered += interval.low <= truth <= interval.high
    assert 0.93 <= covered / draws <= 0.985


def test_compare_predictions():
    images = [10, 11, 12, 13, 14, 15]
    truth = ["ants", "ants", "ants", "bees", "bees", "bees"]
    a = ["ants", "bees", "bees", "bees", "bees", "ants"]  # wrong on 11, 12, 15
    b = ["ants", "ants", "bees", "bees", "ants", "bees"]  # wrong on 12, 14
    result = ml.compare_predictions(images, truth, a, b)
    assert result["images"] == 6 and result["labels"] == ["ants", "bees"]
    assert result["fixed"] == [11, 15] and result["broken"] == [14]
    assert result["a"]["accuracy"] == pytest.approx(0.5)
    assert result["b"]["accuracy"] == pytest.approx(4 / 6, abs=1e-5)
    assert result["a"]["confusion_matrix"] == [[1, 2], [1, 2]]
    assert result["b"]["confusion_matrix"] == [[2, 1], [1, 2]]
    ants, bees = result["per_label"]
    assert ants["label"] == "ants" and ants["a_recall"] == pytest.approx(1 / 3, abs=1e-5)
    assert ants["b_recall"] == pytest.approx(2 / 3, abs=1e-5)
    assert ants["delta"] == pytest.approx(1 / 3, abs=1e-5) and ants["low"] < 0 < ants["high"]
    assert bees["delta"] == 0
    assert result["mcnemar_p"] == pytest.approx(binomtest(2, 3, 0.5).pvalue, abs=1e-6)
    assert 0 < result["a"]["accuracy_low"] < 0.5 < result["a"]["accuracy_high"] < 1
    with pytest.raises(ValueError):
        ml.compare_predictions([1], ["a"], ["a", "b"], ["a"])
