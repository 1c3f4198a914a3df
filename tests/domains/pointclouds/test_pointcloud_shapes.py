"""Area sampling, procedural shapes and normalisation against closed forms."""

import math

import numpy as np
import pytest

from domains.pointclouds.io import Mesh
from domains.pointclouds.normalize import GlobalStandardizer, normalize
from domains.pointclouds.shapes import Superquadric, Torus, draw_table, generate_family, sample_parts
from domains.pointclouds.surface import sample_surface, triangle_areas
from sciddm.errors import ConfigError, DataError


def test_triangle_area_hand_counted():
    vertices = np.array([[0, 0, 0], [3, 0, 0], [0, 4, 0], [0, 0, 5]], dtype=float)
    np.testing.assert_allclose(triangle_areas(vertices, np.array([[0, 1, 2], [0, 1, 3]])), [6.0, 7.5])


def test_sampling_is_proportional_to_area_and_stays_on_faces():
    """Triangles of area 1/2 (z = 0) and 3/2 (z = 1): 3/4 of the points land on the second one."""
    vertices = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1], [3, 0, 1], [0, 1, 1]], dtype=float)
    points = sample_surface(Mesh(vertices, np.array([[0, 1, 2], [3, 4, 5]])), 20_000, np.random.default_rng(0))
    upper = np.isclose(points[:, 2], 1)
    assert abs(upper.mean() - 0.75) < 4 * math.sqrt(0.75 * 0.25 / 20_000)
    assert np.all(points[~upper, 2] == 0)
    assert np.all(points[upper, 0] / 3 + points[upper, 1] <= 1 + 1e-12) and points.min() >= 0


def test_sphere_sampling_obeys_archimedes():
    """Uniform on the unit sphere: P(z > h) = (1 - h) / 2, so P(z > 1/2) = 1/4 and E[z] = 0."""
    mesh = Superquadric((1.0, 1.0, 1.0), 1.0, 1.0).mesh(96)
    points = sample_surface(mesh, 40_000, np.random.default_rng(1))
    assert abs((points[:, 2] > 0.5).mean() - 0.25) < 0.01
    assert abs(points[:, 2].mean()) < 0.01


def test_triangulated_areas_match_closed_forms():
    torus, sphere = Torus(0.8, 0.3).mesh(96), Superquadric((1.0, 1.0, 1.0), 1.0, 1.0).mesh(96)
    assert triangle_areas(torus.vertices, torus.faces).sum() == pytest.approx(4 * math.pi**2 * 0.8 * 0.3, rel=1e-3)
    assert triangle_areas(sphere.vertices, sphere.faces).sum() == pytest.approx(4 * math.pi, rel=1e-3)


def test_family_points_lie_on_their_surfaces():
    rng = np.random.default_rng(2)
    torus = Torus(0.7, 0.25, centre=(0.1, 0.0, -0.2))
    distance = torus.tube_distance(sample_parts((torus,), 2000, rng))
    assert np.abs(distance - 0.25).max() < 1e-3  # chord error of a 96 x 96 grid
    quadric = Superquadric((0.9, 0.6, 0.5), 0.7, 1.2)
    assert np.abs(quadric.inside_outside(sample_parts((quadric,), 2000, rng)) - 1).max() < 0.02


def test_union_of_two_spheres_drops_the_hidden_caps():
    """Unit spheres centred at x = -1/2 and x = +1/2: each hides a cap of height 1/2 (area pi) inside the
    other, so every kept point is at distance >= 1 from both centres and half of them have x > 0."""
    spheres = tuple(Superquadric((1.0, 1.0, 1.0), 1.0, 1.0, (x, 0.0, 0.0)) for x in (-0.5, 0.5))
    points = sample_parts(spheres, 8000, np.random.default_rng(4))
    for centre in ([-0.5, 0, 0], [0.5, 0, 0]):
        assert np.linalg.norm(points - centre, axis=1).min() > 1 - 2e-3
    assert abs((points[:, 0] > 0).mean() - 0.5) < 4 * math.sqrt(0.25 / 8000)


def test_table_spans_floor_to_top():
    shape = draw_table(np.random.default_rng(3))
    points = sample_parts(shape.parts, 3000, np.random.default_rng(4))
    height = shape.parameters["height"]
    assert points.shape == (3000, 3)
    assert points[:, 2].min() == pytest.approx(-height, abs=0.02)
    assert points[:, 2].max() == pytest.approx(height + 0.08, abs=1e-3)
    assert np.abs(points[:, 0]).max() == pytest.approx(shape.parameters["width"], abs=0.02)


def test_generate_family_is_reproducible_and_records_parameters():
    a, params = generate_family("torus", 3, 128, seed=7)
    b, _ = generate_family("torus", 3, 128, seed=7)
    c, _ = generate_family("torus", 3, 128, seed=8)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    for cloud, p in zip(a, params, strict=True):
        assert 0.6 <= p["major"] <= 0.9 and 0.15 <= p["minor"] <= 0.35
        assert np.abs(Torus(p["major"], p["minor"]).tube_distance(cloud) - p["minor"]).max() < 1e-3


def test_generate_family_rejects_bad_options():
    with pytest.raises(ConfigError, match="unknown shape family 'cube'; choose one of: superquadric, table, torus"):
        generate_family("cube", 1, 10, 0)
    with pytest.raises(ConfigError, match="must be positive"):
        generate_family("torus", 0, 10, 0)


def test_zero_area_mesh_is_a_data_error():
    flat = Mesh(np.zeros((3, 3)), np.array([[0, 1, 2]]))
    with pytest.raises(DataError, match="spike.obj: all faces of the mesh have zero area"):
        sample_surface(flat, 5, np.random.default_rng(0), source="spike.obj")


def test_per_shape_normalisations():
    cloud = np.random.default_rng(5).normal(size=(500, 3)) * [3.0, 1.0, 0.5] + [10.0, -2.0, 4.0]
    sphere = normalize(cloud, "unit_sphere")
    np.testing.assert_allclose(sphere.mean(axis=0), 0, atol=1e-12)
    assert np.linalg.norm(sphere, axis=1).max() == pytest.approx(1.0)
    box = normalize(cloud[None], "unit_box")[0]
    np.testing.assert_allclose((box.max(axis=0) + box.min(axis=0)) / 2, 0, atol=1e-12)
    assert box[:, 0].min() == pytest.approx(-1) and box[:, 0].max() == pytest.approx(1)  # x is the longest side
    np.testing.assert_array_equal(normalize(cloud, "none"), cloud)
    with pytest.raises(ConfigError, match="unknown normalization 'unit'"):
        normalize(cloud, "unit")


def test_global_standardizer_pools_all_points():
    clouds = np.random.default_rng(6).normal(size=(4, 100, 3)) * 2.0 + [1.0, 2.0, 3.0]
    standardizer = GlobalStandardizer.fit(clouds)
    scaled = standardizer(clouds).reshape(-1, 3)
    np.testing.assert_allclose(scaled.mean(axis=0), 0, atol=1e-12)
    assert scaled.std() == pytest.approx(1.0)
    np.testing.assert_allclose(standardizer.inverse(standardizer(clouds)), clouds)
