"""Zip imports: the background job, its report, hostile archives, and crash safety."""

from __future__ import annotations

import io
import zipfile
from datetime import timedelta

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from apps.core.exceptions import ApplicationError
from apps.core.jobs import job_claim, job_finish, jobs_reap
from apps.datasets import zips
from apps.datasets.imports import ImportRun, import_job_run
from apps.datasets.ingest import IncomingFile
from apps.datasets.models import Image, ImportJob, RejectionCount
from apps.datasets.zips import _zip_member_place, zip_declared_member_count
from apps.labeling.models import LabelEvent
from tests.factories import ImageFactory, make_jpeg_bytes

pytestmark = pytest.mark.django_db

PER_FOLDER = 8


def _zip(entries: dict[str, bytes] | list[tuple[str, bytes]]) -> bytes:
    buffer = io.BytesIO()
    items = entries.items() if isinstance(entries, dict) else entries
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in items:
            archive.writestr(name, data)
    return buffer.getvalue()


def _dataset_zip(hymenoptera, extra: dict[str, bytes] | None = None) -> tuple[bytes, int]:
    """train/ and val/ folders of the shared data set (a few images per folder), with
    its quirks (a GIF, a .jpeg), plus ``extra`` entries."""
    entries: dict[str, bytes] = {}
    for split in ("train", "val"):
        for label in ("ants", "bees"):
            folder = hymenoptera / split / label
            for path in sorted(p for p in folder.iterdir() if p.suffix == ".jpg")[:PER_FOLDER]:
                entries[f"{split}/{label}/{path.name}"] = path.read_bytes()
    for quirk in ("imageNotFound.gif", "formica.jpeg"):
        entries[f"train/ants/{quirk}"] = (hymenoptera / "train/ants" / quirk).read_bytes()
    good = len(entries)
    entries.update(extra or {})
    return _zip(entries), good


def _post_zip(client, project, data: bytes, name: str = "photos.zip", **extra):
    upload = SimpleUploadedFile(name, data, content_type="application/zip")
    return client.post(
        f"/api/v1/projects/{project.id}/imports/", {"file": upload, **extra}, format="multipart"
    )


def test_zip_import_of_the_data_set_with_every_bad_member(
    auth_client, project, hymenoptera, django_capture_on_commit_callbacks, user
):
    truncated = make_jpeg_bytes(300, 200)
    existing = ImageFactory(project=project)
    extra = {
        "__MACOSX/train/ants/._x.jpg": b"\x00\x05\x16\x07",
        "train/ants/.DS_Store": b"\x00\x00\x00\x01Bud1",
        "../escape.jpg": make_jpeg_bytes(),
        "/etc/absolute.jpg": make_jpeg_bytes(),
        "train/../../up.jpg": make_jpeg_bytes(),
        "train/bees/inner.zip": _zip({"x.jpg": make_jpeg_bytes()}),
        "train/bees/sneaky.jpg": _zip({"y.jpg": make_jpeg_bytes()}),
        "train/bees/drawing.jpg": b'<svg xmlns="http://www.w3.org/2000/svg"></svg>',
        "train/bees/page.jpg": b"<html><body>hello</body></html>",
        "train/bees/cut.jpg": truncated[: len(truncated) // 2],
        "train/bees/empty.jpg": b"",
        "train/bees/readme.txt": b"these are bees",
        "val/bees/again.jpg": existing.original.read(),
    }
    data, good = _dataset_zip(hymenoptera, extra)
    with django_capture_on_commit_callbacks(execute=True):
        answer = _post_zip(auth_client, project, data)
    assert answer.status_code == 202, answer.content
    assert answer.data["status"] == "queued" and answer.data["id"]

    job = auth_client.get(f"/api/v1/imports/{answer.data['id']}/").data
    assert job["status"] == "succeeded", job["error"]
    assert job["processed"] == job["total"] == good + len(extra)
    assert job["progress"] == 1.0
    report = job["report"]
    assert len(report["created"]) == good
    rejected = {r["filename"]: r["error"] for r in report["rejected"]}
    assert set(rejected) == {
        "../escape.jpg",
        "/etc/absolute.jpg",
        "train/../../up.jpg",
        "train/bees/inner.zip",
        "train/bees/sneaky.jpg",
        "train/bees/drawing.jpg",
        "train/bees/page.jpg",
        "train/bees/cut.jpg",
        "train/bees/empty.jpg",
        "train/bees/readme.txt",
    }
    assert "outside the archive" in rejected["../escape.jpg"]
    assert "Archives inside the zip" in rejected["train/bees/inner.zip"]
    assert "Archives inside the zip" in rejected["train/bees/sneaky.jpg"]
    assert "SVG" in rejected["train/bees/drawing.jpg"]
    assert {s["filename"] for s in report["skipped"]} == {
        "__MACOSX/train/ants/._x.jpg",
        "train/ants/.DS_Store",
    }
    assert report["duplicates"] == [{"filename": "val/bees/again.jpg", "existing_id": existing.id}]

    # Folders name the labels; the train/val level sets a locked split.
    images = Image.objects.filter(project=project, source=Image.Source.ZIP)
    assert images.count() == good
    assert images.filter(label__name="ants", split="train").count() == PER_FOLDER + 2
    assert images.filter(label__name="bees", split="val").count() == PER_FOLDER
    assert all(i.split_locked and i.uploaded_by == user for i in images)
    assert images.filter(format="GIF").count() == 1
    assert LabelEvent.objects.filter(source="import").count() == good
    counter = RejectionCount.objects.get(project=project)
    assert (counter.duplicates, counter.rejected) == (1, 10)
    # Nothing was written outside the media folder, and the archive itself is gone.
    assert not default_storage.exists("escape.jpg")
    assert ImportJob.objects.get(id=job["id"]).upload.name == ""

    listing = auth_client.get(f"/api/v1/projects/{project.id}/imports/").data
    assert listing["count"] == 1
    assert listing["results"][0]["counts"] == {
        "created": good,
        "duplicates": 1,
        "rejected": 10,
        "skipped": 2,
    }


def test_zip_without_split_folders_gets_automatic_splits(
    auth_client, project, django_capture_on_commit_callbacks
):
    entries = {f"photos/wasps/{i}.jpg": make_jpeg_bytes() for i in range(10)}
    entries["loose.jpg"] = make_jpeg_bytes()
    with django_capture_on_commit_callbacks(execute=True):
        answer = _post_zip(auth_client, project, _zip(entries))
    job = ImportJob.objects.get(id=answer.data["id"])
    assert job.status == "succeeded"
    wasps = Image.objects.filter(project=project, label__name="wasps")
    assert sorted(wasps.values_list("split", flat=True)) == ["test"] + ["train"] * 8 + ["val"]
    assert not wasps.filter(split_locked=True).exists()
    loose = Image.objects.get(original_filename="loose.jpg")
    assert loose.label is None and loose.split == ""


def test_not_a_zip_is_refused_up_front(auth_client, project):
    answer = _post_zip(auth_client, project, b"this is not a zip at all", name="photos.zip")
    assert answer.status_code == 400
    assert answer.data["error"]["code"] == "not_a_zip"
    assert not ImportJob.objects.exists()


def test_too_many_members_is_refused_up_front(auth_client, project, settings):
    settings.MAX_ZIP_MEMBERS = 5
    data = _zip({f"ants/{i}.jpg": b"x" for i in range(6)})
    answer = _post_zip(auth_client, project, data)
    assert answer.status_code == 400
    assert answer.data["error"]["code"] == "zip_too_many_members"
    assert "5" in answer.data["error"]["message"]


def test_too_many_uncompressed_bytes_is_refused_up_front(auth_client, project, settings):
    settings.MAX_ZIP_UNCOMPRESSED_BYTES = 100_000
    data = _zip({"ants/zeros.jpg": b"\x00" * 200_000})  # compresses to almost nothing
    assert len(data) < 10_000
    answer = _post_zip(auth_client, project, data)
    assert answer.status_code == 400
    assert answer.data["error"]["code"] == "zip_too_large"


def test_the_worker_counts_the_bytes_it_actually_reads(
    auth_client, project, settings, django_capture_on_commit_callbacks
):
    first, second, third = make_jpeg_bytes(), make_jpeg_bytes(), make_jpeg_bytes()
    data = _zip([("ants/1.jpg", first), ("ants/2.jpg", second), ("ants/3.jpg", third)])
    answer = _post_zip(auth_client, project, data)  # passes the directory check
    # The worker's own budget is smaller: it stops once it has read more than that.
    settings.MAX_ZIP_UNCOMPRESSED_BYTES = len(first) + len(second) // 2
    with django_capture_on_commit_callbacks(execute=True):
        import_job_run(job_id=answer.data["id"])
    job = ImportJob.objects.get(id=answer.data["id"])
    assert job.status == "failed"
    assert "more data than allowed" in job.error
    assert Image.objects.filter(project=project).count() == 1  # the first image is kept
    assert job.processed == 1


def test_a_member_whose_header_lies_about_its_size_is_rejected(
    auth_client, project, django_capture_on_commit_callbacks
):
    payload = make_jpeg_bytes(200, 200)
    data = bytearray(_zip([("ants/liar.jpg", payload), ("ants/ok.jpg", make_jpeg_bytes())]))
    # Shrink the declared size in the central directory: zipfile then stops reading there,
    # and the checksum no longer matches.
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as archive:
        info = archive.getinfo("ants/liar.jpg")
    end = data.rfind(b"PK\x05\x06")
    directory = int.from_bytes(data[end + 16 : end + 20], "little")  # first entry: liar.jpg
    assert data[directory : directory + 4] == b"PK\x01\x02"
    data[directory + 24 : directory + 28] = (info.file_size // 2).to_bytes(4, "little")
    with django_capture_on_commit_callbacks(execute=True):
        answer = _post_zip(auth_client, project, bytes(data))
    job = ImportJob.objects.get(id=answer.data["id"])
    assert job.status == "succeeded"
    assert [r["filename"] for r in job.report["rejected"]] == ["ants/liar.jpg"]
    assert [c["filename"] for c in job.report["created"]] == ["ants/ok.jpg"]


def test_a_redelivered_task_is_a_no_op(auth_client, project, django_capture_on_commit_callbacks):
    data = _zip({f"ants/{i}.jpg": make_jpeg_bytes() for i in range(3)})
    with django_capture_on_commit_callbacks(execute=True):
        answer = _post_zip(auth_client, project, data)
    job = ImportJob.objects.get(id=answer.data["id"])
    assert job.status == "succeeded" and job.attempts == 1
    assert import_job_run(job_id=job.id) is None  # finished: nothing happens
    job.refresh_from_db()
    assert job.attempts == 1

    ImportJob.objects.filter(id=job.id).update(status="running")
    assert import_job_run(job_id=job.id) is None  # running elsewhere: nothing happens
    assert Image.objects.filter(project=project).count() == 3


def test_rerunning_after_a_crash_stores_nothing_twice(
    auth_client, project, django_capture_on_commit_callbacks
):
    data = _zip({f"bees/{i}.jpg": make_jpeg_bytes() for i in range(6)})
    answer = _post_zip(auth_client, project, data)
    job_id = answer.data["id"]
    with django_capture_on_commit_callbacks(execute=True):
        import_job_run(job_id=job_id)
    assert Image.objects.filter(project=project).count() == 6

    # The worker died after storing the images but before its progress was saved: the
    # job runs again from the start and finds every file already stored.
    # (The archive is deleted on success; put it back as if the job had not finished.)
    ImportJob.objects.filter(id=job_id).update(status="queued", processed=0, report={})
    job = ImportJob.objects.get(id=job_id)
    job.upload = default_storage.save(f"projects/{project.id}/imports/again.zip", io.BytesIO(data))
    job.save(update_fields=["upload"])
    with django_capture_on_commit_callbacks(execute=True):
        job = import_job_run(job_id=job_id)
    assert job.status == "succeeded" and job.attempts == 2
    assert Image.objects.filter(project=project).count() == 6
    assert len(job.report["duplicates"]) == 6 and job.report["created"] == []


def test_a_retried_job_goes_on_where_it_stopped(
    auth_client, project, django_capture_on_commit_callbacks
):
    data = _zip({f"bees/{i}.jpg": make_jpeg_bytes() for i in range(6)})
    answer = _post_zip(auth_client, project, data)
    job_id = answer.data["id"]
    # Pretend an earlier attempt committed the first 4 members and then died.
    with django_capture_on_commit_callbacks(execute=True):
        import_job_run(job_id=job_id)
    created = ImportJob.objects.get(id=job_id).report["created"]
    Image.objects.filter(id__in=[c["id"] for c in created[4:]]).delete()
    job = ImportJob.objects.get(id=job_id)
    job.upload = default_storage.save(f"projects/{project.id}/imports/again.zip", io.BytesIO(data))
    job.status, job.processed, job.error = "failed", 4, "worker died"
    job.report = {**job.report, "created": created[:4]}
    job.save()

    with django_capture_on_commit_callbacks(execute=True):
        answer = auth_client.post(f"/api/v1/imports/{job_id}/retry/")
    assert answer.status_code == 202
    job = ImportJob.objects.get(id=job_id)
    assert job.status == "succeeded", job.error
    assert job.processed == 6 and job.attempts == 2
    assert len(job.report["created"]) == 6 and job.report["duplicates"] == []
    assert Image.objects.filter(project=project).count() == 6


def test_only_failed_jobs_can_be_retried(auth_client, project, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        answer = _post_zip(auth_client, project, _zip({"ants/a.jpg": make_jpeg_bytes()}))
    answer = auth_client.post(f"/api/v1/imports/{answer.data['id']}/retry/")
    assert answer.status_code == 409


def test_reaper_requeues_imports_without_heartbeat_then_fails_them(
    project, django_capture_on_commit_callbacks, monkeypatch
):
    sent = []
    monkeypatch.setattr(
        "apps.datasets.tasks.run_import.apply_async",
        lambda args, **kwargs: sent.append(args[0]),
    )
    now = timezone.now()
    first = ImportJob.objects.create(
        project=project,
        kind="zip",
        status="running",
        attempts=1,
        heartbeat_at=now - timedelta(minutes=10),
    )
    last = ImportJob.objects.create(
        project=project,
        kind="zip",
        status="running",
        attempts=2,
        started_at=now - timedelta(minutes=10),
    )
    alive = ImportJob.objects.create(
        project=project, kind="zip", status="running", attempts=1, heartbeat_at=now
    )
    queued = ImportJob.objects.create(project=project, kind="zip", status="queued")
    with django_capture_on_commit_callbacks(execute=True):
        assert jobs_reap(stale_after=120) == 2
    for job in (first, last, alive, queued):
        job.refresh_from_db()
    # The first attempt died: the import goes on by itself (from its last batch).
    assert first.status == "queued" and first.worker == "" and sent == [first.id]
    # The last allowed attempt died: failed, in words the user can act on.
    assert last.status == "failed" and "retry" in last.error and last.finished_at
    assert alive.status == "running" and queued.status == "queued"


def test_a_stale_attempt_cannot_write_progress(project, django_capture_on_commit_callbacks):
    job = ImportJob.objects.create(
        project=project, kind="urls", urls=[{"url": "x"}] * 2, total=2, report={}
    )
    stale = job_claim(ImportJob, job.id, related=("project", "created_by"))
    run = ImportRun(stale)
    # The reaper gave the job to a second attempt meanwhile.
    ImportJob.objects.filter(id=job.id).update(status="queued")
    current = job_claim(ImportJob, job.id)
    assert (stale.attempts, current.attempts) == (1, 2)

    run.ingestor.add(IncomingFile(filename="late.jpg", data=make_jpeg_bytes()))
    run.done = 1
    with pytest.raises(ApplicationError) as caught:
        run.flush()
    assert caught.value.code == "import_stopped"
    assert not job_finish(stale, status="succeeded")
    job.refresh_from_db()
    assert (job.status, job.attempts, job.processed) == ("running", 2, 0)
    assert not Image.objects.exists()  # the stale batch was rolled back


def test_a_crafted_zip_is_refused_from_its_end_record(auth_client, project, monkeypatch):
    """The entry count is read from the end record first: a zip that declares more members
    than allowed is refused before its central directory is parsed at all."""
    data = bytearray(_zip({f"ants/{i}.jpg": make_jpeg_bytes() for i in range(3)}))
    end = data.rfind(b"PK\x05\x06")
    data[end + 8 : end + 12] = (60_000).to_bytes(2, "little") * 2  # entries: disk, total
    assert zip_declared_member_count(io.BytesIO(bytes(data))) == 60_000

    def never(*args, **kwargs):
        raise AssertionError("the central directory must not be parsed")

    monkeypatch.setattr(zips.zipfile, "ZipFile", never)
    answer = _post_zip(auth_client, project, bytes(data))
    assert answer.status_code == 400
    assert answer.data["error"]["code"] == "zip_too_many_members"
    assert "60000" in answer.data["error"]["message"]
    assert not ImportJob.objects.exists()


def test_zip64_end_records_are_read():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", allowZip64=True) as archive:
        for i in range(3):
            archive.writestr(f"a/{i}.jpg", b"x")
    data = bytearray(buffer.getvalue())
    end = data.rfind(b"PK\x05\x06")
    # Rewrite as zip64: counts 0xFFFF in the classic record, the real count in a zip64 one.
    zip64 = (
        b"PK\x06\x06"
        + (44).to_bytes(8, "little")
        + (45).to_bytes(2, "little") * 2
        + (0).to_bytes(4, "little") * 2
        + (70_000).to_bytes(8, "little") * 2
        + data[end + 12 : end + 16]
        + b"\x00\x00\x00\x00"
        + data[end + 16 : end + 20]
        + b"\x00\x00\x00\x00"
    )
    locator = (
        b"PK\x06\x07"
        + (0).to_bytes(4, "little")
        + end.to_bytes(8, "little")
        + (1).to_bytes(4, "little")
    )
    classic = bytes(data[end : end + 8]) + b"\xff\xff\xff\xff" + bytes(data[end + 12 : end + 22])
    crafted = bytes(data[:end]) + zip64 + locator + classic
    assert zip_declared_member_count(io.BytesIO(crafted)) == 70_000


@pytest.mark.parametrize(
    ("name", "verdict", "label", "split"),
    [
        ("train/ants/a.jpg", "ok", "ants", "train"),
        ("ants/a.jpg", "ok", "ants", ""),
        ("data/Validation/bees/a.jpg", "ok", "bees", "val"),
        ("TEST/a.jpg", "ok", None, "test"),
        ("wrapper/wasps/a.jpg", "ok", "wasps", ""),
        ("a.jpg", "ok", None, ""),
        ("..\\..\\windows.jpg", "reject", None, ""),
        ("C:/x.jpg", "reject", None, ""),
        ("__MACOSX/ants/._a.jpg", "skip", None, ""),
        ("ants/.hidden.jpg", "skip", None, ""),
        ("ants/Thumbs.db", "skip", None, ""),
        ("ants/more.tar.gz", "reject", None, ""),
    ],
)
def test_zip_member_paths(name, verdict, label, split):
    got_verdict, detail, got_split = _zip_member_place(name)
    assert got_verdict == verdict
    if verdict == "ok":
        assert (detail, got_split) == (label, split)


def test_other_users_cannot_see_or_touch_imports(
    auth_client, other_client, project, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        answer = _post_zip(auth_client, project, _zip({"ants/a.jpg": make_jpeg_bytes()}))
    job_id = answer.data["id"]
    assert other_client.get(f"/api/v1/imports/{job_id}/").status_code == 404
    assert other_client.post(f"/api/v1/imports/{job_id}/retry/").status_code == 404
    assert other_client.get(f"/api/v1/projects/{project.id}/imports/").status_code == 404
    upload = SimpleUploadedFile("x.zip", _zip({"a/b.jpg": make_jpeg_bytes()}))
    answer = other_client.post(
        f"/api/v1/projects/{project.id}/imports/", {"file": upload}, format="multipart"
    )
    assert answer.status_code == 404
    assert ImportJob.objects.count() == 1


def test_an_archive_over_the_size_limit_is_refused(auth_client, project, settings):
    data = _zip({f"ants/{i}.jpg": make_jpeg_bytes() for i in range(3)})
    settings.MAX_ZIP_BYTES = len(data) - 1
    answer = _post_zip(auth_client, project, data)
    assert answer.status_code == 400
    assert answer.data["error"]["code"] == "zip_too_large"
    assert not ImportJob.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_job_queue_that_does_not_answer_is_a_503_and_the_next_click_works(
    auth_client, project, monkeypatch
):
    from kombu.exceptions import OperationalError

    from apps.datasets.tasks import run_import

    real_send = run_import.apply_async

    def down(*args, **kwargs):
        raise OperationalError("Timeout connecting to the broker")

    data = _zip({"ants/a.jpg": make_jpeg_bytes()})
    monkeypatch.setattr(run_import, "apply_async", down)
    answer = _post_zip(auth_client, project, data)
    assert answer.status_code == 503
    assert answer.json()["error"] == {
        "code": "broker_unavailable",
        "message": "The job queue is not answering right now. Try again in a minute.",
    }
    failed = ImportJob.objects.get()
    assert failed.status == "failed" and "not answering" in failed.error
    assert failed.upload  # kept, so that the failed import can be retried

    monkeypatch.setattr(run_import, "apply_async", real_send)
    again = _post_zip(auth_client, project, data)
    assert again.status_code == 202
    assert ImportJob.objects.get(id=again.data["id"]).status == "succeeded"
    retried = auth_client.post(f"/api/v1/imports/{failed.id}/retry/")
    assert retried.status_code == 202
    failed.refresh_from_db()
    assert failed.status == "succeeded" and failed.attempts == 1
