"""SEG-Y reading and writing that keeps every header byte.

A post-stack SEG-Y file (SEG Technical Standards Committee, *SEG-Y rev 2.0*, 2017) is a 3200-byte textual
header, a 400-byte binary header, optional 3200-byte extended textual headers and then traces, each a 240-byte
trace header followed by ``n_samples`` samples in the file's sample format. A 3D survey places each trace at an
(inline, crossline) position read from its header (bytes 189 and 193 by default, SEG-Y rev 1 convention).

:func:`read_segy` uses ``segyio`` to validate the file and decode the samples, and reads the textual, binary
and trace headers as raw bytes (``segyio`` translates EBCDIC text to ASCII, which would not round-trip).
:func:`write_segy` lets ``segyio`` lay out the file and encode the samples (IBM floats included), then puts the
raw header bytes back, so ``write_segy(read_segy(p))`` reproduces ``p`` byte for byte. The file is written to a
temporary name and renamed at the end: an interrupted run never leaves a half-written SEG-Y.

The volume layout is ``[n_inlines, n_crosslines, n_samples]`` with inline and crossline numbers ascending,
whatever the trace order in the file (inline- or crossline-sorted); the file order is kept for writing.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import segyio

from sciddm.errors import ConfigError, DataError
from sciddm.io import atomic_path

TEXT_HEADER_BYTES = 3200
BINARY_HEADER_BYTES = 400
TRACE_HEADER_BYTES = 240
INLINE_BYTE = 189
CROSSLINE_BYTE = 193

# bytes per sample for the SEG-Y sample-format codes that segyio reads (binary header bytes 3225-3226)
SAMPLE_BYTES = {1: 4, 2: 4, 3: 2, 5: 4, 6: 8, 8: 1, 9: 8, 10: 4, 11: 2, 12: 8, 16: 1}


@dataclass(frozen=True)
class SegyHeaders:
    """Everything of a SEG-Y file except its samples, as raw bytes, plus where each trace sits on the grid.

    ``trace`` is ``[n_traces, 240]`` uint8 in file order; ``position[k] = (i, j)`` are the inline and
    crossline *indices* (into the ascending ``inlines`` / ``crosslines`` of the volume) of the k-th trace.
    """

    text: tuple[bytes, ...]
    binary: bytes
    trace: np.ndarray
    position: np.ndarray
    samples: np.ndarray
    sample_format: int
    endian: str
    grid_shape: tuple[int, int]


@dataclass(frozen=True)
class SegyVolume:
    """A 3D post-stack survey: ``data[i, j, :]`` is the trace at ``inlines[i]``, ``crosslines[j]``.

    ``data`` has the file's sample dtype (float32 for IBM/IEEE floats). ``present[i, j]`` is False where the
    survey has no trace (only possible when read with ``allow_holes=True``); such traces are zero.
    """

    data: np.ndarray
    inlines: np.ndarray
    crosslines: np.ndarray
    present: np.ndarray
    headers: SegyHeaders


def read_segy(
    path: str | Path,
    inline_byte: int = INLINE_BYTE,
    crossline_byte: int = CROSSLINE_BYTE,
    endian: str = "big",
    allow_holes: bool = False,
) -> SegyVolume:
    """Read a post-stack 3D SEG-Y file into a :class:`SegyVolume`.

    Raises :class:`DataError` naming the file (and the trace, where one is to blame) when the file is missing,
    is not SEG-Y, is truncated, or its inline/crossline headers do not form a grid: two traces at the same
    position (e.g. prestack gathers or headers at other byte locations), or grid positions without a trace
    unless ``allow_holes`` is set.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "no such SEG-Y file")
    try:
        with segyio.open(path, "r", ignore_geometry=True, endian=endian) as handle:
            n_traces = handle.tracecount
            samples = np.asarray(handle.samples, dtype=np.float64)
            sample_format = int(handle.format)
            ext_headers = int(handle.ext_headers)
            inline_numbers = np.asarray(handle.attributes(inline_byte)[:], dtype=np.int64)
            crossline_numbers = np.asarray(handle.attributes(crossline_byte)[:], dtype=np.int64)
            traces = handle.trace.raw[:]
    except (RuntimeError, OSError, ValueError, KeyError) as error:
        raise DataError(path, f"not a readable SEG-Y file ({error})") from None
    if sample_format not in SAMPLE_BYTES:
        raise DataError(path, f"unsupported SEG-Y sample format code {sample_format}")
    if n_traces == 0:
        raise DataError(path, "SEG-Y file has no traces")
    text, binary, trace_headers = _raw_headers(path, ext_headers, n_traces, len(samples), sample_format)
    inlines, crosslines, position = _grid(path, inline_numbers, crossline_numbers, allow_holes)
    data = np.zeros((len(inlines), len(crosslines), len(samples)), dtype=traces.dtype)
    data[position[:, 0], position[:, 1]] = traces.reshape(n_traces, len(samples))
    present = np.zeros((len(inlines), len(crosslines)), dtype=bool)
    present[position[:, 0], position[:, 1]] = True
    headers = SegyHeaders(
        text=text,
        binary=binary,
        trace=trace_headers,
        position=position,
        samples=samples,
        sample_format=sample_format,
        endian=endian,
        grid_shape=(len(inlines), len(crosslines)),
    )
    return SegyVolume(data=data, inlines=inlines, crosslines=crosslines, present=present, headers=headers)


def _raw_headers(
    path: Path, ext_headers: int, n_traces: int, n_samples: int, sample_format: int
) -> tuple[tuple[bytes, ...], bytes, np.ndarray]:
    """Textual, binary and trace headers exactly as stored (segyio has already checked the file size)."""
    trace_bytes = TRACE_HEADER_BYTES + n_samples * SAMPLE_BYTES[sample_format]
    first_trace = TEXT_HEADER_BYTES + BINARY_HEADER_BYTES + ext_headers * TEXT_HEADER_BYTES
    raw = np.memmap(path, dtype=np.uint8, mode="r")
    if raw.size != first_trace + n_traces * trace_bytes:
        raise DataError(path, f"file size {raw.size} does not match {n_traces} traces of {trace_bytes} bytes")
    text = [bytes(raw[:TEXT_HEADER_BYTES])]
    extended_start = TEXT_HEADER_BYTES + BINARY_HEADER_BYTES
    for k in range(ext_headers):
        start = extended_start + k * TEXT_HEADER_BYTES
        text.append(bytes(raw[start : start + TEXT_HEADER_BYTES]))
    binary = bytes(raw[TEXT_HEADER_BYTES:extended_start])
    blocks = raw[first_trace:].reshape(n_traces, trace_bytes)
    trace_headers = np.array(blocks[:, :TRACE_HEADER_BYTES])
    del raw, blocks
    return tuple(text), binary, trace_headers


def _grid(
    path: Path, inline_numbers: np.ndarray, crossline_numbers: np.ndarray, allow_holes: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Ascending inline / crossline numbers and the (i, j) grid index of every trace."""
    inlines, i = np.unique(inline_numbers, return_inverse=True)
    crosslines, j = np.unique(crossline_numbers, return_inverse=True)
    flat = i * len(crosslines) + j
    order = np.argsort(flat, kind="stable")
    repeated = np.flatnonzero(np.diff(flat[order]) == 0)
    if repeated.size:
        first, second = order[repeated[0]], order[repeated[0] + 1]
        raise DataError(
            path,
            f"inconsistent geometry: traces {first} and {second} are both at inline {inline_numbers[second]}, "
            f"crossline {crossline_numbers[second]} (prestack gathers are not supported; are the inline / "
            "crossline header bytes right?)",
            record=f"trace {second}",
        )
    n_grid = len(inlines) * len(crosslines)
    if len(flat) < n_grid and not allow_holes:
        hole = np.setdiff1d(np.arange(n_grid), flat)[0]
        raise DataError(
            path,
            f"inconsistent geometry: {len(flat)} traces for {len(inlines)} inlines x {len(crosslines)} crosslines; "
            f"no trace at inline {inlines[hole // len(crosslines)]}, crossline {crosslines[hole % len(crosslines)]} "
            "(pass allow_holes=True to read an irregular survey)",
        )
    return inlines, crosslines, np.stack([i, j], axis=1)


def write_segy(path: str | Path, data: np.ndarray, headers: SegyHeaders) -> None:
    """Write ``data`` ``[n_inlines, n_crosslines, n_samples]`` with the headers of another file, atomically.

    Each trace in ``headers`` receives ``data[i, j]`` at its grid position and its own 240 header bytes; the
    textual and binary headers are copied byte for byte. Samples are encoded in the original sample format
    (integer formats are rounded and clipped to their range).
    """
    data = np.asarray(data)
    expected = (*headers.grid_shape, len(headers.samples))
    if data.shape != expected:
        raise ConfigError(f"volume of shape {data.shape} cannot be written with headers for shape {expected}")
    spec = segyio.spec()
    spec.iline, spec.xline = INLINE_BYTE, CROSSLINE_BYTE
    spec.samples = headers.samples
    spec.format = headers.sample_format
    spec.tracecount = len(headers.trace)
    spec.ext_headers = len(headers.text) - 1
    spec.endian = headers.endian
    with atomic_path(path) as tmp:
        with segyio.create(tmp, spec) as handle:
            traces = _as_sample_dtype(data, handle.dtype)[headers.position[:, 0], headers.position[:, 1]]
            for k, trace in enumerate(traces):
                handle.trace[k] = trace
        _put_raw_headers(tmp, headers)


def _as_sample_dtype(data: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Cast to the file's sample dtype; integers are rounded to nearest and clipped to the dtype's range."""
    if np.issubdtype(dtype, np.integer):
        limits = np.iinfo(dtype)
        return np.clip(np.rint(data), limits.min, limits.max).astype(dtype)
    return data.astype(dtype, copy=False)


def _put_raw_headers(path: Path, headers: SegyHeaders) -> None:
    """Overwrite the headers segyio wrote with the original bytes."""
    n_samples = len(headers.samples)
    trace_bytes = TRACE_HEADER_BYTES + n_samples * SAMPLE_BYTES[headers.sample_format]
    first_trace = TEXT_HEADER_BYTES + BINARY_HEADER_BYTES + (len(headers.text) - 1) * TEXT_HEADER_BYTES
    raw = np.memmap(path, dtype=np.uint8, mode="r+")
    raw[:TEXT_HEADER_BYTES] = np.frombuffer(headers.text[0], dtype=np.uint8)
    raw[TEXT_HEADER_BYTES : TEXT_HEADER_BYTES + BINARY_HEADER_BYTES] = np.frombuffer(headers.binary, np.uint8)
    for k, text in enumerate(headers.text[1:]):
        start = TEXT_HEADER_BYTES + BINARY_HEADER_BYTES + k * TEXT_HEADER_BYTES
        raw[start : start + TEXT_HEADER_BYTES] = np.frombuffer(text, dtype=np.uint8)
    blocks = raw[first_trace:].reshape(len(headers.trace), trace_bytes)
    blocks[:, :TRACE_HEADER_BYTES] = headers.trace
    raw.flush()
    del raw, blocks


def new_headers(
    grid_shape: tuple[int, int],
    n_samples: int,
    sample_interval_ms: float = 4.0,
    first_inline: int = 1,
    first_crossline: int = 1,
    sample_format: int = 5,
) -> SegyHeaders:
    """Minimal SEG-Y rev 1 headers for a volume that never was a SEG-Y file (e.g. a synthetic one).

    Traces are inline-sorted; each trace header carries its sequence number (bytes 1 and 5), inline and
    crossline numbers (189, 193), number of samples (115) and sample interval in microseconds (117); the
    binary header carries the sample interval (3217), samples per trace (3221), format (3225), sorting code 2
    (3229), SEG-Y revision 1 (3501) and fixed trace length (3503).
    """
    if sample_format not in (1, 5):
        raise ConfigError(f"new SEG-Y files are written as IBM (1) or IEEE (5) floats, not format {sample_format}")
    n_inlines, n_crosslines = grid_shape
    interval_us = round(sample_interval_ms * 1000)
    text = segyio.tools.create_text_header({1: "SciDDM seismic volume", 2: f"{n_inlines} inlines x "
                                            f"{n_crosslines} crosslines x {n_samples} samples"})
    text_bytes = text.encode("cp037")  # EBCDIC, as SEG-Y rev 1 prescribes
    binary = bytearray(BINARY_HEADER_BYTES)
    for byte, fmt, value in [(3217, ">h", interval_us), (3221, ">h", n_samples), (3225, ">h", sample_format),
                             (3229, ">h", 2), (3501, ">H", 0x0100), (3503, ">h", 1)]:
        struct.pack_into(fmt, binary, byte - TEXT_HEADER_BYTES - 1, value)
    i, j = np.meshgrid(np.arange(n_inlines), np.arange(n_crosslines), indexing="ij")
    position = np.stack([i.ravel(), j.ravel()], axis=1)
    trace = np.zeros((len(position), TRACE_HEADER_BYTES), dtype=np.uint8)
    sequence = np.arange(1, len(position) + 1)
    for byte, values in [(1, sequence), (5, sequence), (INLINE_BYTE, first_inline + position[:, 0]),
                         (CROSSLINE_BYTE, first_crossline + position[:, 1])]:
        trace[:, byte - 1 : byte + 3] = values.astype(">i4").view(np.uint8).reshape(-1, 4)
    for byte, value in [(115, n_samples), (117, interval_us)]:
        trace[:, byte - 1 : byte + 1] = np.frombuffer(struct.pack(">h", value), dtype=np.uint8)
    return SegyHeaders(
        text=(text_bytes,),
        binary=bytes(binary),
        trace=trace,
        position=position,
        samples=np.arange(n_samples) * float(sample_interval_ms),
        sample_format=sample_format,
        endian="big",
        grid_shape=(n_inlines, n_crosslines),
    )

