"""A top-level package named `platform` would shadow the standard library's module and
break `import uuid` (and with it Django and torch). Guard against it coming back."""

import subprocess
import sys

from tests.conftest import REPO_ROOT


def test_stdlib_platform_is_not_shadowed_from_repo_root():
    code = (
        "import platform, uuid, django, torch; "
        "assert hasattr(platform, 'system'), platform.__file__; "
        "print(uuid.uuid4().version, django.VERSION[0], torch.__version__)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[0] == "4"
    assert not (REPO_ROOT / "platform" / "__init__.py").exists()
