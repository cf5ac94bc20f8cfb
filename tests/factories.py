"""factory_boy factories shared by the whole suite.

``ImageFactory`` stores a real (small, random, so never a duplicate) JPEG through the
ingestion service, so an image made here has its original, normalised and thumbnail files
in storage, a real sha256, a LabelEvent when labeled, and a train/val/test split::

    project = ProjectFactory(owner=user, labels=["ants", "bees"])
    image = ImageFactory(project=project, label="ants")        # or label=<Label>
    images = ImageFactory.create_batch(10, project=project, label="bees")
    image = ImageFactory(project=project, data=make_png_bytes())  # your own bytes
"""

from __future__ import annotations

import io
import os

import factory
from django.contrib.auth import get_user_model
from PIL import Image as PILImage

from apps.datasets.models import Image
from apps.projects.models import Label, Project


def make_jpeg_bytes(width: int = 64, height: int = 48, *, quality: int = 85, seed=None) -> bytes:
    """A small JPEG of random pixels: every call gives a different file (sha256)."""
    pixels = (
        os.urandom(width * height * 3)
        if seed is None
        else bytes((seed * 7919 + i * 31) % 251 for i in range(width * height * 3))
    )
    image = PILImage.frombytes("RGB", (width, height), pixels)
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def make_png_bytes(width: int = 32, height: int = 32, *, mode: str = "RGBA") -> bytes:
    channels = len(mode)
    image = PILImage.frombytes(mode, (width, height), os.urandom(width * height * channels))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda o: f"{o.username}@example.com")
    password = factory.django.Password("s3cret-pass-1")


class ProjectFactory(factory.django.DjangoModelFactory):
    """``labels=["ants", "bees"]`` creates those labels with the project."""

    class Meta:
        model = Project
        skip_postgeneration_save = True

    owner = factory.SubFactory(UserFactory)
    name = factory.Sequence(lambda n: f"Project {n}")
    description = "Ants or bees?"
    predicts = "Is it an ant or a bee?"
    task_type = Project.TaskType.SINGLE_LABEL
    target_metric = Project.TargetMetric.ACCURACY
    target_value = 0.9

    @factory.post_generation
    def labels(obj, create, extracted, **kwargs):  # noqa: N805
        if create and extracted:
            for name in extracted:
                LabelFactory(project=obj, name=name)


class LabelFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Label
        django_get_or_create = ("project", "name")

    project = factory.SubFactory(ProjectFactory)
    name = factory.Sequence(lambda n: f"label{n}")


class ImageFactory(factory.django.DjangoModelFactory):
    """An image stored through ``apps.datasets.ingest.image_ingest``.

    Arguments: ``project``, ``label`` (a Label, a name, or None), ``split`` (locked when
    given), ``data`` (the file's bytes; a fresh random JPEG by default), ``filename``,
    ``uploaded_by``, ``source``."""

    class Meta:
        model = Image

    project = factory.SubFactory(ProjectFactory)
    label = None
    split = None
    filename = factory.Sequence(lambda n: f"image{n}.jpg")
    data = factory.LazyFunction(make_jpeg_bytes)
    uploaded_by = None
    source = Image.Source.UPLOAD

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        from apps.datasets.ingest import image_ingest

        label = kwargs.pop("label", None)
        if isinstance(label, Label):
            label = label.name
        return image_ingest(
            project=kwargs.pop("project"),
            data=kwargs.pop("data"),
            filename=kwargs.pop("filename"),
            label=label,
            split=kwargs.pop("split", None),
            uploaded_by=kwargs.pop("uploaded_by", None),
            source=kwargs.pop("source", Image.Source.UPLOAD),
        )

    @classmethod
    def _build(cls, model_class, *args, **kwargs):
        raise NotImplementedError("ImageFactory only creates (it stores real files).")
