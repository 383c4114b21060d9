"""Model cards for the shipped weights: ``models/<architecture>.md`` beside ``<architecture>.safetensors``.

A card is Markdown with a YAML front matter that machines check (:func:`check_model_card`, run by the
tests): the weights file's SHA-256, its architecture and config as stored in the safetensors
metadata, the training settings and seed, the data, the command that made it, the date, and the
measured metrics. A card that no longer matches its weights fails CI instead of misleading a user.
"""
from __future__ import annotations

import datetime
import hashlib
import json
from pathlib import Path
from typing import Optional

import yaml

from .weights import read_metadata

FRONT_MATTER = '---\n'


class ModelCardError(ValueError):
    """A card that does not describe its weights; the message names the card and the field."""


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(1 << 20), b''):
            digest.update(block)
    return digest.hexdigest()


def card_fields(weights: Path, data: str, commands: list[str], metrics: dict, date: Optional[str] = None) -> dict:
    metadata = read_metadata(weights)
    training = json.loads(metadata.get('training', '{}'))
    fields = {
        'architecture': metadata['architecture'],
        'weights': weights.name,
        'sha256': sha256(weights),
        'size_bytes': weights.stat().st_size,
        'config': json.loads(metadata['config']),
        'training': training,
        'seed': training.get('seed'),
        'data': data,
        'commands': commands,
        'metrics': metrics,
        'date': date or datetime.date.today().isoformat(),
    }
    for key in ('gate_rl', 'freeze_fit', 'reflex_fit', 'freeze_calibration', 'descent_fit', 'pathways_graft',
                'training_stages'):   # later steps' own records (weights.fitted_metadata, tools/graft_pathways.py)
        if key in metadata:
            fields[key] = json.loads(metadata[key])
    return fields


def write_model_card(weights: Path, card: Path, data: str, commands: list[str], metrics: dict, body: str,
                     date: Optional[str] = None) -> dict:
    fields = card_fields(weights, data, commands, metrics, date)
    card.write_text(FRONT_MATTER + yaml.safe_dump(fields, sort_keys=False, width=110) + FRONT_MATTER + '\n' + body)
    return fields


def read_model_card(card: Path) -> dict:
    text = card.read_text()
    if not text.startswith(FRONT_MATTER) or text.count(FRONT_MATTER) < 2:
        raise ModelCardError(f'{card}: no YAML front matter (--- ... ---)')
    return yaml.safe_load(text.split(FRONT_MATTER, 2)[1])


def check_model_card(card: Path) -> dict:
    """Raises :class:`ModelCardError` unless ``card`` describes the weights beside it exactly."""
    fields = read_model_card(card)
    for key in ('architecture', 'weights', 'sha256', 'config', 'training', 'seed', 'data', 'commands', 'metrics',
                'date'):
        if key not in fields:
            raise ModelCardError(f'{card}: missing field {key!r}')
    weights = card.parent / fields['weights']
    if not weights.is_file():
        raise ModelCardError(f'{card}: its weights {weights} do not exist')
    if sha256(weights) != fields['sha256']:
        raise ModelCardError(f'{card}: sha256 does not match {weights.name} (weights changed without a new card)')
    metadata = read_metadata(weights)
    if metadata.get('architecture') != fields['architecture']:
        raise ModelCardError(f"{card}: architecture {fields['architecture']!r} but the weights say "
                             f"{metadata.get('architecture')!r}")
    if json.loads(metadata['config']) != fields['config']:
        raise ModelCardError(f'{card}: config differs from the one stored in {weights.name}')
    if json.loads(metadata.get('training', '{}')).get('seed') != fields['seed']:
        raise ModelCardError(f'{card}: seed differs from the training metadata in {weights.name}')
    return fields


__all__ = ['ModelCardError', 'check_model_card', 'read_model_card', 'sha256', 'write_model_card']
