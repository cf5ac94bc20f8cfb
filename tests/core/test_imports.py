"""A top-level package named `platform` would shadow the standard library's module and
break `import uuid` (and with it Django and torch). Guard against it coming back."""

import subprocess
import sys

from tests.conftest import REPO_ROOT


def _python(code: str) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter from the repository root; it must succeed."""
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return result


def test_stdlib_platform_is_not_shadowed_from_repo_root():
    code = (
        "import platform, uuid, django, torch; "
        "assert hasattr(platform, 'system'), platform.__file__; "
        "print(uuid.uuid4().version, django.VERSION[0], torch.__version__)"
    )
    result = _python(code)
    assert result.stdout.split()[0] == "4"
    assert not (REPO_ROOT / "platform" / "__init__.py").exists()


def test_the_web_process_does_not_import_torch():
    """Every view, the serving stack and a loaded Predictor need ONNX Runtime, numpy and
    Pillow only; torch would cost each web worker about 700 MB. Training code imports it
    where it is used."""
    code = (
        "import os, sys; os.environ['DJANGO_SETTINGS_MODULE'] = 'bakehouse.settings.test'; "
        "import django; django.setup(); "
        # What a gunicorn worker does after the fork: every view, the serving stack.
        "from apps.deployments.serving import preload_modules; preload_modules(); "
        "from apps.ml import Predictor, preprocess, preprocess_batch, get_backbone; "
        "from apps.ml.images import open_image; "
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'torchvision')); "
        "print(len(loaded), loaded[:5])"
    )
    result = _python(code)
    assert result.stdout.startswith("0 "), result.stdout
