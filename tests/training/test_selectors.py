"""Reads for training: ownership (404 for others), lists, cached embeddings."""

from __future__ import annotations

import numpy as np
import pytest
from django.http import Http404

from apps.training.models import Embedding, TrainingJob
from apps.training.selectors import (
    embedding_ids,
    embedding_vectors,
    model_version_get_for_user,
    model_version_list,
    training_job_active,
    training_job_get_for_user,
    training_job_list,
)
from tests.factories import ImageFactory

pytestmark = pytest.mark.django_db


def test_a_job_is_visible_to_its_owner_only(project, user, other_user):
    job = TrainingJob.objects.create(project=project)
    assert training_job_get_for_user(user=user, job_id=job.pk) == job
    for who, job_id in ((other_user, job.pk), (user, job.pk + 1000), (user, "x")):
        with pytest.raises(Http404):
            training_job_get_for_user(user=who, job_id=job_id)


def test_a_model_version_is_visible_to_its_owner_only(model_version, user, other_user):
    assert model_version_get_for_user(user=user, version_id=model_version.pk) == model_version
    with pytest.raises(Http404):
        model_version_get_for_user(user=other_user, version_id=model_version.pk)


def test_lists_are_newest_first(project, model_version):
    first = TrainingJob.objects.create(project=project, status="failed")
    second = TrainingJob.objects.create(project=project, status="failed")
    ids = list(training_job_list(project=project).values_list("id", flat=True))
    assert ids[:2] == [second.pk, first.pk]
    assert list(model_version_list(project=project)) == [model_version]


def test_active_job(project):
    assert training_job_active(project=project) is None
    TrainingJob.objects.create(project=project, status="succeeded")
    running = TrainingJob.objects.create(project=project, status="running")
    assert training_job_active(project=project) == running


def test_embedding_vectors_round_trip(project):
    images = ImageFactory.create_batch(3, project=project)
    vector = np.arange(1280, dtype=np.float32)
    Embedding.objects.create(image=images[0], backbone="b", vector=vector.tobytes())
    Embedding.objects.create(image=images[1], backbone="other", vector=vector.tobytes())
    ids = [i.pk for i in images]
    found = embedding_vectors(image_ids=ids, backbone="b")
    assert set(found) == {images[0].pk}
    np.testing.assert_array_equal(found[images[0].pk], vector)
    assert embedding_ids(image_ids=ids, backbone="other") == {images[1].pk}
