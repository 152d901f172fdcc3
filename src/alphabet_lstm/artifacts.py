"""Reading and writing the pipeline's files, atomically and byte-for-byte reproducibly.

Every writer goes to a temporary file beside the target and renames it into place only
when the whole file is written, so an interrupted stage never leaves a half-written file;
a directory of files (the reports) is published the same way, whole or not at all.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from alphabet_lstm.alphabet import VOCABULARY_SIZE, EncodedDataset
from alphabet_lstm.errors import UsageError
from alphabet_lstm.model.lstm import LSTMWeights, ModelSpec

if TYPE_CHECKING:
    from alphabet_lstm.params import FramingParams

# A fixed timestamp inside .npz archives keeps the same arrays the same bytes.
_ZIP_TIMESTAMP = (2020, 1, 1, 0, 0, 0)
# Where DVC makes an experiment's temporary or queued copy of the checkout.
_EXPERIMENT_COPY_MARKER = os.sep + os.path.join(".dvc", "tmp", "exps") + os.sep


def main_checkout_root(start: Path | None = None) -> Path:
    """The main checkout, also when running inside a DVC experiment's temporary copy."""
    start = (start or Path.cwd()).resolve()
    text = str(start) + os.sep
    if _EXPERIMENT_COPY_MARKER in text:
        return Path(text.split(_EXPERIMENT_COPY_MARKER)[0])
    for candidate in [start, *start.parents]:
        if (candidate / "dvc.yaml").exists() and (candidate / ".dvc").is_dir():
            return candidate
    return start


def seed_file(directory: str | Path, seed: int, suffix: str) -> Path:
    """A per-seed output inside a framing's directory: ``models/stateful/seed7.npz``."""
    return Path(directory) / f"seed{seed}{suffix}"


def write_bytes(path: str | Path, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
        # mkstemp creates the file private (0600); outputs are ordinary files, readable by all.
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    finally:
        Path(temporary).unlink(missing_ok=True)


def write_text(path: str | Path, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


def to_json(value) -> str:
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def content_key(value) -> str:
    """sha256 of a value's stable JSON: names a training, summary or sweep by content, found again if logged twice."""
    return hashlib.sha256(to_json(value).encode()).hexdigest()


def training_key(framing: FramingParams, *, seed: int, engine: str, **digests: str) -> str:
    """sha256 naming one training by its framing's params, seed, engine and digests of what else
    defines it (data, code, weights): the one key the train stage, MLflow runs and sweeps use."""
    return content_key({"framing": framing.model_dump(mode="json"), "seed": seed, "engine": engine, **digests})


def write_json(path: str | Path, value) -> None:
    write_text(path, to_json(value))


def read_json(path: str | Path):
    return json.loads(Path(path).read_text(encoding="utf-8"))


def _npz_bytes(arrays: dict[str, np.ndarray], metadata: dict) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, array in arrays.items():
            member = io.BytesIO()
            np.lib.format.write_array(member, np.ascontiguousarray(array), allow_pickle=False)
            archive.writestr(zipfile.ZipInfo(f"{name}.npy", _ZIP_TIMESTAMP), member.getvalue())
        archive.writestr(zipfile.ZipInfo("metadata.json", _ZIP_TIMESTAMP), to_json(metadata))
    return buffer.getvalue()


def _read_npz(path: str | Path) -> tuple[dict[str, np.ndarray], dict]:
    with zipfile.ZipFile(path) as archive:
        metadata = json.loads(archive.read("metadata.json"))
        arrays = {
            name[: -len(".npy")]: np.lib.format.read_array(io.BytesIO(archive.read(name)))
            for name in archive.namelist()
            if name.endswith(".npy")
        }
    return arrays, metadata


def encoded_bytes(dataset: EncodedDataset, framing: str, dataset_kind: str) -> bytes:
    """An encoded data set's .npz: arrays plus its framing, layout, padded length, shapes and
    vocabulary (the encode stage's file; a sweep digests the same bytes)."""
    metadata = {
        "framing": framing,
        "dataset_kind": dataset_kind,
        "layout": dataset.layout,
        "input_length": dataset.input_length,
        "inputs_shape": list(dataset.inputs.shape),
        "targets_shape": list(dataset.targets.shape),
        "vocabulary": "ABCDEFGHIJKLMNOPQRSTUVWXYZ",
        "padding": "left, code 0, then scaled by 1/26",
    }
    arrays = {name: getattr(dataset, name) for name in ("inputs", "targets", "target_codes")}
    return _npz_bytes(arrays, metadata)


def load_encoded(path: str | Path) -> tuple[EncodedDataset, dict]:
    arrays, metadata = _read_npz(path)
    return EncodedDataset(**arrays, layout=metadata["layout"], input_length=metadata["input_length"]), metadata


# Format 2: the spec carries the query lengths a model takes (format 1 carried the kind's name).
MODEL_FORMAT = "alphabet-lstm/2"


def save_model(path: str | Path, weights: LSTMWeights, spec: ModelSpec, *, fingerprint: str = "") -> None:
    """Weights plus the spec that says how to feed them, and the ``fingerprint`` of the
    training that made them: a later run of the same training keeps the file."""
    metadata = {"spec": spec.to_dict(), "format": MODEL_FORMAT, "fingerprint": fingerprint}
    write_bytes(path, _npz_bytes(dict(zip(LSTMWeights.NAMES, weights.as_list())), metadata))


class DamagedModelError(UsageError):
    """A model file that cannot be used as it is: not a zip, an array or its metadata
    missing, a weight mis-shaped or not finite. DVC's cache holds the trained one."""

    def __init__(self, path: str | Path, problem: str) -> None:
        super().__init__(f"{path}: damaged model ({problem}); `dvc checkout --force {path}` restores the trained one")


def load_model(path: str | Path) -> tuple[LSTMWeights, ModelSpec]:
    """The weights and spec of a saved model, checked whole: DamagedModelError names the
    file and what is wrong with it, a UsageError a model of another version."""
    return _load_checked_model(path)[:2]


def intact_model_fingerprint(path: str | Path) -> str | None:
    """The training fingerprint of the model at ``path``; None if it has none or is damaged."""
    try:
        return _load_checked_model(path)[2] or None
    except UsageError:
        return None


def _load_checked_model(path: str | Path) -> tuple[LSTMWeights, ModelSpec, str]:
    try:
        arrays, metadata = _read_npz(path)
    except (zipfile.BadZipFile, OSError, EOFError):
        raise DamagedModelError(path, "not a readable zip archive") from None
    except KeyError:
        raise DamagedModelError(path, "metadata.json is missing") from None
    except ValueError as error:  # the metadata is no JSON, or an array's header is damaged
        raise DamagedModelError(path, f"unreadable content: {error}") from None
    if not isinstance(metadata, dict):
        raise DamagedModelError(path, "metadata.json holds no object")
    if metadata.get("format") != MODEL_FORMAT:
        raise UsageError(
            f"{path} was saved in format {metadata.get('format')!r}, and this version reads {MODEL_FORMAT!r}: "
            "train it again (`dvc repro`)"
        )
    try:
        spec = ModelSpec.from_dict(metadata["spec"])
    except (KeyError, TypeError):
        raise DamagedModelError(path, "metadata.json has no complete spec") from None
    missing = [f"{name}.npy" for name in LSTMWeights.NAMES if name not in arrays]
    if missing:
        raise DamagedModelError(path, f"{', '.join(missing)} missing")
    gates, letters = 4 * spec.units, VOCABULARY_SIZE
    shapes = [(spec.features, gates), (spec.units, gates), (gates,), (spec.units, letters), (letters,)]
    for name, shape in zip(LSTMWeights.NAMES, shapes):
        array = arrays[name]
        if array.shape != shape:
            raise DamagedModelError(path, f"{name} has shape {array.shape}, the spec makes it {shape}")
        if array.dtype.kind != "f" or not np.isfinite(array).all():
            raise DamagedModelError(path, f"{name} holds values that are not finite numbers")
    weights = LSTMWeights.from_list([arrays[name] for name in LSTMWeights.NAMES])
    return weights, spec, metadata.get("fingerprint", "")


def file_md5(path: str | Path) -> str:
    """The md5 DVC records for a file (DVC 3 hashes the bytes as they are)."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "md5").hexdigest()


def weights_md5(weights: LSTMWeights) -> str:
    """md5 of the weight arrays' dtypes, shapes and bytes, whether or not they were saved to a file."""
    digest = hashlib.md5()
    for array in weights.as_list():
        digest.update(str((array.dtype.str, array.shape)).encode())
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()


def publish_directory(out_dir: str | Path, files: dict[str, bytes]) -> None:
    """Make ``out_dir`` hold exactly ``files`` (relative path -> bytes), or leave it as it was: staged beside
    it (same file system), renamed into place once whole; an earlier one is moved aside, then deleted."""
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out_dir.parent, prefix=f".{out_dir.name}.") as scratch:
        staging, previous = Path(scratch, "new"), Path(scratch, "old")
        # mkdir (unlike mkdtemp) honours the umask, so the published directory is readable.
        staging.mkdir()
        for name, data in files.items():
            target = staging / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        if out_dir.exists():
            os.replace(out_dir, previous)
        try:
            os.replace(staging, out_dir)
        except BaseException:
            if previous.exists():
                os.replace(previous, out_dir)
            raise
