"""Saving and loading architecture weights as safetensors: no pickle, so no code runs on load."""
from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from .architectures import FusionArchitecture

FORMAT_VERSION = '1'
#: Metadata save_weights writes from the model itself; a file made from another never copies them.
MODEL_OWN_METADATA = ('format_version', 'architecture', 'config')


class WeightsError(ValueError):
    """A weights file that cannot be used for the requested model; the message names the file."""


def config_json(model: FusionArchitecture) -> str:
    return json.dumps(dataclasses.asdict(model.config), sort_keys=True)


def save_weights(model: FusionArchitecture, path: str | Path, extra_metadata: dict[str, str] | None = None) -> None:
    """Writes the model's tensors with its architecture key and full config as metadata."""
    tensors = {name: t.detach().contiguous().cpu() for name, t in model.state_dict().items()}
    metadata = {'format_version': FORMAT_VERSION, 'architecture': model.key, 'config': config_json(model),
                **(extra_metadata or {})}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Written beside and renamed, so the file is whole or absent: a run that resumes by the file's
    # existence (tools/train_in_an_hour.sh) or a process that waits for another's checkpoint never
    # reads a torn one.
    partial = path.with_name(f'.{path.name}.{os.getpid()}.partial')
    try:
        save_file(tensors, str(partial), metadata=metadata)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


def fitted_metadata(source: str | Path, key: str, record: dict) -> dict[str, str]:
    """Metadata for weights made from ``source`` by a further fit (tools/fit_freeze.py,
    tools/fit_reflex.py): the source's own training records, plus ``key``: ``record`` as JSON."""
    kept = {k: v for k, v in read_metadata(source).items() if k not in MODEL_OWN_METADATA}
    return {**kept, key: json.dumps(record)}


def continued_metadata(earlier: dict[str, str], training: dict) -> dict[str, str]:
    """Metadata for weights trained on from an init whose metadata is ``earlier``
    (``sensor-fusion train --init``): its records of the steps that made it (e.g. ``pathways_graft``)
    kept, and ``training_stages``, its stages with ``training`` (this run's settings) appended, so a
    shipped file names its whole recipe, not only its last run. ``training`` itself is the last
    stage, as for any run."""
    if 'training_stages' in earlier:
        stages = json.loads(earlier['training_stages'])
    else:   # weights from one run (or none, e.g. a graft of untrained weights): its record, if any
        stages = [json.loads(earlier['training'])] if 'training' in earlier else []
    kept = {k: v for k, v in earlier.items() if k not in (*MODEL_OWN_METADATA, 'training', 'training_stages')}
    return {**kept, 'training': json.dumps(training), 'training_stages': json.dumps([*stages, training])}


def read_metadata(path: str | Path) -> dict[str, str]:
    try:
        with safe_open(str(path), framework='pt') as f:
            return dict(f.metadata() or {})
    except FileNotFoundError:
        raise WeightsError(f'{path}: no such weights file') from None
    except Exception as error:   # safetensors raises its own error types for corrupt headers
        raise WeightsError(f'{path}: not a readable safetensors file ({error})') from None


def _same_config(saved: str | None, model: FusionArchitecture) -> bool:
    """Whether the file's config is the model's. A file written before a config field existed lacks
    that field; it is read with the field's default, which by rule keeps the earlier behaviour
    (e.g. ``preprocess.proprio_velocities`` defaults to True, what every earlier model saw)."""
    if saved == config_json(model):
        return True
    try:
        completed = type(model.config).from_dict(json.loads(saved))
    except Exception:           # unreadable, or a field this version does not know: not the same
        return False
    return json.dumps(dataclasses.asdict(completed), sort_keys=True) == config_json(model)


def _metadata_for(model: FusionArchitecture, path: str | Path) -> dict[str, str]:
    """The file's metadata, after checking it holds weights of ``model``'s architecture."""
    metadata = read_metadata(path)
    if metadata.get('architecture') != model.key:
        raise WeightsError(f'{path}: weights are for architecture {metadata.get("architecture")!r}, '
                           f'not {model.key!r}')
    return metadata


def _read_tensors(path: str | Path) -> dict[str, torch.Tensor]:
    try:
        with safe_open(str(path), framework='pt') as f:
            return {name: f.get_tensor(name) for name in f.keys()}
    except Exception as error:
        raise WeightsError(f'{path}: cannot read tensors ({error})') from None


def load_weights(model: FusionArchitecture, path: str | Path, check_config: bool = True) -> dict[str, str]:
    """Loads ``path`` into ``model`` after checking architecture, config and every tensor shape.

    ``check_config=False`` accepts weights saved under another config whose tensors have the same
    names and shapes (training's ``--init`` now uses :func:`load_matching_weights`, which also takes
    a subset).

    Returns the file's metadata. Raises :class:`WeightsError` naming the file and the problem;
    ``model`` is left unchanged on any error.
    """
    metadata = _metadata_for(model, path)
    if check_config and not _same_config(metadata.get('config'), model):
        raise WeightsError(f'{path}: weights were trained with another {type(model.config).__name__}; '
                           f'file has {metadata.get("config")}')
    tensors = _read_tensors(path)
    expected = model.state_dict()
    missing, unexpected = sorted(set(expected) - set(tensors)), sorted(set(tensors) - set(expected))
    if missing or unexpected:
        raise WeightsError(f'{path}: tensor names differ from the model: missing {missing}, unexpected {unexpected}')
    for name, tensor in tensors.items():
        if tensor.shape != expected[name].shape:
            raise WeightsError(f'{path}: tensor {name} has shape {tuple(tensor.shape)}, model expects '
                               f'{tuple(expected[name].shape)}')
        if tensor.is_floating_point() and not torch.isfinite(tensor).all():
            raise WeightsError(f'{path}: tensor {name} contains NaN or inf')
    model.load_state_dict(tensors, strict=True)
    return metadata


def load_matching_weights(model: FusionArchitecture, path: str | Path) -> list[str]:
    """Training's ``--init``: loads every tensor of ``path`` whose name and shape ``model`` shares,
    whatever config it was saved under, and returns the names of the model's tensors left as
    initialised (a part the earlier model lacked, e.g. NVSF-A's goal pathway). Raises
    :class:`WeightsError` for another architecture, an unreadable file, a NaN, or no tensor in common."""
    _metadata_for(model, path)                          # the architecture must match
    tensors = _read_tensors(path)
    expected = model.state_dict()
    shared = {name: t for name, t in tensors.items() if name in expected and t.shape == expected[name].shape}
    if not shared:
        raise WeightsError(f'{path}: no tensor shares a name and shape with the model')
    for name, tensor in shared.items():
        if tensor.is_floating_point() and not torch.isfinite(tensor).all():
            raise WeightsError(f'{path}: tensor {name} contains NaN or inf')
    model.load_state_dict(shared, strict=False)
    return sorted(set(expected) - set(shared))


def load_control_pathways(model: FusionArchitecture, path: str | Path) -> list[str]:
    """Grafts the control pathways (reflex, descent, freeze: architectures/control_pathways.py) of the
    weights at ``path``, of any architecture that carries them, onto ``model``; returns the names loaded.

    They read raw inputs and the goal pathway's tool estimate, never an architecture's tokens, so
    pathways fitted for NVSF-A serve NVSF-H as they are. Both configs must agree on every pathway
    setting and on the preprocessing the pathways read; else :class:`WeightsError`, ``model`` unchanged.
    """
    from .architectures.control_pathways import PATHWAY_PREFIXES, ControlPathwayConfig
    if not isinstance(model.config, ControlPathwayConfig):
        raise WeightsError(f'{type(model).__name__} carries no control pathways')
    metadata = read_metadata(path)
    try:
        saved = json.loads(metadata.get('config') or '')
    except ValueError:
        raise WeightsError(f'{path}: no readable config in its metadata') from None
    ours = dataclasses.asdict(model.config)
    settings = [f.name for f in dataclasses.fields(ControlPathwayConfig)] + ['action_dim', 'preprocess']
    differing = [name for name in settings if saved.get(name) != ours[name]]
    if differing:
        raise WeightsError(f'{path}: its control pathways were made under other settings: {differing}')
    expected = model.state_dict()
    wanted = sorted(name for name in expected if name.startswith(PATHWAY_PREFIXES))
    tensors = _read_tensors(path)
    missing = [name for name in wanted if name not in tensors]
    if not wanted or missing:
        raise WeightsError(f'{path}: lacks the control pathway tensors {missing or "(the model has none)"}')
    for name in wanted:
        if tensors[name].shape != expected[name].shape:
            raise WeightsError(f'{path}: tensor {name} has shape {tuple(tensors[name].shape)}, model expects '
                               f'{tuple(expected[name].shape)}')
        if tensors[name].is_floating_point() and not torch.isfinite(tensors[name]).all():
            raise WeightsError(f'{path}: tensor {name} contains NaN or inf')
    model.load_state_dict({name: tensors[name] for name in wanted}, strict=False)
    return wanted
