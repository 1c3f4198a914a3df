"""Readers and writers: round trips, hand-written files with known content, shipped real meshes, bad input."""

from pathlib import Path

import numpy as np
import pytest

from domains.pointclouds.io import (
    read_mesh,
    read_obj,
    read_ply,
    read_point_set,
    read_points,
    read_xyz,
    write_obj,
    write_ply,
    write_points,
)
from sciddm.errors import DataError

MESHES = Path(__file__).resolve().parents[3] / "data" / "pointclouds" / "meshes"
SQUARE = np.array([[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0]], dtype=float)


@pytest.mark.parametrize("suffix", [".npy", ".xyz", ".ply", ".obj"])
def test_points_round_trip(tmp_path, suffix):
    points = np.random.default_rng(0).normal(size=(50, 3)).astype(np.float32)
    write_points(tmp_path / f"cloud{suffix}", points)
    np.testing.assert_allclose(read_points(tmp_path / f"cloud{suffix}"), points, rtol=1e-6)


@pytest.mark.parametrize("binary", [True, False])
def test_ply_mesh_round_trip(tmp_path, binary):
    faces = np.array([[0, 1, 2], [0, 2, 3]])
    write_ply(tmp_path / "square.ply", SQUARE, faces, binary=binary)
    mesh = read_ply(tmp_path / "square.ply")
    np.testing.assert_array_equal(mesh.vertices, SQUARE)
    np.testing.assert_array_equal(mesh.faces, faces)
    write_obj(tmp_path / "square.obj", SQUARE, faces)
    np.testing.assert_array_equal(read_obj(tmp_path / "square.obj").faces, faces)


def test_ascii_ply_quad_is_fan_triangulated_and_extra_elements_skipped(tmp_path):
    text = """ply
format ascii 1.0
comment a unit square as one quad, plus an edge element to skip
element vertex 4
property float x
property float y
property float z
property uchar red
element face 1
property list uchar int vertex_indices
element edge 1
property int vertex1
property int vertex2
end_header
0 0 0 255
1 0 0 255
1 1 0 255
0 1 0 255
4 0 1 2 3
0 2
"""
    (tmp_path / "quad.ply").write_text(text)
    mesh = read_ply(tmp_path / "quad.ply")
    np.testing.assert_array_equal(mesh.vertices, SQUARE)
    np.testing.assert_array_equal(mesh.faces, [[0, 1, 2], [0, 2, 3]])


def _binary_ply(endian: str, polygons: list[list[int]]) -> bytes:
    header = (f"ply\nformat binary_{'little' if endian == '<' else 'big'}_endian 1.0\nelement vertex 4\n"
              "property double x\nproperty double y\nproperty double z\n"
              f"element face {len(polygons)}\nproperty list uchar int vertex_indices\nend_header\n")  # fmt: skip
    body = SQUARE.astype(endian + "f8").tobytes()
    for polygon in polygons:
        body += np.uint8(len(polygon)).tobytes() + np.array(polygon, dtype=endian + "i4").tobytes()
    return header.encode() + body


@pytest.mark.parametrize("endian", ["<", ">"])
def test_binary_ply_with_mixed_polygons(tmp_path, endian):
    (tmp_path / "mixed.ply").write_bytes(_binary_ply(endian, [[0, 1, 2], [0, 1, 2, 3]]))
    mesh = read_ply(tmp_path / "mixed.ply")
    np.testing.assert_array_equal(mesh.vertices, SQUARE)
    np.testing.assert_array_equal(mesh.faces, [[0, 1, 2], [0, 1, 2], [0, 2, 3]])


def test_shipped_meshes_match_their_headers():
    """ant.ply is binary, airplane.ply ASCII; counts are those their headers declare (read here independently)."""
    for name, vertices, faces in [("ant", 486, 912), ("nut", 523, 1046), ("airplane", 1335, 2452)]:
        mesh = read_mesh(MESHES / f"{name}.ply")
        assert mesh.vertices.shape == (vertices, 3) and mesh.faces.shape == (faces, 3)
    raw = (MESHES / "ant.ply").read_bytes()
    start = raw.index(b"end_header\n") + len(b"end_header\n")
    independent = np.frombuffer(raw, dtype="<f4", count=486 * 3, offset=start).reshape(-1, 3)
    np.testing.assert_array_equal(read_mesh(MESHES / "ant.ply").vertices, independent)
    first = (MESHES / "airplane.ply").read_text().split("end_header\n")[1].splitlines()[0]
    np.testing.assert_allclose(read_mesh(MESHES / "airplane.ply").vertices[0], [float(w) for w in first.split()])


def test_obj_negative_and_slashed_indices(tmp_path):
    obj = "# square\nv 0 0 0\nv 1 0 0\nv 1 1 0\nv 0 1 0\nvn 0 0 1\nf 1/1/1 2/2/1 3/3/1\nf -4 -2 -1\n"
    (tmp_path / "m.obj").write_text(obj)
    np.testing.assert_array_equal(read_obj(tmp_path / "m.obj").faces, [[0, 1, 2], [0, 2, 3]])


def test_chemical_xyz_layout(tmp_path):
    (tmp_path / "water.xyz").write_text("3\nwater\nO 0 0 0.1\nH 0.76 0 -0.5\nH -0.76 0 -0.5\n")
    np.testing.assert_allclose(read_xyz(tmp_path / "water.xyz"), [[0, 0, 0.1], [0.76, 0, -0.5], [-0.76, 0, -0.5]])


def test_point_set_from_directory_and_npy(tmp_path):
    clouds = np.random.default_rng(1).normal(size=(3, 10, 3))
    for i, cloud in enumerate(clouds):
        write_points(tmp_path / "set" / f"{i}.xyz", cloud)
    np.testing.assert_allclose(read_point_set(tmp_path / "set"), clouds, rtol=1e-6)
    write_points(tmp_path / "set.npy", clouds)
    assert read_point_set(tmp_path / "set.npy").shape == (3, 10, 3)


# ------------------------------------------------------------------ bad input


@pytest.mark.parametrize("name", ["empty.npy", "empty.ply", "empty.xyz", "empty.obj"])
def test_empty_files(tmp_path, name):
    (tmp_path / name).write_text("")
    with pytest.raises(DataError, match=f"{name}: file is empty"):
        read_points(tmp_path / name)


def test_nan_point_named(tmp_path):
    (tmp_path / "bad.xyz").write_text("0 0 0\n1 1 1\nnan 0 0\n")
    with pytest.raises(DataError, match=r"bad\.xyz, record point 2: 1 point\(s\) with NaN or inf"):
        read_points(tmp_path / "bad.xyz")


def test_inf_in_second_cloud_of_a_set(tmp_path):
    clouds = np.zeros((2, 4, 3))
    clouds[1, 3, 0] = np.inf
    np.save(tmp_path / "set.npy", clouds)
    with pytest.raises(DataError, match=r"set\.npy, record cloud 1, point 3"):
        read_points(tmp_path / "set.npy")


def test_wrong_shape(tmp_path):
    np.save(tmp_path / "flat.npy", np.zeros((5, 2)))
    with pytest.raises(DataError, match=r"flat\.npy: expected points of shape \[N, 3\], got \[5, 2\]"):
        read_points(tmp_path / "flat.npy")


def test_mesh_without_faces(tmp_path):
    write_ply(tmp_path / "cloud.ply", SQUARE)
    assert len(read_ply(tmp_path / "cloud.ply").faces) == 0
    with pytest.raises(DataError, match=r"cloud\.ply: mesh has no faces"):
        read_mesh(tmp_path / "cloud.ply")


def test_face_index_out_of_range(tmp_path):
    (tmp_path / "m.obj").write_text("v 0 0 0\nv 1 0 0\nv 1 1 0\nf 1 2 9\n")
    with pytest.raises(DataError, match=r"m\.obj, record face 0: face refers to a vertex outside 0\.\.2"):
        read_obj(tmp_path / "m.obj")


@pytest.mark.parametrize("cut", [30, 13])  # inside the vertices; right after them, before the face list
def test_truncated_binary_ply(tmp_path, cut):
    (tmp_path / "cut.ply").write_bytes(_binary_ply("<", [[0, 1, 2]])[:-cut])
    with pytest.raises(DataError, match=r"cut\.ply: file ends inside element"):
        read_ply(tmp_path / "cut.ply")


def test_malformed_ascii_ply_record_is_named(tmp_path):
    (tmp_path / "bad.ply").write_text("ply\nformat ascii 1.0\nelement vertex 2\nproperty float x\nproperty float y\n"
                                      "property float z\nend_header\n0 0 0\n1 one 1\n")  # fmt: skip
    with pytest.raises(DataError, match=r"bad\.ply, record vertex 1: malformed vertex record"):
        read_ply(tmp_path / "bad.ply")


def test_malformed_lines_named(tmp_path):
    (tmp_path / "m.obj").write_text("v 0 0 0\nv 1 zero 0\n")
    with pytest.raises(DataError, match=r"m\.obj, record line 2"):
        read_obj(tmp_path / "m.obj")
    (tmp_path / "p.xyz").write_text("0 0 0\n1 2\n")
    with pytest.raises(DataError, match=r"p\.xyz, record line 2"):
        read_xyz(tmp_path / "p.xyz")


def test_unsupported_suffix_and_missing_file(tmp_path):
    with pytest.raises(DataError, match=r"cloud\.stl: unsupported point-cloud format \.stl"):
        read_points(tmp_path / "cloud.stl")
    with pytest.raises(DataError, match=r"missing\.ply: file not found"):
        read_points(tmp_path / "missing.ply")


def test_set_directory_with_unequal_sizes_names_the_file(tmp_path):
    write_points(tmp_path / "a.xyz", np.zeros((4, 3)))
    write_points(tmp_path / "b.xyz", np.zeros((5, 3)))
    with pytest.raises(DataError, match=r"b\.xyz: has shape \[5, 3\], but a\.xyz has \[4, 3\]"):
        read_point_set(tmp_path)


def test_failed_write_leaves_no_file(tmp_path):
    bad = np.zeros((3, 3))
    bad[1, 1] = np.nan
    for suffix in (".npy", ".ply", ".xyz", ".obj"):
        with pytest.raises(DataError, match="NaN"):
            write_points(tmp_path / f"out{suffix}", bad)
    assert list(tmp_path.iterdir()) == []
