"""The train stage in this process: which seeds it trains, keeps and removes."""

from __future__ import annotations

from pathlib import Path

import yaml

from alphabet_lstm.stages import encode, generate, train

FRAMING = {"dataset": {"kind": "sliding", "seq_length": 1}, "epochs": 2, "units": 4}


def run_train_stage(root: Path, seeds: list[int]) -> None:
    params = root / "params.yaml"
    params.write_text(yaml.safe_dump({"seeds": seeds, "framings": {"one_char": FRAMING}}))
    common = ["--params", str(params)]
    generate.main([*common, "--out-dir", str(root / "patterns")])
    encode.main([*common, "--patterns", str(root / "patterns"), "--out-dir", str(root / "encoded")])
    train.main(
        [
            *common,
            "--framing",
            "one_char",
            "--encoded",
            str(root / "encoded" / "one_char.npz"),
            "--models",
            str(root / "models"),
            "--history",
            str(root / "history"),
        ]
    )


def outputs(root: Path) -> dict[str, bytes]:
    return {
        f"{folder}/{path.name}": path.read_bytes()
        for folder in ("models", "history")
        for path in sorted((root / folder).iterdir())
    }


def test_a_seed_added_trains_alone_and_a_seed_dropped_loses_its_files(tmp_path: Path, capsys):
    run_train_stage(tmp_path, [7, 8])
    first = outputs(tmp_path)
    assert sorted(first) == ["history/seed7.csv", "history/seed8.csv", "models/seed7.npz", "models/seed8.npz"]
    capsys.readouterr()

    run_train_stage(tmp_path, [7, 9])
    log = capsys.readouterr().err
    assert "[one_char] 1 seed(s) already trained with these params and code: kept" in log
    assert "[one_char seed 9] trained in" in log and "seed 7] trained" not in log
    second = outputs(tmp_path)
    assert sorted(second) == ["history/seed7.csv", "history/seed9.csv", "models/seed7.npz", "models/seed9.npz"]
    assert {name: second[name] for name in ("history/seed7.csv", "models/seed7.npz")} == {
        name: first[name] for name in ("history/seed7.csv", "models/seed7.npz")
    }


def test_a_model_damaged_with_its_fingerprint_intact_is_trained_again_to_the_same_bytes(tmp_path: Path, capsys):
    import io
    import zipfile

    import numpy as np

    run_train_stage(tmp_path, [7])
    model = tmp_path / "models" / "seed7.npz"
    trained = model.read_bytes()
    # NaN in one weight, the metadata (and its fingerprint) as it was.
    with zipfile.ZipFile(io.BytesIO(trained)) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    bias = np.lib.format.read_array(io.BytesIO(members["dense_bias.npy"])).copy()
    bias[0] = np.nan
    member = io.BytesIO()
    np.lib.format.write_array(member, bias)
    members["dense_bias.npy"] = member.getvalue()
    with zipfile.ZipFile(model, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    capsys.readouterr()

    run_train_stage(tmp_path, [7])
    assert "[one_char seed 7] trained in" in capsys.readouterr().err
    assert model.read_bytes() == trained
