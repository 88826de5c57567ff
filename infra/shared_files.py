"""The files of a shared list's load, opened and read in chunks of whole lines for
``domain.shared_files``: plain text, gzip (one member or several, concatenated) and zip (each
regular file in it read as a file of its own, named ``archive.zip:member.txt``). What a file
is comes from its first bytes, never its name.

Every path is opened and checked before anything is read, so a missing file or a broken
archive is refused before a load begins; damage found later (a truncated gzip, a zip
member's checksum) stops the reading with the same error. Both are ``InvalidInput`` naming
the file. A line longer than ``max_line_bytes`` is reported as a bad line and skipped
without holding it in memory.
"""

import gzip
import stat
import zipfile
import zlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, TypeVar

from domain.errors import InvalidInput
from domain.model import BadLine, ChangeChunk, NumberChunk
from domain.shared_files import bad_line, read_changes, read_numbers

CHUNK_BYTES = 1 << 20
MAX_LINE_BYTES = 1 << 20
GZIP_MAGIC = b"\x1f\x8b"
ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")  # an archive with members, an empty one
GZIP_RATIO = 4  # a guess at a gzip registry file's text: its size times this (4 to 5 seen)
_ISIZE_BYTES = 4
# what Python's gzip and zipfile raise for a damaged or unsupported file
_DAMAGED = (OSError, EOFError, zlib.error, zipfile.BadZipFile, NotImplementedError, RuntimeError)

Chunk = TypeVar("Chunk", NumberChunk, ChangeChunk)
Progress = Callable[[int], None]  # called with the bytes of text read since its last call


class _Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


@dataclass(frozen=True, slots=True)
class Lines:
    """Whole lines of ``file``, the first of them line ``first_line``."""

    data: bytes
    file: str
    first_line: int


@dataclass(frozen=True, slots=True)
class _Source:
    """One file to read lines from: a path, or a member of the zip archive at ``path``."""

    path: Path
    name: str
    kind: str  # "plain", "gzip" or "zip"
    member: zipfile.ZipInfo | None = None


def iter_number_chunks(
    paths: Sequence[Path],
    *,
    chunk_bytes: int = CHUNK_BYTES,
    max_line_bytes: int = MAX_LINE_BYTES,
    progress: Progress | None = None,
) -> Iterator[NumberChunk]:
    """The numbers of a full list's files, in order, a chunk at a time. Raises
    ``InvalidInput`` here, before anything is read, for a file that cannot be read."""
    sources = _sources(paths)
    return _chunks(sources, read_numbers, _bad_numbers, chunk_bytes, max_line_bytes, progress)


def iter_change_chunks(
    paths: Sequence[Path],
    *,
    chunk_bytes: int = CHUNK_BYTES,
    max_line_bytes: int = MAX_LINE_BYTES,
    progress: Progress | None = None,
) -> Iterator[ChangeChunk]:
    """The changes in change files, in order, a chunk at a time; ``iter_number_chunks``'s
    errors."""
    sources = _sources(paths)
    return _chunks(sources, read_changes, _bad_changes, chunk_bytes, max_line_bytes, progress)


def total_bytes(paths: Sequence[Path]) -> int:
    """About how many bytes of text the files hold, for progress: exact for plain files and
    zip archives; for gzip, the size its trailer records (modulo 4 GiB, and of its last
    member only), or a guess from the compressed size where the trailer cannot be right."""
    total = 0
    for path in paths:
        kind = _kind(path)
        try:
            if kind == "zip":
                with zipfile.ZipFile(path) as archive:
                    total += sum(member.file_size for member in _members(archive))
            elif kind == "gzip":
                total += _gzip_size(path)
            else:
                total += path.stat().st_size
        except _DAMAGED as exc:
            raise _unreadable(str(path), exc) from exc
    return total


def _chunks(
    sources: list[_Source],
    read: Callable[[bytes, str, int], Chunk],
    bad: Callable[[BadLine], Chunk],
    chunk_bytes: int,
    max_line_bytes: int,
    progress: Progress | None,
) -> Iterator[Chunk]:
    for piece in _lines_of_all(sources, chunk_bytes, max_line_bytes, progress):
        if isinstance(piece, BadLine):
            yield bad(piece)
        else:
            yield read(piece.data, piece.file, piece.first_line)


def _bad_numbers(line: BadLine) -> NumberChunk:
    return NumberChunk(b"", 0, (line,))


def _bad_changes(line: BadLine) -> ChangeChunk:
    return ChangeChunk((), (), (line,))


def _sources(paths: Sequence[Path]) -> list[_Source]:
    """Every file to read, each checked: it opens, and an archive's structure is sound."""
    if not paths:
        raise InvalidInput("no file to read")
    sources: list[_Source] = []
    for path in paths:
        kind = _kind(path)
        try:
            if kind == "zip":
                sources += _zip_sources(path)
            else:
                if kind == "gzip":
                    with gzip.open(path, "rb") as stream:
                        stream.read(1)  # its header and its first block decompress
                sources.append(_Source(path, str(path), kind))
        except _DAMAGED as exc:
            raise _unreadable(str(path), exc) from exc
    return sources


def _kind(path: Path) -> str:
    try:
        with path.open("rb") as handle:
            head = handle.read(4)
    except OSError as exc:
        raise _unreadable(str(path), exc) from exc
    if head.startswith(GZIP_MAGIC):
        return "gzip"
    return "zip" if head in ZIP_MAGICS else "plain"


def _zip_sources(path: Path) -> list[_Source]:
    with zipfile.ZipFile(path) as archive:
        members = _members(archive)
        if not members:
            raise InvalidInput(f"{path}: the zip archive holds no file")
        for member in members:
            with archive.open(member):  # its header, compression method, no password
                pass
    return [_Source(path, f"{path}:{member.filename}", "zip", member) for member in members]


def _members(archive: zipfile.ZipFile) -> list[zipfile.ZipInfo]:
    """The regular files of ``archive``, in its order: no directories, no symbolic links."""
    members = []
    for member in archive.infolist():
        kind = stat.S_IFMT(member.external_attr >> 16)  # 0 where the archiver records none
        if not member.is_dir() and kind in (0, stat.S_IFREG):
            members.append(member)
    return members


def _gzip_size(path: Path) -> int:
    compressed = path.stat().st_size
    with path.open("rb") as handle:
        handle.seek(max(0, compressed - _ISIZE_BYTES))
        trailer = int.from_bytes(handle.read(_ISIZE_BYTES), "little")
    return trailer if trailer >= compressed else compressed * GZIP_RATIO


def _lines_of_all(
    sources: list[_Source], chunk_bytes: int, max_line_bytes: int, progress: Progress | None
) -> Iterator[Lines | BadLine]:
    for source in sources:
        with _opened(source) as stream:
            yield from _lines(stream, source.name, chunk_bytes, max_line_bytes, progress)


@contextmanager
def _opened(source: _Source) -> Iterator[_Readable]:
    with ExitStack() as stack:
        stream: _Readable
        try:
            if source.kind == "gzip":
                stream = stack.enter_context(gzip.open(source.path, "rb"))
            elif source.member is None:
                stream = stack.enter_context(source.path.open("rb"))
            else:
                archive = stack.enter_context(zipfile.ZipFile(source.path))
                stream = stack.enter_context(archive.open(source.member))
        except _DAMAGED as exc:
            raise _unreadable(source.name, exc) from exc
        yield stream


def _lines(
    stream: _Readable, name: str, chunk_bytes: int, max_line_bytes: int, progress: Progress | None
) -> Iterator[Lines | BadLine]:
    """``stream``'s lines in chunks of whole lines; each one too long, as a bad line."""
    line = 1
    pending = b""
    while block := _read(stream, name, chunk_bytes):
        if progress is not None:
            progress(len(block))
        data = pending + block if pending else block
        cut = data.rfind(b"\n") + 1
        if cut == 0 and len(data) > max_line_bytes:
            yield bad_line(name, line, data)
            pending = _skip_line(stream, name, chunk_bytes, progress)
            line += 1
            continue
        if cut:
            yield Lines(data[:cut] if cut < len(data) else data, name, line)
            line += data.count(b"\n", 0, cut)
        pending = data[cut:]
    if pending:
        yield Lines(pending, name, line)


def _skip_line(stream: _Readable, name: str, chunk_bytes: int, progress: Progress | None) -> bytes:
    """Read on to the end of the current line; what follows it."""
    while block := _read(stream, name, chunk_bytes):
        if progress is not None:
            progress(len(block))
        newline = block.find(b"\n")
        if newline >= 0:
            return block[newline + 1 :]
    return b""


def _read(stream: _Readable, name: str, size: int) -> bytes:
    try:
        return stream.read(size)
    except _DAMAGED as exc:
        raise _unreadable(name, exc) from exc


def _unreadable(name: str, exc: BaseException) -> InvalidInput:
    if isinstance(exc, InvalidInput):
        return exc
    reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    return InvalidInput(f"{name}: cannot be read ({reason or type(exc).__name__})")
