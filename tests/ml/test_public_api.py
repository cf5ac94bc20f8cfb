"""``apps.ml``'s lazy table of public names (``_EXPORTS``), ``__all__`` and the imports that
type checkers read must name the same things, each from the module that defines it."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import apps.ml


def _type_checking_imports() -> dict[str, str]:
    tree = ast.parse(Path(apps.ml.__file__).read_text())
    names: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            for statement in node.body:
                assert isinstance(statement, ast.ImportFrom)
                for alias in statement.names:
                    names[alias.name] = statement.module.removeprefix("apps.ml.")
    return names


def test_the_three_lists_of_public_names_agree():
    exports = apps.ml._EXPORTS
    assert sorted(apps.ml.__all__) == sorted(exports)
    assert _type_checking_imports() == exports


def test_every_public_name_comes_from_the_module_the_table_names():
    for name, module in apps.ml._EXPORTS.items():
        defined = getattr(importlib.import_module(f"apps.ml.{module}"), name)
        assert getattr(apps.ml, name) is defined, name
