"""The params schema: params.yaml parsed once, at the edge, into typed frozen objects.

Every stage calls :func:`load_params` first. Unknown keys, wrong types and values out of
range raise :class:`ParamsError`, whose message is one line per problem naming the key
path, the value given and what is allowed.
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path
from typing import Annotated, Any, Literal, Union

import yaml
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, ValidationError

from alphabet_lstm.alphabet import VOCABULARY_SIZE

# The longest input any dataset can hold: a window of 25 letters still has a next letter.
MAX_SEQUENCE_LENGTH = VOCABULARY_SIZE - 1
FRAMING_NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]*$")


class ParamsError(ValueError):
    """A params file that does not fit the schema. ``problems`` holds one line per error."""

    def __init__(self, problems: list[str], source: str = "params.yaml"):
        self.problems = problems
        self.source = source
        super().__init__("\n".join(f"{source}: {problem}" for problem in problems))


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class SlidingDataset(_Strict):
    """Every window of ``seq_length`` consecutive letters, predicting the next letter."""

    kind: Literal["sliding"]
    seq_length: Annotated[StrictInt, Field(ge=1, le=MAX_SEQUENCE_LENGTH)]

    @property
    def size(self) -> int:
        return VOCABULARY_SIZE - self.seq_length

    @property
    def input_length(self) -> int:
        return self.seq_length


class VariableLengthDataset(_Strict):
    """``num_inputs`` random contiguous runs of 1..max_len letters (tutorial framing 6)."""

    kind: Literal["variable_length"]
    num_inputs: Annotated[StrictInt, Field(ge=1, le=1_000_000)]
    max_len: Annotated[StrictInt, Field(ge=1, le=MAX_SEQUENCE_LENGTH)]
    seed: Annotated[StrictInt, Field(ge=0, le=2**32 - 1)] = 7

    @property
    def size(self) -> int:
        return self.num_inputs

    @property
    def input_length(self) -> int:
        return self.max_len


class PrefixPaddedDataset(_Strict):
    """Every prefix A..letter i, left zero-padded to 25, predicting letter i+1."""

    kind: Literal["prefix_padded"]

    @property
    def size(self) -> int:
        return MAX_SEQUENCE_LENGTH

    @property
    def input_length(self) -> int:
        return MAX_SEQUENCE_LENGTH


DatasetParams = Annotated[
    Union[SlidingDataset, VariableLengthDataset, PrefixPaddedDataset],
    Field(discriminator="kind"),
]


class FramingParams(_Strict):
    """One framing of the study: its dataset and how its LSTM is shaped and trained."""

    dataset: DatasetParams
    layout: Literal["timesteps", "features"] = "timesteps"
    stateful: StrictBool = False
    batch_size: Union[Annotated[StrictInt, Field(ge=1)], Literal["all"]] = 1
    epochs: Annotated[StrictInt, Field(ge=1, le=1_000_000)]
    units: Annotated[StrictInt, Field(ge=1, le=4096)]
    shuffle: StrictBool = True

    @property
    def resolved_batch_size(self) -> int:
        """The batch size as a number: ``all`` means the whole data set in one batch."""
        return self.dataset.size if self.batch_size == "all" else self.batch_size


class TrainParams(_Strict):
    """Settings shared by every training: which engine runs the tutorial's math."""

    engine: Literal["fast", "keras"] = "fast"


class ReportParams(_Strict):
    """What the report shows beside our results: the tutorial's reported accuracies."""

    tutorial_accuracy: dict[str, Annotated[float, Field(ge=0.0, le=1.0)]] = {}


class Params(_Strict):
    """The whole params.yaml."""

    seeds: Annotated[list[Annotated[StrictInt, Field(ge=0, le=2**32 - 1)]], Field(min_length=1)]
    train: TrainParams = TrainParams()
    report: ReportParams = ReportParams()
    framings: Annotated[dict[str, FramingParams], Field(min_length=1)]

    def framing(self, name: str) -> FramingParams:
        """The named framing; ParamsError listing the defined ones if it is not there."""
        if name not in self.framings:
            raise ParamsError(
                [f"framings.{name}: no such framing; defined: {', '.join(self.framings)}"]
            )
        return self.framings[name]


def _allowed_keys(model: type[BaseModel]) -> list[str]:
    return list(model.model_fields)


def _model_at(location: tuple) -> type[BaseModel] | None:
    """The schema model that owns the mapping at a pydantic error location, if known."""
    model: Any = Params
    index = 0
    while index < len(location):
        key = location[index]
        if model is Params and key == "framings" and index + 1 < len(location):
            model, index = FramingParams, index + 2
            continue
        if model is Params and key in ("train", "report"):
            model, index = {"train": TrainParams, "report": ReportParams}[key], index + 1
            continue
        if model is FramingParams and key == "dataset" and index + 1 < len(location):
            tag = location[index + 1]
            model = {
                "sliding": SlidingDataset,
                "variable_length": VariableLengthDataset,
                "prefix_padded": PrefixPaddedDataset,
            }.get(tag)
            index += 2
            continue
        return None if index < len(location) else model
    return model


_DATASET_TAGS = ("sliding", "variable_length", "prefix_padded")


def _user_key_path(location: tuple) -> list[str]:
    """The key path as the user wrote it, without the union members pydantic adds."""
    parts: list[str] = []
    for part in location:
        if parts and parts[-1] == "dataset" and part in _DATASET_TAGS:
            continue
        if parts and parts[-1] == "batch_size":
            continue
        parts.append(str(part))
    return parts


def _describe_error(error: dict) -> str:
    location = tuple(error["loc"])
    kind = error["type"]
    path = ".".join(_user_key_path(location)) or "(top level)"
    given = error.get("input")
    if kind == "extra_forbidden":
        owner = _model_at(location[:-1])
        allowed = _allowed_keys(owner) if owner else []
        key = str(location[-1])
        hint = difflib.get_close_matches(key, allowed, n=1)
        suggestion = f"; did you mean '{hint[0]}'?" if hint else ""
        return f"{path}: unknown key{suggestion} allowed keys: {', '.join(allowed)}"
    if kind == "missing":
        return f"{path}: required key is missing"
    if kind == "union_tag_invalid":
        expected = error.get("ctx", {}).get("expected_tags", "")
        return f"{path}.kind: got {error['ctx'].get('tag')!r}; allowed: {expected}"
    if kind == "union_tag_not_found":
        return f"{path}.kind: required key is missing; allowed: sliding, variable_length, prefix_padded"
    if kind == "literal_error":
        expected = error.get("ctx", {}).get("expected", "")
        return f"{path}: got {given!r}; allowed: {expected}"
    message = error["msg"]
    # Unions report one error per member; name the whole choice instead.
    if path.endswith(".batch_size"):
        return f"{path}: got {given!r}; allowed: a whole number >= 1, or 'all'"
    return f"{path}: got {given!r}; {message.lower()}"


def _cross_checks(params: Params) -> list[str]:
    """Checks that span several keys of one framing."""
    problems = []
    for name, framing in params.framings.items():
        prefix = f"framings.{name}"
        if not FRAMING_NAME_PATTERN.match(name):
            problems.append(
                f"{prefix}: framing name {name!r} is not allowed; use lower-case letters, "
                "digits and '_', starting with a letter"
            )
        size = framing.dataset.size
        batch_size = framing.resolved_batch_size
        if batch_size > size:
            problems.append(
                f"{prefix}.batch_size: got {framing.batch_size}; must be at most the data "
                f"set size {size} (or 'all')"
            )
        if framing.stateful and size % batch_size != 0:
            divisors = [d for d in range(1, size + 1) if size % d == 0]
            problems.append(
                f"{prefix}.batch_size: got {framing.batch_size}; a stateful framing needs a "
                f"batch size that divides its {size} patterns: one of "
                f"{', '.join(map(str, divisors))}"
            )
        if framing.stateful and framing.shuffle:
            problems.append(
                f"{prefix}.shuffle: got true; a stateful framing carries state from one batch "
                "to the next in order, so shuffle must be false"
            )
    if len(set(params.seeds)) != len(params.seeds):
        problems.append(f"seeds: got {params.seeds}; each seed may appear only once")
    return problems


def parse_params(raw: Any, source: str = "params.yaml") -> Params:
    """Validate a parsed params mapping; ParamsError lists every problem, one per line."""
    if not isinstance(raw, dict):
        raise ParamsError([f"(top level): got {type(raw).__name__}; must be a mapping"], source)
    try:
        params = Params.model_validate(raw)
    except ValidationError as error:
        problems = list(dict.fromkeys(_describe_error(e) for e in error.errors()))
        raise ParamsError(problems, source) from None
    problems = _cross_checks(params)
    if problems:
        raise ParamsError(problems, source)
    return params


def load_params(path: str | Path = "params.yaml") -> Params:
    """Read and validate a params file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ParamsError(["file not found"], str(path)) from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ParamsError([f"not valid YAML: {error}".replace("\n", " ")], str(path)) from None
    return parse_params(raw, str(path))
