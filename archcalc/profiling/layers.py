"""Per-layer table (``inspect --layers``): torchinfo's layer walk on the meta device.

Only names, output shapes and parameter counts are taken from torchinfo; MACs come from
archcalc's own counter, since torchinfo misses attention and matmul work.
"""

from __future__ import annotations

from torch import nn

from archcalc.errors import TraceError
from archcalc.profiling.prepare import prepare
from archcalc.results import LayerRow, Pair

__all__ = ["layer_table"]


def layer_table(
    model: str | nn.Module,
    resolution: Pair,
    *,
    in_chans: int = 3,
    output_stride: int | None = None,
    depth: int = 2,
) -> list[LayerRow]:
    """Modules down to ``depth`` with their output shapes, from one meta forward."""
    import torchinfo

    built = prepare(model, resolution, in_chans=in_chans, output_stride=output_stride).built
    try:
        stats = torchinfo.summary(
            built.module,
            input_size=(1, in_chans, *resolution),
            device="meta",
            depth=depth,
            verbose=0,
            col_names=("output_size", "num_params"),
        )
    except Exception as e:
        raise TraceError(f"{built.name}: per-layer walk failed at {resolution}: {e}") from e
    return [
        LayerRow(
            name=layer.var_name,
            kind=layer.class_name,
            depth=layer.depth,
            output_shape=tuple(layer.output_size or ()),
            params=layer.num_params,
        )
        for layer in stats.summary_list
        if layer.depth <= depth
    ]
