"""Small SEG-Y files written directly with segyio, so the reader is tested against an independent writer."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import segyio

INLINES = (5, 6, 7)
CROSSLINES = (20, 22)
N_SAMPLES = 6


def trace_values(inline: int, crossline: int) -> np.ndarray:
    """The samples written for a trace: easy to recognise and exact in IBM and IEEE floats and int16."""
    return (inline * 100 + crossline + 0.5 * np.arange(N_SAMPLES)).astype(np.float32) * (1 if inline % 2 else -1)


def write_crossline_sorted(path: Path, sample_format: int = 5, ext_headers: int = 1,
                           positions: list[tuple[int, int]] | None = None) -> list[tuple[int, int]]:
    """A crossline-sorted survey with an ASCII extended text header and odd bytes in unassigned header fields.

    Returns the (inline, crossline) of each trace in file order.
    """
    positions = positions or [(il, xl) for xl in CROSSLINES for il in INLINES]
    spec = segyio.spec()
    spec.iline, spec.xline = 189, 193
    spec.samples = np.arange(N_SAMPLES) * 2.0
    spec.format = sample_format
    spec.tracecount = len(positions)
    spec.ext_headers = ext_headers
    with segyio.create(path, spec) as handle:
        for k, (il, xl) in enumerate(positions):
            handle.header[k] = {189: il, 193: xl, 233: 1000 + k, 1: k + 1}
            handle.trace[k] = trace_values(il, xl).astype(handle.dtype)
        handle.bin.update(hns=N_SAMPLES, format=sample_format, exth=ext_headers)
    with open(path, "r+b") as raw:  # bytes segyio never touches: unassigned binary header, ASCII ext header
        raw.seek(3200 + 350)
        raw.write(b"\x12\x34\x56")
        raw.seek(3600)
        raw.write(b"C 1 an extended ASCII textual header".ljust(3200, b" "))
    return positions
