"""toolkit.io: atomic writes, safetensors-only loading (pickles refused, never executed), safe names."""

from __future__ import annotations

import hashlib
import json
import os
import pickle

import pytest
import torch

from toolkit import io
from toolkit.errors import DataError, UnsafeFileError, XtaError

# --------------------------------------------------------------------------------------------------
# atomic writes
# --------------------------------------------------------------------------------------------------


def test_atomic_write_text_and_json(tmp_path):
    p = io.atomic_write_text(tmp_path / "sub" / "a.txt", "héllo")
    assert p.read_text(encoding="utf-8") == "héllo"
    io.atomic_write_json(tmp_path / "b.json", {"z": 1, "a": [1, 2]})
    assert json.loads((tmp_path / "b.json").read_text()) == {"z": 1, "a": [1, 2]}
    assert (tmp_path / "b.json").read_text().index('"a"') < (tmp_path / "b.json").read_text().index('"z"')
    assert sorted(x.name for x in tmp_path.iterdir()) == ["b.json", "sub"]


def test_atomic_write_failure_keeps_old_content_and_leaves_no_temp(tmp_path, monkeypatch):
    target = tmp_path / "r.json"
    io.atomic_write_json(target, {"v": 1})

    def boom(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(io.os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        io.atomic_write_json(target, {"v": 2})
    monkeypatch.undo()
    assert json.loads(target.read_text()) == {"v": 1}
    assert [x.name for x in tmp_path.iterdir()] == ["r.json"]


def test_atomic_write_json_unserialisable_writes_nothing(tmp_path):
    with pytest.raises(TypeError):
        io.atomic_write_json(tmp_path / "x.json", {"obj": object()})
    assert list(tmp_path.iterdir()) == []


def test_atomic_dir_success_and_overwrite(tmp_path):
    final = tmp_path / "adapters" / "mnli"
    with io.atomic_dir(final) as tmp:
        assert tmp.parent == final.parent and tmp != final
        (tmp / "adapter_config.json").write_text("{}")
        assert not final.exists()  # nothing visible until the block ends
    assert (final / "adapter_config.json").read_text() == "{}"
    with io.atomic_dir(final) as tmp:
        (tmp / "new.txt").write_text("2")
    assert sorted(x.name for x in final.iterdir()) == ["new.txt"]
    assert [x.name for x in final.parent.iterdir()] == ["mnli"]  # no temp or old dirs left


def test_atomic_dir_exception_leaves_nothing(tmp_path):
    final = tmp_path / "out"
    with pytest.raises(RuntimeError):
        with io.atomic_dir(final) as tmp:
            (tmp / "half.bin").write_bytes(b"xx")
            raise RuntimeError("killed")
    assert list(tmp_path.iterdir()) == []
    # an existing directory survives a failed rewrite untouched
    with io.atomic_dir(final) as tmp:
        (tmp / "good.txt").write_text("ok")
    with pytest.raises(RuntimeError):
        with io.atomic_dir(final) as tmp:
            (tmp / "bad.txt").write_text("no")
            raise RuntimeError("killed")
    assert sorted(x.name for x in final.iterdir()) == ["good.txt"]
    assert [x.name for x in tmp_path.iterdir()] == ["out"]


def test_atomic_dir_no_overwrite(tmp_path):
    (tmp_path / "d").mkdir()
    with pytest.raises(XtaError, match="already exists"):
        with io.atomic_dir(tmp_path / "d", overwrite=False):
            pass


# --------------------------------------------------------------------------------------------------
# safetensors
# --------------------------------------------------------------------------------------------------


def _tensors():
    return {"w": torch.arange(6, dtype=torch.float32).reshape(2, 3), "b": torch.tensor([1, 2], dtype=torch.int64)}


def test_safetensors_roundtrip_with_metadata(tmp_path):
    p = io.save_safetensors_atomic(_tensors(), tmp_path / "m.safetensors", {"task": "xnli"})
    loaded = io.load_safetensors(p)
    assert set(loaded) == {"w", "b"}
    assert torch.equal(loaded["w"], _tensors()["w"]) and torch.equal(loaded["b"], _tensors()["b"])
    assert io.safetensors_metadata(p) == {"task": "xnli"}
    with pytest.raises(XtaError, match="metadata must map str to str"):
        io.save_safetensors_atomic(_tensors(), tmp_path / "n.safetensors", {"epochs": 3})
    assert not (tmp_path / "n.safetensors").exists()


class _Bomb:
    """Unpickling this creates ``marker`` (the payload a malicious 'weights' file would carry)."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_pickle_posing_as_safetensors_is_refused_and_never_executed(tmp_path):
    marker = tmp_path / "PWNED"
    fake = tmp_path / "adapter_model.safetensors"
    fake.write_bytes(pickle.dumps({"weight": _Bomb(marker)}, protocol=4))
    with pytest.raises(UnsafeFileError, match="refusing to unpickle .*xta only loads safetensors"):
        io.load_safetensors(fake)
    assert not marker.exists()
    # the payload is live: plain pickle would have run it
    pickle.loads(fake.read_bytes())["weight"].close()
    assert marker.exists()


def test_torch_save_archives_are_refused(tmp_path):
    marker = tmp_path / "PWNED"
    new = tmp_path / "zip.safetensors"
    torch.save({"w": torch.zeros(2), "evil": _Bomb(marker)}, new)
    assert new.read_bytes()[:2] == b"PK"
    with pytest.raises(UnsafeFileError, match="torch zip archive"):
        io.load_safetensors(new)
    legacy = tmp_path / "legacy.bin"
    torch.save({"w": torch.zeros(2)}, legacy, _use_new_zipfile_serialization=False)
    with pytest.raises(UnsafeFileError, match="refusing to unpickle pickle file"):
        io.load_safetensors(legacy)
    assert not marker.exists()


@pytest.mark.parametrize("cut", [1, 17, 100])
def test_truncated_safetensors_gives_clear_error(tmp_path, cut):
    p = io.save_safetensors_atomic(_tensors(), tmp_path / "t.safetensors")
    data = p.read_bytes()
    p.write_bytes(data[: len(data) - cut])
    with pytest.raises(DataError, match=r"t\.safetensors: .*truncated") as err:
        io.load_safetensors(p)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    "content, match",
    [
        (b"", "too short"),
        (b"abc", "too short"),
        (b"hello world, this is text", "not a safetensors file"),
        (b"\x93NUMPY\x01\x00rest", "NumPy"),
        ((8).to_bytes(8, "little") + b"[1,2,3] ", "not a JSON object"),
    ],
)
def test_foreign_files_give_clear_error(tmp_path, content, match):
    p = tmp_path / "x.safetensors"
    p.write_bytes(content)
    with pytest.raises((DataError, UnsafeFileError), match=match):
        io.load_safetensors(p)


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="file not found"):
        io.load_safetensors(tmp_path / "nope.safetensors")


def test_load_safetensors_never_calls_torch_load(tmp_path, monkeypatch):
    def forbidden(*a, **k):
        raise AssertionError("torch.load/pickle must not be called")

    monkeypatch.setattr(torch, "load", forbidden)
    monkeypatch.setattr(pickle, "load", forbidden)
    monkeypatch.setattr(pickle, "loads", forbidden)
    p = io.save_safetensors_atomic(_tensors(), tmp_path / "ok.safetensors")
    assert torch.equal(io.load_safetensors(p)["w"], _tensors()["w"])


# --------------------------------------------------------------------------------------------------
# names
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["xnli", "lang_de", "squad_v1", "mnli.v2", "a-b", "lang_{lang}", "x" * 128])
def test_safe_names_accepted(name):
    assert io.safe_name(name) == name


@pytest.mark.parametrize(
    "name",
    ["", ".", "..", "../x", "..\\x", "/etc/passwd", "a/b", "a\\b", ".hidden", "a\x00b", "a\nb", " a", "a ",
     "C:evil", "x" * 129, "a|b", None],
)  # fmt: skip
def test_unsafe_names_refused(name):
    with pytest.raises(XtaError, match="invalid adapter name") as err:
        io.safe_name(name, "adapter")
    assert "\n" not in str(err.value).replace("\\n", "")


@pytest.mark.parametrize("repo_id", ["xta-org/xnli-adapter", "Org123/Name_1.v2", "a/b", "o/" + "n" * 96])
def test_repo_ids_accepted(repo_id):
    assert io.validate_repo_id(repo_id) == repo_id


@pytest.mark.parametrize(
    "repo_id, match",
    [
        ("noslash", "one '/'"),
        ("a/b/c", "one '/'"),
        ("", "expected 'ORG/NAME'"),
        ("org/naïve", "only ASCII"),  # xta's own rule on top of the Hub's
    ],
)
def test_repo_ids_refused(repo_id, match):
    with pytest.raises(XtaError, match=match):
        io.validate_repo_id(repo_id)


@pytest.mark.parametrize("repo_id", ["-org/x", "org/x-", "org/.x", "org/a--b", "org/a..b", "org/x.git", "org/" + "n" * 97,
                                     "org/na me", "../etc", "org/a\x00b"])
def test_repo_ids_follow_the_hubs_own_rules(repo_id):
    """Issue 18: huggingface_hub's validator decides, and its message is shown."""
    from huggingface_hub.utils import HFValidationError
    from huggingface_hub.utils import validate_repo_id as official

    with pytest.raises(HFValidationError) as hub:
        official(repo_id)
    with pytest.raises(XtaError) as ours:
        io.validate_repo_id(repo_id)
    assert str(hub.value) in str(ours.value) and str(ours.value).startswith("invalid Hub repo id")


def test_repo_id_without_namespace_when_allowed():
    assert io.validate_repo_id("xnli-adapter", require_namespace=False) == "xnli-adapter"


# --------------------------------------------------------------------------------------------------
# hashing
# --------------------------------------------------------------------------------------------------


def test_sha256_file_and_cache(tmp_path):
    p = tmp_path / "data.tsv"
    p.write_bytes(b"abc")
    expected = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"  # FIPS 180-2 test vector
    assert io.sha256_file(p) == expected
    st = p.stat()
    assert io._HASH_CACHE[(str(p.resolve()), st.st_size, st.st_mtime_ns)] == expected
    p.write_bytes(b"abcd")
    os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    assert io.sha256_file(p) == hashlib.sha256(b"abcd").hexdigest()
    with pytest.raises(DataError, match="file not found"):
        io.sha256_file(tmp_path / "missing")


def test_atomic_writes_get_normal_permissions(tmp_path):
    umask = io._umask()
    p = io.atomic_write_text(tmp_path / "r.json", "{}")
    assert p.stat().st_mode & 0o777 == 0o666 & ~umask  # not mkstemp's 0600
    os.chmod(p, 0o640)
    io.atomic_write_text(p, "{1}")
    assert p.stat().st_mode & 0o777 == 0o640  # an existing file keeps its mode
    with io.atomic_dir(tmp_path / "d") as tmp:
        (tmp / "f").write_text("x")
    assert (tmp_path / "d").stat().st_mode & 0o777 == 0o777 & ~umask


# ------------------------------------------------------------- temp folders a kill leaves (issue 18)

_KILL_IN_SAVE = """
import os, signal, sys
from pathlib import Path
from toolkit import io

final, mode = Path(sys.argv[1]), sys.argv[2]
if mode == "between-renames":  # die right after the old folder was renamed aside, before the new one moves in
    real = os.replace
    def replace(src, dst):
        real(src, dst)
        if ".old-" in str(dst):
            os.kill(os.getpid(), signal.SIGKILL)
    os.replace = replace
with io.atomic_dir(final) as tmp:
    (tmp / "weights").write_text("new")
    if mode == "inside":
        os.kill(os.getpid(), signal.SIGKILL)
"""


def _kill_during_save(final, mode: str) -> None:
    import signal
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(repo)}
    done = subprocess.run([sys.executable, "-c", _KILL_IN_SAVE, str(final), mode], env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == -signal.SIGKILL, done.stderr


def test_a_save_killed_inside_atomic_dir_is_cleaned_at_the_next_start(tmp_path):
    final = tmp_path / "adapters" / "adp"
    final.mkdir(parents=True)
    (final / "weights").write_text("old")
    _kill_during_save(final, "inside")
    debris = [p for p in final.parent.iterdir() if p.name != "adp"]
    assert len(debris) == 1 and debris[0].name.startswith(".adp.") and debris[0].name.endswith(".tmp")
    done = io.clean_stale_temps(final.parent)
    assert len(done) == 1 and "removed" in done[0]
    assert sorted(p.name for p in final.parent.iterdir()) == ["adp"] and (final / "weights").read_text() == "old"


def test_a_kill_between_the_renames_restores_the_previous_folder(tmp_path):
    final = tmp_path / "adapters" / "adp"
    final.mkdir(parents=True)
    (final / "weights").write_text("old")
    _kill_during_save(final, "between-renames")
    assert not final.exists()  # the previous adapter sits under .adp.old-..., the new one under .adp....tmp
    done = io.clean_stale_temps(final.parent)
    assert any("restored adp" in line for line in done), done
    assert sorted(p.name for p in final.parent.iterdir()) == ["adp"] and (final / "weights").read_text() == "old"


def test_clean_stale_temps_leaves_live_and_foreign_saves_alone(tmp_path):
    import subprocess
    import sys
    import time

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    host = io._host_tag()
    names = {f".a.{host}-{dead.pid}.x1y2.tmp": False,  # the kept expectation: False = removed
             f".b.{host}-{os.getpid()}.x1y2.tmp": True,  # this process: still saving
             f".c.ffffff-{dead.pid}.x1y2.tmp": host != "ffffff",  # another host's save
             ".d.legacy12.tmp": True, ".e.legacy34.tmp": False,  # without an owner: removed once an hour old
             f".f.old-{host}-{dead.pid}-0123abcd": False, "g": True, ".hidden": True}
    for name in names:
        (tmp_path / name).mkdir()
    (tmp_path / "f").mkdir()  # f exists: its old copy is garbage
    old = time.time() - 2 * io.LEGACY_TEMP_AGE_S
    os.utime(tmp_path / ".e.legacy34.tmp", (old, old))
    io.clean_stale_temps(tmp_path)
    kept = {p.name for p in tmp_path.iterdir()}
    assert kept == {n for n, keep in names.items() if keep} | {"f"}
