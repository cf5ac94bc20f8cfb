"""Pure pieces of a training run: the split of a snapshot."""

from __future__ import annotations

from apps.training.runner import snapshot_partition

LABELS = ("ants", "bees")


def _rows(split_counts: dict[str, int]) -> list[dict]:
    rows, next_id = [], 1
    for label in LABELS:
        for split, count in split_counts.items():
            for _ in range(count):
                rows.append({"id": next_id, "label": label, "split": split})
                next_id += 1
    return rows


def test_train_val_test_roles():
    part = snapshot_partition(_rows({"train": 5, "val": 2, "test": 3}), LABELS)
    assert len(part.train) == 10 and len(part.val) == 4 and len(part.held_out) == 6
    assert part.evaluated_on == "test"
    assert {y for _, y in part.train} == {0, 1}


def test_held_out_is_val_without_test():
    part = snapshot_partition(_rows({"train": 5, "val": 2}), LABELS)
    assert part.evaluated_on == "val" and part.held_out == part.val


def test_without_val_a_stratified_fifth_of_train_is_held_out():
    part = snapshot_partition(_rows({"train": 10}), LABELS)
    assert part.evaluated_on == "val (held out from train)"
    assert len(part.val) == 4 and len(part.train) == 16
    assert sorted(y for _, y in part.val) == [0, 0, 1, 1]
    assert not {i for i, _ in part.val} & {i for i, _ in part.train}
    # Deterministic: the same snapshot always holds out the same images.
    assert snapshot_partition(_rows({"train": 10}), LABELS).val == part.val


def test_a_label_with_two_images_keeps_one_for_training():
    part = snapshot_partition(_rows({"train": 2}), LABELS)
    assert sorted(y for _, y in part.train) == [0, 1]
    assert sorted(y for _, y in part.val) == [0, 1]


def test_unsplit_images_count_as_train():
    part = snapshot_partition(_rows({"": 3, "val": 1}), LABELS)
    assert len(part.train) == 6 and part.counts["unsplit_as_train"] == 6


def test_quick_mode_trains_on_everything_outside_test():
    part = snapshot_partition(_rows({"train": 5, "val": 2, "test": 3}), LABELS, validation=False)
    assert len(part.train) == 14 and part.val == [] and len(part.held_out) == 6
    assert part.evaluated_on == "test" and part.counts["train"] == 14
    assert not {i for i, _ in part.train} & {i for i, _ in part.held_out}


def test_quick_mode_without_test_images_is_measured_by_cross_validation():
    part = snapshot_partition(_rows({"train": 5, "val": 2}), LABELS, validation=False)
    assert len(part.train) == 14 and part.held_out == []
    assert part.evaluated_on == "cross-validation"
