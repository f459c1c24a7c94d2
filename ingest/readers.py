"""Reading official text files: decoding, and the one-line errors for empty files and HTML pages."""

from __future__ import annotations

from pathlib import Path

from ingest.model import ParseError

_HTML_STARTS = (b"<!doctype html", b"<html", b"<?xml", b"<head", b"<body")


def read_official_bytes(path: Path, encoding: str, what: str) -> bytes:
    """The bytes of an official file after the checks every parser needs first; ASCII is verified."""
    data = Path(path).read_bytes()
    _check_kind(path, data, what)
    if encoding == "ascii" and not data.isascii():
        start = next(i for i, byte in enumerate(data) if byte > 127)
        line = data[:start].count(b"\n") + 1
        raise ParseError(path, line, f"expected ascii text, found byte 0x{data[start]:02x}")
    return data


def _check_kind(path: Path, data: bytes, what: str) -> None:
    if not data or data.isspace():
        raise ParseError(path, None, f"expected {what}, the file is empty")
    head = data[:512].lstrip().lower()
    if head.startswith(_HTML_STARTS):
        raise ParseError(path, 1, f"expected {what}, got an HTML page (a login or error page saved as the file?)")
    if data[:2] == b"PK":
        raise ParseError(path, 1, f"expected {what}, got a zip archive; unpack it first")


def read_official_text(path: Path, encoding: str, what: str) -> str:
    """The text of an official file, with the checks every parser needs first."""
    data = Path(path).read_bytes()
    _check_kind(path, data, what)
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ParseError(path, line, f"expected {encoding} text, found byte 0x{data[exc.start]:02x}") from None


def line_count(text: str) -> int:
    return text.count("\n") + (0 if text.endswith("\n") else 1)
