"""Errors users see.  Each one renders as a single line naming the file and the problem.

Codes are short stable slugs (``pdf-encrypted``) so users can search for them.
"""
from __future__ import annotations


class PolicoderError(Exception):
    """Base class: ``str()`` is one line, ``code`` a stable slug."""

    code = "error"

    def __init__(self, message: str, *, code: str | None = None):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code

    def __str__(self) -> str:
        return f"{self.message} [{self.code}]"


class InputError(PolicoderError):
    """One input file cannot be read; the batch goes on without it."""

    code = "input-error"

    def __init__(self, path: str, message: str, *, code: str):
        super().__init__(message, code=code)
        self.path = str(path)

    def __str__(self) -> str:
        return f"{self.path}: {self.message} [{self.code}]"


class ConfigError(PolicoderError):
    """policoder.toml (or a command-line option) is wrong; names the file and ``section.key``."""

    code = "config-error"

    def __init__(self, path: str, message: str, *, key: str | None = None, code: str | None = None):
        super().__init__(message, code=code)
        self.path = str(path)
        self.key = key

    def __str__(self) -> str:
        where = f"{self.path}: {self.key}: " if self.key else f"{self.path}: "
        return f"{where}{self.message} [{self.code}]"


def rewrite_checked(path, new_text: str, load):
    """Write ``new_text`` to the file ``path`` (a pathlib.Path) and return ``load()``; when the load
    refuses the new file (ConfigError), the file is given back its old text before the error is raised."""
    original = path.read_text(encoding="utf-8")
    path.write_text(new_text, encoding="utf-8")
    try:
        return load()
    except ConfigError:
        path.write_text(original, encoding="utf-8")
        raise


class ProjectError(PolicoderError):
    """The project folder or its database is not usable (missing, wrong schema …)."""

    code = "project-error"


class CodingWarning(UserWarning):
    """Something a coder should know about what they just coded (it is stored all the same): a span
    crossing units, a code on an interviewer question, a coder name like another but for case, a
    model trained on too few labels.  The CLI prints each as ``warning: …``; a notebook shows it as
    a Python warning."""
