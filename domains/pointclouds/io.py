"""Readers and writers for point clouds and triangle meshes: ``.npy``, ``.ply``, ``.xyz``, ``.obj``.

Every reader checks what it returns: positions are a float array ``[N, 3]`` with ``N >= 1`` and only finite
values; mesh faces are integer triangles ``[F, 3]`` indexing existing vertices. A file that breaks any of this
raises :class:`sciddm.errors.DataError` naming the file and, where one is to blame, the record (point, line or
face). Writers go through :mod:`sciddm.io`, so an interrupted write never leaves a half-written file.

Formats
-------
* ``.npy``: one cloud ``[N, 3]`` or a set of clouds ``[M, N, 3]`` (``allow_pickle=False``).
* ``.ply``: the Stanford format, ``ascii``, ``binary_little_endian`` or ``binary_big_endian``; the ``vertex``
  element must have ``x``, ``y``, ``z`` properties; an optional ``face`` element with a list property
  (``vertex_indices`` or ``vertex_index``). Polygons are split into triangle fans. Other elements are skipped.
* ``.xyz``: whitespace-separated columns, the first three being x y z (``#`` starts a comment); the chemical
  variant (first line an atom count, second a comment, then ``symbol x y z``) is recognised too.
* ``.obj``: Wavefront ``v x y z`` and ``f i j k ...`` lines (1-based, negative indices count from the end,
  ``i/t/n`` forms allowed); other statements are ignored.
"""

from __future__ import annotations

import contextlib
import gzip
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sciddm.errors import DataError
from sciddm.io import atomic_write

POINT_SUFFIXES = (".npy", ".ply", ".xyz", ".obj")


@dataclass(frozen=True)
class Mesh:
    """A triangle mesh: ``vertices`` float64 ``[V, 3]`` and ``faces`` int64 ``[F, 3]`` (``F`` may be 0)."""

    vertices: np.ndarray
    faces: np.ndarray


def check_points(points: np.ndarray, path: str | Path, record: int | str | None = None) -> np.ndarray:
    """Return ``points`` as float64 ``[N, 3]`` or raise a :class:`DataError` saying what is wrong."""
    points = np.asarray(points)
    if points.ndim != 2 or points.shape[1] != 3:
        raise DataError(path, f"expected points of shape [N, 3], got {list(points.shape)}", record=record)
    if points.shape[0] == 0:
        raise DataError(path, "contains no points", record=record)
    if not np.issubdtype(points.dtype, np.number) or np.issubdtype(points.dtype, np.complexfloating):
        raise DataError(path, f"points must be real numbers, got dtype {points.dtype}", record=record)
    bad = np.flatnonzero(~np.isfinite(points).all(axis=1))
    if bad.size:
        where = f"point {bad[0]}" if record is None else f"{record}, point {bad[0]}"
        raise DataError(path, f"{bad.size} point(s) with NaN or inf coordinates", record=where)
    return points.astype(np.float64)


def check_faces(faces: np.ndarray, n_vertices: int, path: str | Path) -> np.ndarray:
    """Return ``faces`` as int64 ``[F, 3]``; every index must name an existing vertex."""
    faces = np.asarray(faces, dtype=np.int64).reshape(-1, 3)
    bad = np.flatnonzero(((faces < 0) | (faces >= n_vertices)).any(axis=1))
    if bad.size:
        raise DataError(path, f"face refers to a vertex outside 0..{n_vertices - 1}", record=f"face {bad[0]}")
    return faces


def fan_triangles(polygon: list[int] | np.ndarray) -> list[tuple[int, int, int]]:
    """Split polygon ``(v0, v1, ..., vk)`` into the fan ``(v0, v_i, v_{i+1})``; fewer than 3 gives nothing."""
    return [(polygon[0], polygon[i], polygon[i + 1]) for i in range(1, len(polygon) - 1)]


def _read_bytes(path: Path) -> bytes:
    if not path.is_file():
        raise DataError(path, "file not found")
    data = path.read_bytes()
    if path.suffix == ".gz":
        data = gzip.decompress(data)
    if not data.strip():
        raise DataError(path, "file is empty")
    return data


def format_suffix(path: str | Path) -> str:
    """The format-defining suffix of ``path`` (``.ply`` for ``shape.ply.gz``), lower case."""
    suffixes = [s.lower() for s in Path(path).suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
    return suffixes[-1] if suffixes else ""


# ---------------------------------------------------------------- PLY

_PLY_TYPES = {
    "char": "i1", "int8": "i1", "uchar": "u1", "uint8": "u1", "short": "i2", "int16": "i2",
    "ushort": "u2", "uint16": "u2", "int": "i4", "int32": "i4", "uint": "u4", "uint32": "u4",
    "float": "f4", "float32": "f4", "double": "f8", "float64": "f8",
}  # fmt: skip


@dataclass
class _PlyElement:
    name: str
    count: int
    properties: list[tuple[str, str, str | None]]  # (name, value type, list-count type or None)


def _ply_type(path: Path, name: str) -> str:
    if name not in _PLY_TYPES:
        raise DataError(path, f"unknown PLY property type {name!r}")
    return _PLY_TYPES[name]


def _parse_ply_header(path: Path, data: bytes) -> tuple[str, list[_PlyElement], int]:
    end = data.find(b"end_header")
    if not data.startswith(b"ply") or end < 0:
        raise DataError(path, "not a PLY file (missing 'ply' magic or 'end_header')")
    body_start = data.index(b"\n", end) + 1
    fmt, elements = None, []
    for number, line in enumerate(data[:end].decode("ascii", "replace").splitlines(), start=1):
        words = line.split()
        if not words or words[0] in ("ply", "comment", "obj_info"):
            continue
        if words[0] == "format":
            fmt = words[1]
        elif words[0] == "element":
            elements.append(_PlyElement(words[1], int(words[2]), []))
        elif words[0] == "property" and elements:
            if words[1] == "list":
                prop = (words[4], _ply_type(path, words[3]), _ply_type(path, words[2]))
            else:
                prop = (words[2], _ply_type(path, words[1]), None)
            elements[-1].properties.append(prop)
        else:
            raise DataError(path, f"cannot parse PLY header line {line!r}", record=f"line {number}")
    if fmt not in ("ascii", "binary_little_endian", "binary_big_endian"):
        raise DataError(path, f"unsupported PLY format {fmt!r}")
    return fmt, elements, body_start


def _count_at(path: Path, data: bytes, dtype: str, offset: int, element: _PlyElement) -> int:
    """The list length stored at ``offset``, or a DataError when the file ends before it."""
    if offset + np.dtype(dtype).itemsize > len(data):
        raise DataError(path, f"file ends inside element {element.name!r}")
    return int(np.frombuffer(data, dtype=dtype, count=1, offset=offset)[0])


def _read_binary_element(path: Path, data: bytes, offset: int, element: _PlyElement, endian: str):
    """Parse one binary element; returns ({property: array or list of arrays}, new offset)."""
    scalar = [(n, endian + t) for n, t, c in element.properties if c is None]
    lists = [p for p in element.properties if p[2] is not None]
    if element.count == 0:
        return {n: np.zeros((0, 3) if c else 0) for n, _, c in element.properties}, offset
    if not lists:
        dtype = np.dtype(scalar)
        size = dtype.itemsize * element.count
        if offset + size > len(data):
            raise DataError(path, f"file ends inside element {element.name!r}")
        table = np.frombuffer(data, dtype=dtype, count=element.count, offset=offset)
        return {n: table[n] for n, _ in scalar}, offset + size
    # Fast path: every list has the length of the first record's list (e.g. all triangles).
    fields, probe = [], offset
    for name, value_type, count_type in element.properties:
        if count_type is None:
            fields.append((name, endian + value_type))
            probe += np.dtype(value_type).itemsize
        else:
            length = _count_at(path, data, endian + count_type, probe, element)
            fields += [(name + "#count", endian + count_type), (name, endian + value_type, (length,))]
            probe += np.dtype(count_type).itemsize + length * np.dtype(value_type).itemsize
    dtype = np.dtype(fields)
    if offset + dtype.itemsize * element.count <= len(data):
        table = np.frombuffer(data, dtype=dtype, count=element.count, offset=offset)
        if all((table[n + "#count"] == table[n].shape[1]).all() for n, _, _ in lists):
            return {n: table[n] for n, _, _ in element.properties}, offset + dtype.itemsize * element.count
    columns: dict[str, list] = {n: [] for n, _, _ in element.properties}
    for _ in range(element.count):
        for name, value_type, count_type in element.properties:
            if count_type is not None:
                length = _count_at(path, data, endian + count_type, offset, element)
                offset += np.dtype(count_type).itemsize
            else:
                length = 1
            size = length * np.dtype(value_type).itemsize
            if offset + size > len(data):
                raise DataError(path, f"file ends inside element {element.name!r}")
            columns[name].append(np.frombuffer(data, dtype=endian + value_type, count=length, offset=offset))
            offset += size
    return {n: (v if c is not None else np.concatenate(v))
            for (n, _, c), v in zip(element.properties, columns.values(), strict=True)}, offset


def _read_ascii_element(path: Path, lines: list[str], start: int, element: _PlyElement):
    columns: dict[str, list] = {n: [] for n, _, _ in element.properties}
    if start + element.count > len(lines):
        raise DataError(path, f"file ends inside element {element.name!r}")
    if all(c is None for _, _, c in element.properties):  # fast path: a plain table of numbers
        words = " ".join(lines[start : start + element.count]).split()
        if len(words) == element.count * len(element.properties):
            with contextlib.suppress(ValueError):  # on failure the record loop below names the bad record
                table = np.array(words, dtype=np.float64).reshape(element.count, -1)
                return {n: table[:, k] for k, (n, _, _) in enumerate(element.properties)}, start + element.count
    for index in range(element.count):
        words, at = lines[start + index].split(), 0
        try:
            for name, _, count_type in element.properties:
                if count_type is None:
                    columns[name].append(float(words[at]))
                    at += 1
                else:
                    length = int(words[at])
                    columns[name].append(np.array([float(w) for w in words[at + 1 : at + 1 + length]]))
                    at += 1 + length
        except (ValueError, IndexError):
            raise DataError(path, f"malformed {element.name} record", record=f"{element.name} {index}") from None
    properties = zip(element.properties, columns.values(), strict=True)
    return {n: (v if c is not None else np.array(v)) for (n, _, c), v in properties}, start + element.count


def read_ply(path: str | Path) -> Mesh:
    """Read a PLY file's vertices and (if present) faces, fan-triangulated."""
    path = Path(path)
    data = _read_bytes(path)
    fmt, elements, offset = _parse_ply_header(path, data)
    parsed = {}
    text = data[offset:].decode("ascii", "replace") if fmt == "ascii" else ""
    lines, line_at = [line for line in text.splitlines() if line.strip()], 0
    for element in elements:
        if fmt == "ascii":
            parsed[element.name], line_at = _read_ascii_element(path, lines, line_at, element)
        else:
            endian = "<" if fmt == "binary_little_endian" else ">"
            parsed[element.name], offset = _read_binary_element(path, data, offset, element, endian)
    vertex = parsed.get("vertex", {})
    if not all(axis in vertex for axis in "xyz"):
        raise DataError(path, "PLY has no vertex element with x, y, z properties")
    vertices = check_points(np.stack([np.asarray(vertex[a], dtype=np.float64) for a in "xyz"], axis=1), path)
    face = parsed.get("face", {})
    polygons = face.get("vertex_indices", face.get("vertex_index", []))
    if isinstance(polygons, np.ndarray) and polygons.ndim == 2 and polygons.shape[1] == 3:
        faces = polygons
    else:
        faces = [t for polygon in polygons for t in fan_triangles(np.asarray(polygon, dtype=np.int64))]
    return Mesh(vertices, check_faces(np.asarray(faces), len(vertices), path))


def write_ply(path: str | Path, points: np.ndarray, faces: np.ndarray | None = None, binary: bool = True) -> None:
    """Write vertices (float32) and optional triangles as PLY, ``binary_little_endian`` or ``ascii``."""
    points = check_points(points, path)
    faces = None if faces is None else check_faces(faces, len(points), path)
    header = ["ply", f"format {'binary_little_endian' if binary else 'ascii'} 1.0",
              f"element vertex {len(points)}", "property float x", "property float y", "property float z"]
    if faces is not None:
        header += [f"element face {len(faces)}", "property list uchar int vertex_indices"]
    header.append("end_header")
    with atomic_write(path, "wb") as handle:
        handle.write(("\n".join(header) + "\n").encode("ascii"))
        if binary:
            handle.write(points.astype("<f4").tobytes())
            if faces is not None:
                table = np.zeros(len(faces), dtype=[("n", "u1"), ("v", "<i4", (3,))])
                table["n"], table["v"] = 3, faces
                handle.write(table.tobytes())
        else:
            np.savetxt(handle, points.astype(np.float32), fmt="%.9g")
            if faces is not None:
                np.savetxt(handle, np.column_stack([np.full(len(faces), 3), faces]), fmt="%d")


# ---------------------------------------------------------------- OBJ


def _obj_index(word: str, n_vertices: int) -> int:
    index = int(word.split("/")[0])
    return index - 1 if index > 0 else n_vertices + index


def read_obj(path: str | Path) -> Mesh:
    """Read the vertices and faces (fan-triangulated) of a Wavefront OBJ file."""
    path = Path(path)
    text = _read_bytes(path).decode("utf-8", "replace")
    vertices, faces = [], []
    for number, line in enumerate(text.splitlines(), start=1):
        words = line.split()
        try:
            if words and words[0] == "v":
                vertices.append([float(w) for w in words[1:4]])
                if len(words) < 4:
                    raise ValueError
            elif words and words[0] == "f":
                faces += fan_triangles([_obj_index(w, len(vertices)) for w in words[1:]])
        except ValueError:
            raise DataError(path, f"malformed OBJ statement {line.strip()!r}", record=f"line {number}") from None
    if not vertices:
        raise DataError(path, "OBJ file has no vertices ('v' lines)")
    points = check_points(np.array(vertices), path)
    return Mesh(points, check_faces(np.array(faces), len(points), path))


def write_obj(path: str | Path, points: np.ndarray, faces: np.ndarray | None = None) -> None:
    """Write vertices and optional triangles as Wavefront OBJ (1-based indices)."""
    points = check_points(points, path)
    with atomic_write(path) as handle:
        np.savetxt(handle, points, fmt="v %.9g %.9g %.9g")
        if faces is not None:
            np.savetxt(handle, check_faces(faces, len(points), path) + 1, fmt="f %d %d %d")


# ---------------------------------------------------------------- XYZ and NPY


def read_xyz(path: str | Path) -> np.ndarray:
    """Read x y z columns (extra columns ignored); the chemical XYZ layout is detected by its count line."""
    path = Path(path)
    lines = _read_bytes(path).decode("utf-8", "replace").splitlines()
    first = lines[0].split()
    chemical = len(first) == 1 and first[0].isdigit()
    body = lines[2:] if chemical else lines
    start = 3 if chemical else 1
    points = []
    for number, line in enumerate(body, start=start):
        words = line.split("#")[0].split()
        if not words:
            continue
        try:
            points.append([float(w) for w in (words[1:4] if chemical else words[:3])])
            if len(points[-1]) != 3:
                raise ValueError
        except ValueError:
            raise DataError(path, f"expected x y z numbers, got {line.strip()!r}", record=f"line {number}") from None
    if chemical and len(points) != int(first[0]):
        raise DataError(path, f"count line says {first[0]} atoms but {len(points)} coordinate lines follow")
    return check_points(np.array(points).reshape(-1, 3), path)


def write_xyz(path: str | Path, points: np.ndarray) -> None:
    """Write one ``x y z`` line per point."""
    points = check_points(points, path)
    with atomic_write(path) as handle:
        np.savetxt(handle, points, fmt="%.9g")


def read_npy(path: str | Path) -> np.ndarray:
    """Read a ``.npy`` array of one cloud ``[N, 3]`` or a set ``[M, N, 3]`` (each cloud checked)."""
    path = Path(path)
    _read_bytes(path)
    try:
        array = np.load(path, allow_pickle=False)
    except (ValueError, OSError) as error:
        raise DataError(path, f"not a readable .npy array ({error})") from None
    if array.ndim == 3:
        return np.stack([check_points(cloud, path, record=f"cloud {i}") for i, cloud in enumerate(array)])
    return check_points(array, path)


def write_npy(path: str | Path, points: np.ndarray) -> None:
    """Write a cloud ``[N, 3]`` or a set ``[M, N, 3]`` as float32 ``.npy``."""
    points = np.asarray(points)
    clouds = points[None] if points.ndim == 2 else points
    if clouds.ndim != 3:
        raise DataError(path, f"expected [N, 3] or [M, N, 3], got {list(points.shape)}")
    for i, cloud in enumerate(clouds):
        check_points(cloud, path, record=f"cloud {i}")
    with atomic_write(path, "wb") as handle:
        np.save(handle, points.astype(np.float32))


# ---------------------------------------------------------------- dispatch


def read_mesh(path: str | Path) -> Mesh:
    """Read a triangle mesh from ``.ply`` or ``.obj``; a mesh without faces is an error."""
    suffix = format_suffix(path)
    readers = {".ply": read_ply, ".obj": read_obj}
    if suffix not in readers:
        raise DataError(path, f"cannot read a mesh from {suffix or 'a file without suffix'}; use .ply or .obj")
    mesh = readers[suffix](path)
    if len(mesh.faces) == 0:
        raise DataError(path, "mesh has no faces, so there is no surface to sample points from")
    return mesh


def read_points(path: str | Path) -> np.ndarray:
    """Read the positions in ``path`` (mesh vertices for ``.ply``/``.obj``): ``[N, 3]`` or ``[M, N, 3]``."""
    suffix = format_suffix(path)
    readers = {".npy": read_npy, ".xyz": read_xyz, ".ply": lambda p: read_ply(p).vertices,
               ".obj": lambda p: read_obj(p).vertices}  # fmt: skip
    if suffix not in readers:
        raise DataError(path, f"unsupported point-cloud format {suffix or '(no suffix)'}; use one of "
                        + ", ".join(POINT_SUFFIXES))  # fmt: skip
    return readers[suffix](path)


def write_points(path: str | Path, points: np.ndarray) -> None:
    """Write ``points`` in the format named by the suffix of ``path``."""
    suffix = format_suffix(path)
    writers = {".npy": write_npy, ".xyz": write_xyz, ".ply": write_ply, ".obj": write_obj}
    if suffix not in writers:
        raise DataError(path, f"unsupported point-cloud format {suffix or '(no suffix)'}; use one of "
                        + ", ".join(POINT_SUFFIXES))  # fmt: skip
    writers[suffix](path, points)


def read_point_set(path: str | Path) -> np.ndarray:
    """Read a set of equal-size clouds ``[M, N, 3]``: a ``[M, N, 3]`` ``.npy``, one cloud file (M = 1), or a
    directory whose files with a supported suffix are read in name order."""
    path = Path(path)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if format_suffix(p) in POINT_SUFFIXES)
        if not files:
            raise DataError(path, "directory holds no point-cloud files (" + ", ".join(POINT_SUFFIXES) + ")")
        clouds = [read_points(f) for f in files]
        for file, cloud in zip(files, clouds, strict=True):
            if cloud.shape != clouds[0].shape:
                raise DataError(file, f"has shape {list(cloud.shape)}, but {files[0].name} has "
                                f"{list(clouds[0].shape)}; all clouds of a set need the same size")  # fmt: skip
        return np.stack(clouds)
    points = read_points(path)
    return points if points.ndim == 3 else points[None]
