"""Train/val/test splits: stratified per label, stable as images come and go."""

from __future__ import annotations

from collections import Counter

import pytest

from apps.datasets.models import Image
from apps.datasets.splits import _split_pick, images_assign_splits
from apps.labeling.services import image_update, images_bulk_label
from tests.factories import ImageFactory

pytestmark = pytest.mark.django_db


def _splits(project, label: str) -> Counter:
    return Counter(
        Image.objects.filter(project=project, label__name=label).values_list("split", flat=True)
    )


def test_splits_are_stratified_per_label(project):
    ImageFactory.create_batch(40, project=project, label="ants")
    ImageFactory.create_batch(20, project=project, label="bees")
    assert _splits(project, "ants") == {"train": 32, "val": 4, "test": 4}
    assert _splits(project, "bees") == {"train": 16, "val": 2, "test": 2}


def test_existing_assignments_never_move(project):
    first = ImageFactory.create_batch(10, project=project, label="ants")
    before = dict(Image.objects.filter(id__in=[i.id for i in first]).values_list("id", "split"))
    ImageFactory.create_batch(25, project=project, label="ants")
    after = dict(Image.objects.filter(id__in=before).values_list("id", "split"))
    assert after == before
    counts = _splits(project, "ants")
    assert counts["train"] == 28 and {counts["val"], counts["test"]} == {3, 4}


def test_unlabeled_images_wait_for_a_label(project, user):
    images = ImageFactory.create_batch(10, project=project)
    assert set(Image.objects.values_list("split", flat=True)) == {""}
    images_bulk_label(
        project=project,
        images=Image.objects.filter(id__in=[i.id for i in images]),
        label="bees",
        actor=user,
    )
    assert _splits(project, "bees") == {"train": 8, "val": 1, "test": 1}


def test_relabel_keeps_the_split_and_a_user_split_is_locked(project, user):
    image = ImageFactory(project=project, label="ants")
    split = image.split
    image_update(image=image, label="bees", actor=user)
    image.refresh_from_db()
    assert image.label.name == "bees" and image.split == split
    image_update(image=image, label=None, actor=user)
    image.refresh_from_db()
    assert image.label is None and image.split == split

    image_update(image=image, split="test", actor=user)
    image.refresh_from_db()
    assert image.split == "test" and image.split_locked


def test_assignment_is_deterministic():
    counts = {"train": 8, "val": 1, "test": 1}
    # 11 images: train wants 8.8 (has 8), val and test 1.1 (have 1): train is furthest.
    assert _split_pick(counts, "00") == "train"
    # A tie between val and test is broken by the hash, the same way every time.
    tie = {"train": 8, "val": 0, "test": 0}
    picks = {_split_pick(tie, sha) for sha in ("00000000", "00000001")}
    assert picks == {"val", "test"}
    assert _split_pick(tie, "00000001") == _split_pick(dict(tie), "00000001")


def test_assign_splits_is_a_no_op_when_all_have_one(project, django_assert_max_num_queries):
    ImageFactory.create_batch(3, project=project, label="ants")
    with django_assert_max_num_queries(3):  # savepoint, select, release
        assert images_assign_splits(project_id=project.id) == 0
