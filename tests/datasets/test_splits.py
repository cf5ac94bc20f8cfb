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


# --- Issue 16: a stable test split, so two versions are compared on the same images --------


def _split_of(ids) -> dict[int, str]:
    return dict(Image.objects.filter(id__in=list(ids)).values_list("id", "split"))


def test_a_split_survives_everything_but_a_user_move(project, user):
    """Uploads, relabels, unlabels, bulk labels, a deleted label and a training snapshot
    never move an assigned image; only the user's move does."""
    from apps.projects.models import Label
    from apps.projects.services import label_delete
    from apps.training.models import TrainingJob
    from apps.training.services import training_job_create

    first = ImageFactory.create_batch(20, project=project, label="ants")
    first += ImageFactory.create_batch(20, project=project, label="bees")
    assigned = _split_of(i.id for i in first)
    assert "" not in assigned.values()

    ImageFactory.create_batch(15, project=project, label="ants")
    image_update(image=first[0], label="bees", actor=user)
    image_update(image=first[1], label=None, actor=user)
    images_bulk_label(
        project=project,
        images=Image.objects.filter(id__in=[i.id for i in first[20:30]]),
        label="wasps",
        actor=user,
    )
    label_delete(label=Label.objects.get(project=project, name="wasps"), actor=user)
    images_bulk_label(
        project=project,
        images=Image.objects.filter(id__in=[i.id for i in first[20:30]]),
        label="ants",
        actor=user,
    )
    job = training_job_create(project=project)
    assert _split_of(assigned) == assigned
    assert {row["id"]: row["split"] for row in job.snapshot if row["id"] in assigned} == {
        i: s
        for i, s in assigned.items()
        if i != first[1].id  # unlabelled: not trained on
    }

    TrainingJob.objects.filter(pk=job.pk).update(status=TrainingJob.Status.SUCCEEDED)
    moved = next(i for i in first if assigned[i.id] != "test")
    image_update(image=moved, split="test", actor=user)
    assert _split_of([moved.id]) == {moved.id: "test"}
    assert _split_of(assigned) == {**assigned, moved.id: "test"}


def test_new_images_join_by_the_split_rule(project):
    """Each new labelled image goes where ``_split_pick`` puts it given the images already
    split (per label), whatever was uploaded before."""
    ImageFactory.create_batch(7, project=project, label="ants", split="test")  # a user's choice
    counts = Counter(_splits(project, "ants"))
    for _ in range(12):
        image = ImageFactory(project=project, label="ants")
        current = {name: counts[name] for name in ("train", "val", "test")}
        expected = _split_pick(current, image.sha256)
        assert _split_of([image.id])[image.id] == expected
        counts[expected] += 1
    # The 7 test images already over-fill test: the newcomers go to train and val.
    assert _splits(project, "ants")["test"] == 7


def test_two_training_snapshots_share_their_test_images(project, user):
    """The test images of an earlier version's snapshot are test images of every later one
    (unless the user moved or deleted them): two versions are compared on the same images."""
    from apps.training.models import TrainingJob
    from apps.training.services import training_job_create

    ImageFactory.create_batch(20, project=project, label="ants")
    ImageFactory.create_batch(20, project=project, label="bees")
    before = training_job_create(project=project)
    TrainingJob.objects.filter(pk=before.pk).update(status=TrainingJob.Status.SUCCEEDED)
    ImageFactory.create_batch(30, project=project, label="bees")
    relabelled = next(row["id"] for row in before.snapshot if row["split"] == "test")
    image_update(image=Image.objects.get(pk=relabelled), label="ants", actor=user)
    after = training_job_create(project=project)

    test_before = {row["id"] for row in before.snapshot if row["split"] == "test"}
    test_after = {row["id"] for row in after.snapshot if row["split"] == "test"}
    assert len(test_before) == 4 and test_before < test_after
    assert len(test_after - test_before) == 3  # 10 % of the 30 new bees
