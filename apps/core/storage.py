"""The media storage: where each project's files live, and deleting files in bulk.

Every stored file of a project is under ``project_storage_prefix(project_id)``
(``projects/<id>/``): images, import uploads, model files. Deleting a project deletes that
folder; serving a media file checks its owner from the same prefix.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterable

from django.core.files.storage import default_storage
from django.db import transaction

logger = logging.getLogger(__name__)

PROJECTS_FOLDER = "projects"
# More names than this are deleted by a worker instead of the request that deleted them.
INLINE_DELETE_MAX = 300
DELETE_TASK_CHUNK = 1000


def project_storage_prefix(project_id: int) -> str:
    """The folder (ending in "/") that holds every stored file of the project."""
    return f"{PROJECTS_FOLDER}/{int(project_id)}/"


def project_id_from_storage_name(name: str) -> int | None:
    """The project a stored file belongs to (``projects/<id>/<something>``), else None."""
    parts = name.split("/")
    if len(parts) < 3 or parts[0] != PROJECTS_FOLDER or not parts[1].isdigit() or not parts[2]:
        return None
    return int(parts[1])


def storage_files_delete(*, names: Iterable[str | None]) -> int:
    """Delete files from the media storage, best effort (a missing file is fine). Empty
    folders are removed too on the local file system. Returns how many went."""
    deleted = 0
    folders: set[str] = set()
    for name in {n for n in names if n}:
        try:
            default_storage.delete(name)
            deleted += 1
            folders.add(name.rsplit("/", 1)[0])
        except Exception:  # noqa: BLE001 - a file we cannot delete must not fail the rest
            logger.warning("could not delete stored file %s", name, exc_info=True)
    _remove_empty_folders(folders)
    return deleted


def _remove_empty_folders(folders: Iterable[str]) -> None:
    try:
        path = default_storage.path  # only file-system storages have paths
    except AttributeError:
        return
    for folder in folders:
        with contextlib.suppress(OSError, NotImplementedError):
            os.rmdir(path(folder))


def storage_files_delete_later(*, names: Iterable[str | None]) -> None:
    """Delete the files once the current transaction commits (never for a rolled-back
    delete). Many files go to workers in chunks."""
    names = [n for n in names if n]
    if not names:
        return
    if len(names) <= INLINE_DELETE_MAX:
        transaction.on_commit(lambda: storage_files_delete(names=names))
        return
    from apps.core.tasks import delete_stored_files

    for start in range(0, len(names), DELETE_TASK_CHUNK):
        delete_stored_files.delay_on_commit(names[start : start + DELETE_TASK_CHUNK])


def _prefix_check(prefix: str) -> None:
    if not prefix.endswith("/") or prefix.startswith("/") or ".." in prefix.split("/"):
        raise ValueError(f"unsafe storage prefix {prefix!r}")


def storage_prefix_delete(*, prefix: str) -> int:
    """Delete every stored file under ``prefix`` (a folder such as ``projects/7/``)."""
    _prefix_check(prefix)
    names: list[str] = []
    folders: list[str] = []

    def walk(folder: str) -> None:
        try:
            subfolders, files = default_storage.listdir(folder)
        except (FileNotFoundError, NotADirectoryError):
            return
        folders.append(folder)
        names.extend(f"{folder}/{name}" for name in files)
        for sub in subfolders:
            walk(f"{folder}/{sub}")

    walk(prefix.rstrip("/"))
    deleted = storage_files_delete(names=names)
    # Deepest first, so that parents are empty when their turn comes.
    _remove_empty_folders(sorted(folders, key=lambda f: f.count("/"), reverse=True))
    return deleted


def storage_prefix_delete_later(*, prefix: str) -> None:
    """Delete the folder in a worker once the current transaction commits."""
    _prefix_check(prefix)
    from apps.core.tasks import delete_stored_prefix

    delete_stored_prefix.delay_on_commit(prefix)
