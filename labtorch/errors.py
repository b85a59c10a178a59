"""Errors a lab admin reads: which host, what was wrong, what to do."""

from __future__ import annotations


class LabtorchError(Exception):
    """A problem the user can fix. Printed as one line; the CLI exits 2.

    >>> str(LabtorchError("'5x5' is not a driver version", fix="pass e.g. --driver 550.54.14"))
    "'5x5' is not a driver version; pass e.g. --driver 550.54.14"
    >>> str(LabtorchError("no GPU name matched", host="pc07", fix="add --compute-capability"))
    'pc07: no GPU name matched; add --compute-capability'
    """

    def __init__(self, what: str, *, host: str | None = None, fix: str | None = None) -> None:
        self.what = what
        self.host = host
        self.fix = fix
        super().__init__(self.line())

    def line(self) -> str:
        text = f"{self.host}: {self.what}" if self.host else self.what
        return f"{text}; {self.fix}" if self.fix else text


class DataError(LabtorchError):
    """A row of data/*.yaml is invalid. Names the file and the row."""
