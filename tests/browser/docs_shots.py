"""Screenshots for the README's "Getting started", written by the browser tests that walk
the same steps (docs/screenshots/NN-name.png). The window only, reduced to a 128-colour
palette so each picture stays well under 200 KB in the repository."""

from __future__ import annotations

from pathlib import Path

from PIL import Image
from playwright.sync_api import Page

from tests.conftest import REPO_ROOT

DOCS_SCREENSHOTS = REPO_ROOT / "docs" / "screenshots"
MAX_BYTES = 200_000


def docs_shot(page: Page, name: str) -> Path:
    DOCS_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = DOCS_SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), animations="disabled")
    with Image.open(path) as picture:
        small = picture.convert("RGB")
        small.thumbnail((1280, 1280))
        small.quantize(colors=128, dither=Image.Dither.NONE).save(path, optimize=True)
    assert path.stat().st_size < MAX_BYTES, f"{path} is {path.stat().st_size} bytes"
    return path
