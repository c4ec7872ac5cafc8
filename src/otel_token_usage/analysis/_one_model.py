"""Block decoding narrowed to one provider and model, for the report's fold.

Most blocks of a session log are all of one provider and model. A decoder whose struct
has those two fields narrowed to one literal value each checks that for every line in the
same C call that decodes the block, and the fold need not check it again.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from ._reader import _LINE, _Line

__all__ = ["decode_one_model_block"]


def decode_one_model_block(block: bytes, lines: int) -> list[Any] | None:
    """`decode_block` for a block whose lines all have the provider and model of its first
    line: the decoder checks that too, in the same C call, so the caller need not. None
    when a line is not a usable record or has another provider or model.

    Every other check is `decode_block`'s, so a block accepted here is accepted there with
    the same values.
    """
    end = block.find(b"\n")
    try:
        head: Any = _LINE.decode(block if end < 0 else block[:end])
    except msgspec.DecodeError:
        return None
    decoder = _one_model_decoder(head.provider, head.model)
    if decoder is None:
        return None
    try:
        records: list[Any] = decoder.decode_lines(block)
    except msgspec.DecodeError:
        return None
    return records if len(records) == lines else None


_MAX_MODEL_DECODERS = 64
_model_decoders: dict[tuple[str, str], msgspec.json.Decoder[Any]] = {}


def _one_model_decoder(provider: str, model: str) -> msgspec.json.Decoder[Any] | None:
    # `_Line` with provider and model narrowed to one literal value each; made once per
    # pair (a few per run) and only for the first few dozen pairs met.
    decoder = _model_decoders.get((provider, model))
    if decoder is None and len(_model_decoders) < _MAX_MODEL_DECODERS:
        literal: Any = Literal
        narrowed = {"provider": literal[provider], "model": literal[model]}
        fields = [
            (info.name, narrowed.get(info.name, info.type))
            if info.required
            else (info.name, narrowed.get(info.name, info.type), info.default)
            for info in msgspec.structs.fields(_Line)
        ]
        struct = msgspec.defstruct("_OneModelLine", fields, gc=False, frozen=True)
        decoder = _model_decoders[(provider, model)] = msgspec.json.Decoder(struct)
    return decoder
