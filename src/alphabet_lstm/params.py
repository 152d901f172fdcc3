"""The params schema: params.yaml parsed once, at the edge, into typed frozen objects.

Every stage calls :func:`load_params` first. Unknown keys (with a did-you-mean for near
misses), keys written twice, wrong types (a bool is not a number) and values out of range
raise :class:`ParamsError`, whose message is one line per problem naming the key path as
written in params.yaml, the value given (as YAML writes it) and what is allowed.
"""

from __future__ import annotations

import difflib
import json
import re
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, ValidationError

from alphabet_lstm.alphabet import VOCABULARY_SIZE

# The longest input any dataset can hold: a window of 25 letters still has a next letter.
MAX_SEQUENCE_LENGTH = VOCABULARY_SIZE - 1
FRAMING_NAME_PATTERN = re.compile(r"[a-z][a-z0-9_]*")  # matched whole, with fullmatch


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
                [
                    f"framings.{_name(name)}: no such framing"
                    f"{_did_you_mean(name, self.framings)}; defined: "
                    f"{', '.join(map(_name, self.framings))}"
                ]
            )
        return self.framings[name]


_DATASET_MODELS: dict[str, type[BaseModel]] = {
    "sliding": SlidingDataset,
    "variable_length": VariableLengthDataset,
    "prefix_padded": PrefixPaddedDataset,
}
DATASET_KINDS = tuple(_DATASET_MODELS)
# Where a mapping holds entries the user names (framings, accuracies) or a list (seeds).
_NAMED_ENTRIES = {(Params, "framings"), (ReportParams, "tutorial_accuracy"), (Params, "seeds")}
_SHOWN_LENGTH = 60
_PLAIN_NAME = re.compile(r"[A-Za-z0-9_-]+")


def _show(value: Any, depth: int = 0) -> str:
    """A value the way YAML writes it (true, null, "text"), short and on one line."""
    if value is None:
        text = "null"
    elif isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, str):
        text = json.dumps(value, ensure_ascii=False)
    elif isinstance(value, (int, float)):
        text = repr(value)
    elif depth >= 2:
        # Deep (or, through YAML anchors, self-referencing) values are cut short.
        text = "{...}" if isinstance(value, dict) else "[...]"
    elif isinstance(value, dict):
        items = ", ".join(
            f"{key if isinstance(key, str) else _show(key, depth + 1)}: {_show(item, depth + 1)}"
            for key, item in list(value.items())[:8]
        )
        text = "{" + items + "}"
    elif isinstance(value, (list, tuple)):
        text = "[" + ", ".join(_show(item, depth + 1) for item in list(value)[:8]) + "]"
    else:
        text = repr(value)
    text = " ".join(text.split())
    return text if len(text) <= _SHOWN_LENGTH else text[: _SHOWN_LENGTH - 3] + "..."


def _name(key: Any) -> str:
    """A key as one part of a key path: plain names as they are, anything else quoted."""
    if isinstance(key, str) and _PLAIN_NAME.fullmatch(key):
        return key
    return _show(key)


def _choices(values) -> str:
    quoted = [f"'{value}'" for value in values]
    return quoted[0] if len(quoted) == 1 else f"{', '.join(quoted[:-1])} or {quoted[-1]}"


def _near_miss(word: Any, choices) -> str | None:
    """The choice a word is a near miss of (case-insensitive), if any."""
    if not isinstance(word, str):
        return None
    by_lower = {str(choice).lower(): str(choice) for choice in choices}
    close = difflib.get_close_matches(word.lower(), list(by_lower), n=1, cutoff=0.6)
    return by_lower[close[0]] if close else None


def _did_you_mean(word: Any, choices) -> str:
    """' (did you mean 'x'?)' for a near miss among choices, else ''."""
    near = _near_miss(word, choices)
    return f" (did you mean {_name(near)!r}?)" if near is not None else ""


def _bounds(metadata) -> str:
    lower = next((item.ge for item in metadata if hasattr(item, "ge")), None)
    upper = next((item.le for item in metadata if hasattr(item, "le")), None)
    if lower is not None and upper is not None:
        return f" from {lower} to {upper}"
    if lower is not None:
        return f" of at least {lower}"
    return ""


def _keys_text(model: type[BaseModel]) -> str:
    return f"a mapping with keys {', '.join(model.model_fields)}"


_SPECIAL_ALLOWED = {
    (Params, "seeds"): f"a list of one or more distinct whole numbers from 0 to {2**32 - 1}",
    (Params, "framings"): "a mapping of one or more framing names to framings",
    (ReportParams, "tutorial_accuracy"): "a mapping of framing names to numbers from 0 to 1",
    (FramingParams, "dataset"): (
        f"a mapping whose 'kind' is {_choices(DATASET_KINDS)}, with that kind's keys"
    ),
    (FramingParams, "batch_size"): "a whole number from 1 to the data set's size, or 'all'",
}
_ITEM_ALLOWED = {
    (Params, "seeds"): f"a whole number from 0 to {2**32 - 1}",
    (Params, "framings"): _keys_text(FramingParams),
    (ReportParams, "tutorial_accuracy"): "a number from 0 to 1",
}


def _field_allowed(model: type[BaseModel], name: str) -> str:
    """What a field of the schema accepts, in words."""
    if (model, name) in _SPECIAL_ALLOWED:
        return _SPECIAL_ALLOWED[(model, name)]
    field = model.model_fields[name]
    annotation = field.annotation
    if get_origin(annotation) is Literal:
        return _choices(get_args(annotation))
    if annotation is bool:
        return "true or false"
    if annotation is int:
        return "a whole number" + _bounds(field.metadata)
    if annotation is float:
        return "a number" + _bounds(field.metadata)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return _keys_text(annotation)
    return str(annotation)


def _field_choices(model: type[BaseModel] | None, name: str | None) -> tuple:
    """The words a field accepts, for did-you-mean hints."""
    if model is None or name not in model.model_fields:
        return ()
    if (model, name) == (FramingParams, "batch_size"):
        return ("all",)
    annotation = model.model_fields[name].annotation
    return get_args(annotation) if get_origin(annotation) is Literal else ()


class _Spot:
    """Where a pydantic error points: the key path as the user wrote it, and what is there.

    ``owner``/``field`` name the schema field at the end of the path; ``entry_of`` is set
    instead when the path ends at a user-named entry (a framing, a seed, an accuracy).
    """

    def __init__(self, location: tuple, error_type: str = ""):
        self.path: list[str] = []
        self.owner: type[BaseModel] | None = None
        self.field: str | None = None
        self.entry_of: tuple | None = None
        # pydantic ends the location of a mapping key that is not text with '[key]' (and
        # reports it as string_type: no field of the schema is free text).
        self.key_error = error_type == "string_type" and location[-1:] == ("[key]",)
        model: type[BaseModel] | None = Params
        container: tuple | None = None
        parts = list(location[:-1] if self.key_error else location)
        while parts:
            key = parts.pop(0)
            if isinstance(key, int) and container == (Params, "seeds"):
                self.path[-1] += f"[{key}]"
            else:
                self.path.append(_name(key))
            if container is not None:
                self.owner, self.field, self.entry_of = None, None, container
                model = FramingParams if container == (Params, "framings") else None
                container = None
                continue
            if model is None:
                return
            self.owner, self.field, self.entry_of = model, key, None
            if key not in model.model_fields:
                return
            if (model, key) in _NAMED_ENTRIES:
                container, model = (model, key), None
            elif (model, key) == (FramingParams, "dataset"):
                # pydantic adds the union member (the kind) after 'dataset'.
                model = _DATASET_MODELS.get(parts.pop(0)) if parts else None
            elif (model, key) == (FramingParams, "batch_size"):
                # pydantic adds the union member ('constrained-int', "literal['all']").
                return
            else:
                annotation = model.model_fields[key].annotation
                is_model = isinstance(annotation, type) and issubclass(annotation, BaseModel)
                model = annotation if is_model else None

    @property
    def text(self) -> str:
        return ".".join(self.path) or "(top level)"

    @property
    def allowed(self) -> str:
        if self.entry_of is not None:
            return _ITEM_ALLOWED[self.entry_of]
        if self.owner is None:
            return _keys_text(Params)
        if self.field not in self.owner.model_fields:
            return _keys_text(self.owner)
        return _field_allowed(self.owner, self.field)


def _describe_error(error: dict) -> str:
    """One line for one pydantic error: key path, value given, what is allowed."""
    spot = _Spot(tuple(error["loc"]), error["type"])
    kind = error["type"]
    given = error.get("input")
    if kind == "extra_forbidden":
        allowed = list(spot.owner.model_fields) if spot.owner else []
        unknown = f"{spot.text}: unknown key{_did_you_mean(spot.field, allowed)}"
        for tag, model in _DATASET_MODELS.items():
            if spot.owner is model:
                return f"{unknown}; a dataset of kind '{tag}' takes the keys {', '.join(allowed)}"
        return f"{unknown}; allowed keys: {', '.join(allowed)}"
    if spot.key_error or kind == "invalid_key":
        parent = spot.path if spot.key_error else spot.path[:-1]
        return f"{'.'.join(parent)}: got the key {_show(given)}; keys must be text"
    if kind == "missing":
        return f"{spot.text}: required key is missing; allowed: {spot.allowed}"
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        tag = given.get("kind") if isinstance(given, dict) else None
        allowed = f"allowed: {_choices(DATASET_KINDS)}"
        if kind == "union_tag_not_found":
            return f"{spot.text}.kind: required key is missing; {allowed}"
        return f"{spot.text}.kind: got {_show(tag)}{_did_you_mean(tag, DATASET_KINDS)}; {allowed}"
    hint = _did_you_mean(given, _field_choices(spot.owner, spot.field))
    return f"{spot.text}: got {_show(given)}{hint}; allowed: {spot.allowed}"


def _misspelt_locations(errors: list[dict]) -> set[tuple]:
    """Missing required keys that an unknown key beside them is a near miss of.

    A typo (``epoch:``) is one mistake; the unknown-key line already says "did you mean
    'epochs'?", so the missing ``epochs`` is not reported again.
    """
    missing = {tuple(error["loc"]) for error in errors if error["type"] == "missing"}
    explained = set()
    for error in errors:
        if error["type"] != "extra_forbidden":
            continue
        location = tuple(error["loc"])
        owner = _Spot(location).owner
        near = _near_miss(location[-1], owner.model_fields if owner else ())
        if near is not None and location[:-1] + (near,) in missing:
            explained.add(location[:-1] + (near,))
    return explained


def _cross_checks(params: Params) -> list[str]:
    """Checks that span several keys."""
    problems = []
    for name, framing in params.framings.items():
        prefix = f"framings.{_name(name)}"
        if not FRAMING_NAME_PATTERN.fullmatch(name):
            problems.append(
                f"{prefix}: framing name {_show(name)} is not allowed; use lower-case letters, "
                "digits and '_', starting with a letter"
            )
        size = framing.dataset.size
        batch_size = framing.resolved_batch_size
        if batch_size > size:
            problems.append(
                f"{prefix}.batch_size: got {batch_size}; allowed: a whole number from 1 to "
                f"{size} (the data set's size), or 'all'"
            )
        elif framing.stateful and size % batch_size != 0:
            divisors = [d for d in range(1, size + 1) if size % d == 0]
            problems.append(
                f"{prefix}.batch_size: got {batch_size}; allowed: a divisor of the data set's "
                f"{size} patterns ({', '.join(map(str, divisors))}) or 'all', because a stateful "
                "framing continues each batch's state in the next"
            )
        if framing.stateful and framing.shuffle:
            problems.append(
                f"{prefix}.shuffle: got true with stateful: true; allowed: false, because a "
                "stateful framing carries state from one batch to the next in order"
            )
    repeated = sorted({seed for seed in params.seeds if params.seeds.count(seed) > 1})
    if repeated:
        problems.append(
            f"seeds: got {_show(params.seeds)}; allowed: distinct seeds, but "
            f"{', '.join(map(str, repeated))} appears more than once"
        )
    for name in params.report.tutorial_accuracy:
        if name not in params.framings:
            problems.append(
                f"report.tutorial_accuracy.{_name(name)}: no framing of that name"
                f"{_did_you_mean(name, params.framings)}; allowed: the framings "
                f"{', '.join(map(_name, params.framings))}"
            )
    return problems


def parse_params(raw: Any, source: str = "params.yaml") -> Params:
    """Validate a parsed params mapping; ParamsError lists every problem, one per line."""
    if not isinstance(raw, dict):
        given = "an empty file" if raw is None else _show(raw)
        raise ParamsError([f"(top level): got {given}; allowed: {_keys_text(Params)}"], source)
    try:
        params = Params.model_validate(raw)
    except ValidationError as error:
        errors = error.errors()
        misspelt = _misspelt_locations(errors)
        problems = [_describe_error(e) for e in errors if tuple(e["loc"]) not in misspelt]
        # Union members fail one by one for one mistake; dict.fromkeys keeps one line.
        raise ParamsError(list(dict.fromkeys(problems)), source) from None
    problems = _cross_checks(params)
    if problems:
        raise ParamsError(problems, source)
    return params


class _DuplicateKey(yaml.YAMLError):
    """A key written twice in one mapping; the message gives both lines."""


_BOOL_TAG = "tag:yaml.org,2002:bool"
_BOOL_PATTERN = re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$")


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader, refusing a key written twice in one mapping, booleans as YAML 1.2.

    Plain PyYAML keeps the last of two ``epochs:`` lines without a word (a merge, ``<<``,
    may still be overridden, as YAML intends). It also reads yes/no/on/off as booleans
    (YAML 1.1), where DVC, which reads params.yaml too, sees text: here only true and
    false are booleans, so both see the same value.
    """

    yaml_implicit_resolvers = {
        first: [(tag, pattern) for tag, pattern in resolvers if tag != _BOOL_TAG]
        + ([(_BOOL_TAG, _BOOL_PATTERN)] if first in "tTfF" else [])
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            first_nodes: dict = {}  # key -> the key node that wrote it first
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    first = first_nodes.setdefault(key, key_node)
                except TypeError:
                    continue  # an unhashable key: the base loader reports it
                if first is not key_node:
                    raise _DuplicateKey(
                        f"line {key_node.start_mark.line + 1}: the key {_name(key)} is written "
                        f"twice in one mapping (first on line {first.start_mark.line + 1}); "
                        "allowed: each key once"
                    )
        return super().construct_mapping(node, deep=deep)


def load_params(path: str | Path = "params.yaml") -> Params:
    """Read and validate a params file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ParamsError(["file not found"], str(path)) from None
    except UnicodeDecodeError as error:
        raise ParamsError([f"not UTF-8 text: {error}"], str(path)) from None
    except OSError as error:
        raise ParamsError([f"cannot be read: {error.strerror or error}"], str(path)) from None
    try:
        raw = yaml.load(text, Loader=_UniqueKeyLoader)
    except _DuplicateKey as error:
        raise ParamsError([str(error)], str(path)) from None
    except yaml.YAMLError as error:
        raise ParamsError([f"not valid YAML: {' '.join(str(error).split())}"], str(path)) from None
    return parse_params(raw, str(path))
