"""Safe file handling used everywhere in xta: atomic writes, safetensors-only loading, safe names.

Why:

* **Atomic writes.** A run killed mid-write (pre-emption, Ctrl-C, a full disk) must never leave a
  half-written result record or adapter behind that a later run would trust. Every write goes to a
  temporary file *beside* the target (same filesystem), is flushed and ``fsync``-ed, then
  ``os.replace``-d over the target, which POSIX guarantees to be atomic. Directories (a saved adapter:
  weights + config + card) are written into a temporary sibling directory and renamed into place.
* **No pickle, ever.** ``torch.load`` and ``pickle`` execute code from the file; adapter weights from
  the Hub or a colleague are untrusted. xta stores and loads tensors with safetensors only, and checks
  the header itself before handing the file to the safetensors library, so that a pickle or a
  ``torch.save`` zip archive posing as ``*.safetensors`` is refused with a one-line message, and a
  truncated file says so (instead of a low-level deserialisation error).
* **Safe names.** Task, adapter, setup and encoder names become path components of the results store
  and the adapter directory; :func:`safe_name` refuses anything that could escape its directory.
  :func:`validate_repo_id` applies the Hugging Face Hub rules (as ``huggingface_hub.utils.validate_repo_id``
  documents them) before any network call.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import logging
import os
import re
import shutil
import struct
import tempfile
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, cast

from .errors import DataError, UnsafeFileError, XtaError

log = logging.getLogger(__name__)

PathLike = str | os.PathLike

__all__ = [
    "atomic_write_bytes",
    "atomic_write_text",
    "atomic_write_json",
    "atomic_dir",
    "clean_stale_temps",
    "save_safetensors_atomic",
    "load_safetensors",
    "safetensors_header",
    "safe_name",
    "validate_repo_id",
    "sha256_file",
    "sha256_bytes",
    "safetensors_metadata",
]


# --------------------------------------------------------------------------------------------------
# atomic writes
# --------------------------------------------------------------------------------------------------


def _fsync_dir(directory: Path) -> None:
    """Persist a rename: fsync the directory entry (a no-op where directories cannot be opened)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # e.g. Windows
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@functools.lru_cache(maxsize=1)
def _umask() -> int:
    """The process umask (read without changing it where /proc allows; else set and restore once)."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _default_mode(path: Path, directory: bool = False) -> int:
    """Permissions a plain open()/mkdir() would give (mkstemp/mkdtemp use 0600/0700); keep an existing file's."""
    with contextlib.suppress(FileNotFoundError):
        return path.stat().st_mode & 0o7777
    return (0o777 if directory else 0o666) & ~_umask()


def atomic_write_bytes(path: PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically: readers see the old file or the new one, never a part.

    The parent directory is created if needed. On any exception the temporary file is removed and the
    previous content of ``path`` (if any) is left untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.chmod(tmp, _default_mode(path))
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)
    return path


def atomic_write_text(path: PathLike, text: str, encoding: str = "utf-8") -> Path:
    """Atomic :func:`atomic_write_bytes` of ``text`` encoded with ``encoding``."""
    return atomic_write_bytes(path, text.encode(encoding))


def atomic_write_json(path: PathLike, obj: Any, *, indent: int | None = 2, sort_keys: bool = True) -> Path:
    """Serialise ``obj`` to JSON first (so a non-serialisable value leaves no file), then write atomically."""
    text = json.dumps(obj, indent=indent, sort_keys=sort_keys, ensure_ascii=False, allow_nan=True)
    try:
        data = (text + "\n").encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate (a path of undecodable bytes, say): kept visible as \udcff text
        text = json.dumps(_printable(obj), indent=indent, sort_keys=sort_keys, ensure_ascii=False, allow_nan=True)
        data = (text + "\n").encode("utf-8")
    return atomic_write_bytes(path, data)


def append_jsonl(path: PathLike, obj: Any) -> Path:
    """Append ``obj`` as one JSON line to ``path`` (created if needed), flushed and fsync'd.

    Not atomic as a whole file, by design (a log grows during a run): each call writes one complete line
    with one ``write``; a kill mid-write can leave at most a partial last line, which :func:`read_jsonl`
    drops and a resumed training rewrites away (atomically) before appending again.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    line = (json.dumps(obj, sort_keys=True, ensure_ascii=False, allow_nan=True) + "\n").encode("utf-8")
    with open(path, "ab") as fh:
        fh.write(line)
        fh.flush()
        os.fsync(fh.fileno())
    return path


def read_jsonl(path: PathLike) -> list[Any]:
    """The JSON lines of ``path`` ([] when it does not exist); a partial or damaged line is skipped."""
    path = Path(path)
    if not path.is_file():
        return []
    out = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        if not line.strip():
            continue
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:  # what a kill mid-append leaves: the line is lost, the others stand
            continue
    return out


def _printable(obj: Any) -> Any:
    """``obj`` with every lone surrogate in its strings (keys too) replaced by its ``\\udcff`` spelling."""
    if isinstance(obj, str):
        return obj.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(obj, Mapping):
        return {_printable(k): _printable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_printable(v) for v in obj]
    return obj


@contextlib.contextmanager
def atomic_dir(final_dir: PathLike, *, overwrite: bool = True) -> Iterator[Path]:
    """Build a directory in a temporary sibling and move it to ``final_dir`` only on success.

    >>> with atomic_dir("adapters/mnli") as tmp:   # doctest: +SKIP
    ...     (tmp / "adapter_config.json").write_text("{}")

    Files are fsync-ed before the rename. If the block raises, the temporary directory is removed and
    ``final_dir`` is untouched. An existing ``final_dir`` is replaced (``overwrite=True``) by renaming it
    aside first, then removing it once the new directory is in place; with ``overwrite=False`` an
    existing ``final_dir`` is an error.
    """
    final = Path(final_dir)
    if final.exists() and not overwrite:
        raise XtaError(f"{final} already exists; remove it or allow overwriting")
    final.parent.mkdir(parents=True, exist_ok=True)
    # the name says which process builds it, so that the next start can remove it once that process is gone
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.{_owner()}.", suffix=".tmp", dir=final.parent))
    try:
        os.chmod(tmp, _default_mode(final, directory=True))
        yield tmp
        _fsync_tree(tmp)
        _swap_into_place(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _fsync_dir(final.parent)


def _fsync_tree(root: Path) -> None:
    for p in sorted(root.rglob("*")):
        if p.is_file():
            with open(p, "rb") as fh:
                os.fsync(fh.fileno())


def _swap_into_place(tmp: Path, final: Path) -> None:
    """Rename ``tmp`` to ``final``; an existing ``final`` is renamed aside first and removed after."""
    old = None
    if final.exists():
        old = final.with_name(f".{final.name}.old-{_owner()}-{uuid.uuid4().hex[:8]}")
        os.replace(final, old)
    try:
        os.replace(tmp, final)
    except BaseException:
        if old is not None:
            os.replace(old, final)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _owner() -> str:
    """``<host tag>-<pid>``: which process owns a temporary directory (the host as 6 hex digits)."""
    return f"{_host_tag()}-{os.getpid()}"


@functools.lru_cache(maxsize=1)
def _host_tag() -> str:
    import socket

    return hashlib.sha256(socket.gethostname().encode("utf-8", "replace")).hexdigest()[:6]


_TEMP_DIR = re.compile(r"^\.(?P<name>.+)\.(?P<host>[0-9a-f]{6})-(?P<pid>[0-9]{1,10})\.[^./]+\.tmp$")
_OLD_DIR = re.compile(r"^\.(?P<name>.+)\.old-(?:(?P<host>[0-9a-f]{6})-(?P<pid>[0-9]{1,10})-)?[0-9a-f]{8}$")
_LEGACY_TEMP_DIR = re.compile(r"^\.(?P<name>.+)\.[^./]+\.tmp$")  # before owners were named: cleaned when old
LEGACY_TEMP_AGE_S = 3600.0


def _gone(host: str | None, pid: str | None, entry: Path, legacy_age_s: float) -> bool:
    """Whether the process that made ``entry`` is gone: same host and no such pid; for names without an
    owner, untouched for ``legacy_age_s`` (a save takes seconds). Other hosts' entries are left alone."""
    if host is None:
        try:
            import time

            return time.time() - entry.stat().st_mtime > legacy_age_s
        except OSError:
            return False
    if host != _host_tag():
        return False
    owner = cast(str, pid)  # the patterns capture host and pid together: a host comes with its pid
    if int(owner) == os.getpid():
        return False
    try:
        os.kill(int(owner), 0)
    except ProcessLookupError:
        return True
    except (PermissionError, OverflowError, ValueError, OSError):
        return False
    return False


def clean_stale_temps(directory: PathLike, *, legacy_age_s: float = LEGACY_TEMP_AGE_S) -> list[str]:
    """Remove what :func:`atomic_dir` leaves in ``directory`` when its process is killed mid-save (issue 18):
    the half-built ``.<name>.<host>-<pid>.<random>.tmp`` folders of processes that are gone, and the
    ``.<name>.old-...`` copy of a replaced folder; if the kill came between the two renames (no
    ``<name>`` any more) that copy is the previous complete folder and is renamed back instead.
    Folders of live processes and of other hosts are left alone. Returns what was done, for the log."""
    directory = Path(directory)
    done: list[str] = []
    try:
        entries = sorted(directory.iterdir())
    except OSError:
        return done
    for entry in entries:
        if not entry.name.startswith(".") or entry.is_symlink() or not entry.is_dir():
            continue
        m = _TEMP_DIR.match(entry.name)
        if m is not None or (m := _LEGACY_TEMP_DIR.match(entry.name)) is not None and not _OLD_DIR.match(entry.name):
            if _gone(m.groupdict().get("host"), m.groupdict().get("pid"), entry, legacy_age_s):
                shutil.rmtree(entry, ignore_errors=True)
                done.append(f"removed {entry.name} (a save interrupted by a kill)")
            continue
        m = _OLD_DIR.match(entry.name)
        if m is not None and _gone(m["host"], m["pid"], entry, legacy_age_s if m["host"] is None else 0):
            final = directory / m["name"]
            if not final.exists():
                os.replace(entry, final)
                done.append(f"restored {m['name']} from {entry.name} (a replacement interrupted by a kill)")
            else:
                shutil.rmtree(entry, ignore_errors=True)
                done.append(f"removed {entry.name} (the replaced copy of {m['name']})")
    for line in done:
        log.info("%s: %s", directory, line)
    return done


# --------------------------------------------------------------------------------------------------
# safetensors
# --------------------------------------------------------------------------------------------------

_PICKLE_HINT = "refusing to unpickle {what} {path}; xta only loads safetensors (convert it with safetensors.torch.save_file)"
_MAX_HEADER = 100_000_000  # the limit the safetensors format itself sets on the JSON header


def save_safetensors_atomic(tensors: Mapping[str, Any], path: PathLike, metadata: Mapping[str, str] | None = None) -> Path:
    """Save a ``{name: torch.Tensor}`` mapping as safetensors, atomically.

    Tensors are made contiguous; ``metadata`` values must be strings (a safetensors rule).
    """
    from safetensors.torch import save

    if metadata is not None:
        bad = [k for k, v in metadata.items() if not isinstance(k, str) or not isinstance(v, str)]
        if bad:
            raise XtaError(f"safetensors metadata must map str to str; bad key(s): {', '.join(map(str, bad))}")
    data = save({k: v.detach().contiguous() for k, v in tensors.items()}, metadata=dict(metadata) if metadata else None)
    return atomic_write_bytes(path, data)


def _sniff_unsafe(head: bytes, path: Path) -> None:
    """Refuse pickles and torch zip archives by their magic bytes, before anything parses them.

    ``head`` is the first 9 bytes: a safetensors header length whose low byte is 0x80 (a 384-byte
    header, say) followed by the JSON ``{`` is safetensors, not a pickle's PROTO opcode."""
    looks_safetensors = len(head) >= 9 and head[4:8] == b"\0\0\0\0" and head[8:9] == b"{"
    if head[:1] == b"\x80" and not looks_safetensors:  # pickle protocol >= 2 starts with PROTO opcode 0x80
        raise UnsafeFileError(_PICKLE_HINT.format(what="pickle file", path=path))
    if head[:4] == b"PK\x03\x04":  # torch.save >= 1.6 writes a zip archive holding a pickle
        raise UnsafeFileError(_PICKLE_HINT.format(what="torch zip archive (pickle inside)", path=path))
    if head[:6] == b"\x93NUMPY":
        raise UnsafeFileError(f"{path} is a NumPy .npy file, not safetensors; xta only loads safetensors")


def safetensors_header(path: PathLike) -> dict[str, Any]:
    """Read and check a safetensors header without loading tensors.

    Format (https://github.com/huggingface/safetensors#format): 8 bytes little-endian u64 ``N``, then
    ``N`` bytes of JSON ``{name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {...}}``,
    then the byte buffer. The buffer must be exactly as long as the largest end offset, so a truncated
    download is caught here with a clear message.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError("file not found", path)
    size = path.stat().st_size
    with open(path, "rb") as fh:
        head = fh.read(9)
        _sniff_unsafe(head, path)
        head = head[:8]
        fh.seek(len(head))
        if len(head) < 8:
            raise DataError(f"not a safetensors file ({size} bytes, too short for a header); truncated?", path)
        (n,) = struct.unpack("<Q", head)
        if n > _MAX_HEADER or n + 8 > size:
            raise DataError(f"not a safetensors file or truncated (header of {n} bytes, file of {size} bytes)", path)
        raw = fh.read(n)
    header = _parse_header(raw, path)
    _check_offsets(header, size - 8 - n, path)
    return header


def _parse_header(raw: bytes, path: Path) -> dict[str, Any]:
    if not raw.lstrip().startswith(b"{"):
        raise DataError("not a safetensors file (its header is not a JSON object)", path)
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        why = exc.msg if isinstance(exc, json.JSONDecodeError) else exc
        raise DataError(f"not a safetensors file or truncated (bad JSON header: {why})", path) from None
    except RecursionError:
        raise DataError("not a safetensors file (its JSON header is nested too deeply)", path) from None
    if not isinstance(header, dict):
        raise DataError("not a safetensors file (its header is not a JSON object)", path)
    from .datafiles import check_text
    from .schemas import SAFETENSORS_HEADER, check

    try:  # dtype, shape, data_offsets of every tensor; metadata str -> str (issue 18)
        check(header, SAFETENSORS_HEADER, path, "safetensors header")
        check_text(header, path)
    except DataError as exc:
        raise DataError(f"not a safetensors file ({str(exc).removeprefix(f'{path}: ')})", path) from None
    return header


def _check_offsets(header: Mapping[str, Any], buffer_len: int, path: Path) -> None:
    end = 0
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, stop = info["data_offsets"]  # checked by SAFETENSORS_HEADER: two ints, begin <= end
        end = max(end, stop)
    if end > buffer_len:
        raise DataError(f"truncated safetensors file: tensors need {end} data bytes, only {buffer_len} present", path)
    if end < buffer_len:
        raise DataError(f"malformed safetensors file: {buffer_len - end} trailing bytes after the tensors", path)


def load_safetensors(path: PathLike, device: str = "cpu") -> dict[str, Any]:
    """Load tensors from a safetensors file after :func:`safetensors_header` checks it.

    Never calls ``torch.load`` or ``pickle``: pickles and torch archives raise :class:`UnsafeFileError`,
    truncated or foreign files raise :class:`DataError`, each naming the file.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    safetensors_header(path)
    try:
        return load_file(str(path), device=device)
    except SafetensorError as exc:
        raise DataError(f"cannot read safetensors file: {exc}", path) from None


def safetensors_metadata(path: PathLike) -> dict[str, str]:
    """The ``__metadata__`` mapping of a safetensors file (empty if it has none)."""
    return dict(safetensors_header(path).get("__metadata__") or {})


# --------------------------------------------------------------------------------------------------
# names
# --------------------------------------------------------------------------------------------------

_FORBIDDEN_CHARS = set('/\\<>:"|?*')
_MAX_NAME = 128


def safe_name(name: str, kind: str = "name") -> str:
    """Return ``name`` if it is safe as a single path component, else raise :class:`XtaError`.

    Refused: non-strings, empty names, ``.``/``..`` (or any all-dots name), names starting with ``.``
    (hidden files, and where our temporary files live), path separators and characters Windows forbids
    (``/ \\ < > : " | ? *``), control characters, surrounding whitespace, more than 128 characters.
    """
    reason = _unsafe_reason(name)
    if reason:
        raise XtaError(f"invalid {kind} name {name!r}: {reason}; use letters, digits, '-', '_' and '.'")
    return name


def _unsafe_reason(name: object) -> str | None:
    if not isinstance(name, str):
        return f"expected a string, got {type(name).__name__}"
    if not name:
        return "it is empty"
    if name.startswith("."):
        return "it starts with '.' (a path like '..' or a hidden file)"
    if os.path.isabs(name) or any(c in _FORBIDDEN_CHARS for c in name):
        return "it contains a path separator or a character not allowed in file names"
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        return "it contains a control character"
    if name != name.strip():
        return "it has leading or trailing whitespace"
    if len(name) > _MAX_NAME:
        return f"it is longer than {_MAX_NAME} characters"
    return None


def validate_repo_id(repo_id: str, *, require_namespace: bool = True) -> str:
    """Check a Hugging Face Hub repository id ``ORG/NAME`` before any network call.

    The Hub's own rules decide (``huggingface_hub.utils.validate_repo_id``: letters, digits, ``-``, ``_``,
    ``.``, no leading/trailing ``-``/``.``, at most 96 characters, no ``--``/``..``, no ``.git`` ending);
    xta adds two of its own: a namespace (``ORG/``) is required, since xta pushes to one, unless
    ``require_namespace=False``; and the id must be ASCII (the library's ``\\w`` admits non-ASCII letters,
    which would also pass into file names of the local Hub cache).
    """
    from huggingface_hub.errors import HFValidationError
    # public here (the documented place); pyright's suggestion, huggingface_hub.utils._validators, is private
    from huggingface_hub.utils import validate_repo_id as hub_validate_repo_id  # pyright: ignore[reportPrivateImportUsage]

    if not isinstance(repo_id, str) or not repo_id:
        raise XtaError(f"invalid Hub repo id {repo_id!r}: expected 'ORG/NAME'")
    parts = repo_id.split("/")
    if len(parts) > 2 or (require_namespace and len(parts) != 2):
        raise XtaError(f"invalid Hub repo id {repo_id!r}: expected 'ORG/NAME' (one '/')")
    try:
        hub_validate_repo_id(repo_id)
    except HFValidationError as exc:
        raise XtaError(f"invalid Hub repo id {repo_id!r}: {exc}") from None
    if not repo_id.isascii():
        raise XtaError(f"invalid Hub repo id {repo_id!r}: only ASCII letters, digits, '-', '_' and '.'")
    return repo_id


# --------------------------------------------------------------------------------------------------
# hashing
# --------------------------------------------------------------------------------------------------

_HASH_CACHE: dict[tuple[str, int, int], str] = {}
_HASH_CACHE_MAX = 4096


def sha256_file(path: PathLike, chunk_size: int = 1 << 20) -> str:
    """Hex SHA-256 of a file's bytes, cached per (resolved path, size, mtime_ns).

    Data files are hashed once per process even when every language of every setup records them; a
    file that changes (new size or mtime) is hashed again.
    """
    p = Path(path).resolve()
    try:
        st = p.stat()
    except FileNotFoundError:
        raise DataError("file not found", p) from None
    key = (str(p), st.st_size, st.st_mtime_ns)
    cached = _HASH_CACHE.get(key)
    if cached is not None:
        return cached
    h = hashlib.sha256()
    with open(p, "rb") as fh:
        while chunk := fh.read(chunk_size):
            h.update(chunk)
    digest = h.hexdigest()
    if len(_HASH_CACHE) >= _HASH_CACHE_MAX:
        _HASH_CACHE.clear()
    _HASH_CACHE[key] = digest
    return digest


def sha256_bytes(data: bytes) -> str:
    """Hex SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()
