"""
Files that survive a kill and say what is wrong with them: atomic writes, checksummed pickles, model zip checks.

A file written through ``atomic_write`` is written to a temporary file in the same folder, flushed and fsync-ed,
then renamed over the target with ``os.replace``: whenever the process is killed, the target is the old file or the
new one, never a mix (a killed write may leave its temporary file ``.<name>.<random>.tmp`` behind; a finished or
failed write does not). ``dump_verified_pickle`` appends a checksum trailer (SHA-256 of the pickle) after the pickle,
which ``pickle.load`` ignores, so that SB3's ``load_from_pkl`` still reads the file; ``load_verified_pickle`` checks it.
"""

import contextlib
import hashlib
import io
import os
import pathlib
import pickle
import secrets
import struct
import warnings
import zipfile
from collections.abc import Iterator
from typing import Any, BinaryIO

from stable_baselines3.common.save_util import open_path

# The checksum trailer after a verified pickle: a magic string, the pickle's length in bytes, its SHA-256
CHECKSUM_MAGIC = b"sb3-arq sha256 1"
TRAILER = struct.Struct("<16sQ32s")
# Bytes read at a time when hashing a file
CHUNK_SIZE = 1 << 24


def write_path(path: str | pathlib.Path, suffix: str) -> pathlib.Path:
    """
    :param path: A path given to a save method.
    :param suffix: The suffix SB3 adds to a path without one ("zip" for models, "pkl" for replay buffers).
    :return: The path SB3 would write to.
    """
    path = pathlib.Path(path)
    return path.with_name(f"{path.name}.{suffix}") if path.suffix == "" else path


def fsync_directory(directory: pathlib.Path) -> None:
    """Make a rename in ``directory`` durable (POSIX; a no-op where folders cannot be opened, e.g. on Windows)."""
    if os.name == "nt":
        return
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


@contextlib.contextmanager
def atomic_write(path: pathlib.Path) -> Iterator[BinaryIO]:
    """
    Write ``path`` atomically: the body writes to the yielded binary file, a temporary file in the same folder (the
    folder is created if needed), which is flushed, fsync-ed and renamed over ``path`` when the body returns. If the
    body raises, the temporary file is removed and ``path`` is left as it was.

    :param path: The file to write.
    :return: The open temporary file.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.parent / f".{path.name}.{secrets.token_hex(6)}.tmp"
    # os.open with mode 0o666: the new file gets the permissions of any file created under the umask (mkstemp: 0o600)
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(descriptor, "wb") as file:
            yield file
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    fsync_directory(path.parent)


def atomic_write_text(path: str | pathlib.Path, text: str) -> None:
    """
    Write a text file (UTF-8) with ``atomic_write``.

    :param path: The file to write.
    :param text: Its content.
    """
    with atomic_write(pathlib.Path(path)) as file:
        file.write(text.encode())


class _HashingWriter:
    """A binary file wrapper that hashes (SHA-256) and counts what is written through it."""

    def __init__(self, file: BinaryIO):
        self.file = file
        self.sha256 = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes | memoryview) -> int:
        self.sha256.update(data)
        self.size += memoryview(data).nbytes
        return self.file.write(data)


def dump_verified_pickle(obj: Any, file: BinaryIO) -> None:
    """
    Pickle ``obj`` into ``file``, then its checksum trailer (read back by ``load_verified_pickle``).

    :param obj: The object.
    :param file: A binary file open for writing.
    """
    writer = _HashingWriter(file)
    pickle.dump(obj, writer, protocol=pickle.HIGHEST_PROTOCOL)  # protocol >= 4: objects over 4 GB
    file.write(TRAILER.pack(CHECKSUM_MAGIC, writer.size, writer.sha256.digest()))


def save_verified_pickle(obj: Any, path: str | pathlib.Path | io.BufferedIOBase) -> None:
    """
    Save ``obj`` as a pickle with a checksum trailer: atomically to a path (".pkl" added when it has no suffix, as in
    SB3's ``save_to_pkl``), or into an open binary file as it is.

    :param obj: The object.
    :param path: The path or open binary file.
    """
    if isinstance(path, (str, pathlib.Path)):
        with atomic_write(write_path(path, "pkl")) as file:
            dump_verified_pickle(obj, file)
    else:
        dump_verified_pickle(obj, open_path(path, "w", suffix="pkl"))


def _verify(file: BinaryIO, name: str) -> bool:
    """
    Check the checksum trailer of the seekable ``file`` from its current position (left there).

    :return: Whether the file has a trailer (False: a file without checksum, e.g. an SB3 pickle).
    """
    start = file.tell()
    size = file.seek(0, os.SEEK_END) - start
    try:
        if size < TRAILER.size:
            return False
        file.seek(start + size - TRAILER.size)
        magic, length, digest = TRAILER.unpack(file.read(TRAILER.size))
        if magic != CHECKSUM_MAGIC:
            return False
        if length != size - TRAILER.size:
            raise ValueError(
                f"{name} is truncated or corrupted: it holds {size - TRAILER.size} bytes of pickle, its checksum record "
                f"says {length}"
            )
        file.seek(start)
        sha256, remaining = hashlib.sha256(), length
        while remaining > 0:
            chunk = file.read(min(CHUNK_SIZE, remaining))
            if not chunk:
                raise ValueError(f"{name} is truncated: it ended {remaining} bytes before its checksum record")
            sha256.update(chunk)
            remaining -= len(chunk)
        if sha256.digest() != digest:
            raise ValueError(f"{name} failed its checksum: checksum mismatch, the file is corrupted")
        return True
    finally:
        file.seek(start)


def load_verified_pickle(path: str | pathlib.Path | io.BufferedIOBase) -> Any:
    """
    Load a pickle saved by ``save_verified_pickle``, after checking its checksum. A file without checksum trailer (e.g.
    written by SB3's ``save_to_pkl``) loads unverified, with a warning.

    :param path: The path (".pkl" tried when it does not exist, as in SB3's ``load_from_pkl``) or open binary file.
    :return: The object.
    :raises ValueError: Naming the file and what is wrong (truncated, checksum mismatch, not a pickle).
    """
    file = open_path(path, "r", suffix="pkl")
    name = f"The file {getattr(file, 'name', path)}"
    try:
        if not file.seekable():
            file = io.BytesIO(file.read())
        verified = _verify(file, name)
        try:
            obj = pickle.load(file)
        except Exception as error:
            what = "truncated" if isinstance(error, EOFError) or "truncated" in str(error) else "not a readable pickle"
            raise ValueError(f"{name} is {what} ({type(error).__name__}: {error}): it cannot be loaded") from error
        if not verified:
            position = file.tell()
            if file.seek(0, os.SEEK_END) != position:
                raise ValueError(f"{name} is corrupted: bytes follow its pickle, but no valid checksum record")
            warnings.warn(
                f"{name} has no checksum (e.g. written by SB3's save_to_pkl): loaded without verification",
                stacklevel=3,
            )
    finally:
        if isinstance(path, (str, pathlib.Path)):
            file.close()
    return obj


def check_model_file(path: str | pathlib.Path | io.BufferedIOBase) -> None:
    """
    Refuse a zip file without SB3's "data" entry with a ValueError naming the file, whatever the interpreter's flags.
    A truncated model zip can end at the end of one of the zip archives that ``torch.save`` wrote inside it; zipfile
    then reads that inner archive, and SB3's ``assert data is not None`` (stripped by ``python -O``) let ``load``
    fail later with a TypeError. Other files are left to SB3's loader (a non-zip file: "wasn't a zip-file").

    :param path: The path (".zip" tried when it does not exist, as in SB3) or open binary file of a model.
    """
    file = open_path(path, "r", suffix="zip")
    start = file.tell()
    try:
        with zipfile.ZipFile(file) as archive:
            names = archive.namelist()
    except zipfile.BadZipFile:
        return
    finally:
        if isinstance(path, (str, pathlib.Path)):
            file.close()
        else:
            file.seek(start)
    if "data" not in names:
        raise ValueError(
            f"The file {getattr(file, 'name', path)} is not a complete SB3 model: its zip archive has no 'data' entry "
            f"(entries {names[:3]}{' ...' if len(names) > 3 else ''}). It is truncated or corrupted, e.g. written by a "
            "process killed while saving it (sb3-arq's save() writes atomically)."
        )
