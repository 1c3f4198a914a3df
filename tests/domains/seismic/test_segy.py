from pathlib import Path

import numpy as np
import pytest
import segyio

from domains.seismic import segy
from domains.seismic.segy import new_headers, read_segy, write_segy
from sciddm.errors import ConfigError, DataError

from .segy_files import CROSSLINES, INLINES, N_SAMPLES, trace_values, write_crossline_sorted


@pytest.mark.parametrize("sample_format", [1, 3, 5])
def test_round_trip_is_byte_exact(tmp_path: Path, sample_format: int):
    source, copy = tmp_path / "in.sgy", tmp_path / "out.sgy"
    write_crossline_sorted(source, sample_format)
    volume = read_segy(source)
    write_segy(copy, volume.data, volume.headers)
    assert copy.read_bytes() == source.read_bytes()


def test_read_places_each_trace_at_its_inline_and_crossline(tmp_path: Path):
    path = tmp_path / "in.sgy"
    write_crossline_sorted(path)
    volume = read_segy(path)
    assert volume.inlines.tolist() == list(INLINES) and volume.crosslines.tolist() == list(CROSSLINES)
    for i, il in enumerate(INLINES):
        for j, xl in enumerate(CROSSLINES):
            np.testing.assert_array_equal(volume.data[i, j], trace_values(il, xl))
    np.testing.assert_array_equal(volume.headers.samples, np.arange(N_SAMPLES) * 2.0)
    assert volume.present.all()
    assert len(volume.headers.text) == 2 and volume.headers.text[1].startswith(b"C 1 an extended ASCII")


def test_new_data_written_with_input_headers_keeps_every_header_byte(tmp_path: Path):
    source, output = tmp_path / "in.sgy", tmp_path / "out.sgy"
    write_crossline_sorted(source)
    volume = read_segy(source)
    replaced = np.random.default_rng(0).normal(size=volume.data.shape).astype(np.float32)
    write_segy(output, replaced, volume.headers)
    again = read_segy(output)
    np.testing.assert_array_equal(again.data, replaced)
    original, written = source.read_bytes(), output.read_bytes()
    assert written[:3600 + 3200] == original[:3600 + 3200]
    trace_bytes = 240 + 4 * N_SAMPLES
    for k in range(len(volume.headers.trace)):
        start = 3600 + 3200 + k * trace_bytes
        assert written[start : start + 240] == original[start : start + 240]


def test_new_headers_make_a_standard_file_segyio_understands(tmp_path: Path):
    path = tmp_path / "synthetic.sgy"
    data = np.random.default_rng(1).normal(size=(4, 3, 7)).astype(np.float32)
    write_segy(path, data, new_headers((4, 3), 7, sample_interval_ms=2.0, first_inline=100, first_crossline=7))
    with segyio.open(path) as handle:  # strict geometry: segyio itself must infer the cube
        assert handle.ilines.tolist() == [100, 101, 102, 103] and handle.xlines.tolist() == [7, 8, 9]
        assert segyio.tools.dt(handle) == 2000
        np.testing.assert_array_equal(segyio.tools.cube(handle), data)
        assert bytes(handle.text[0]).startswith(b"C 1 SciDDM seismic volume")


def test_ibm_floats_round_trip_through_new_headers(tmp_path: Path):
    first, second = tmp_path / "a.sgy", tmp_path / "b.sgy"
    data = np.random.default_rng(2).normal(size=(3, 2, 5)).astype(np.float32)
    write_segy(first, data, new_headers((3, 2), 5, sample_format=1))
    volume = read_segy(first)
    np.testing.assert_allclose(volume.data, data, rtol=1e-6)  # IBM has a 24-bit hex mantissa
    write_segy(second, volume.data, volume.headers)
    assert second.read_bytes() == first.read_bytes()


def test_missing_file_is_named(tmp_path: Path):
    with pytest.raises(DataError, match="nope.sgy: no such SEG-Y file"):
        read_segy(tmp_path / "nope.sgy")


def test_non_segy_file_is_named(tmp_path: Path):
    path = tmp_path / "notes.sgy"
    path.write_text("these are field notes, not seismic traces\n" * 200)
    with pytest.raises(DataError, match="notes.sgy: not a readable SEG-Y file"):
        read_segy(path)


def test_truncated_file_is_named(tmp_path: Path):
    path = tmp_path / "cut.sgy"
    write_crossline_sorted(path)
    path.write_bytes(path.read_bytes()[:-7])
    with pytest.raises(DataError, match="cut.sgy: not a readable SEG-Y file"):
        read_segy(path)


def test_two_traces_at_one_position_name_the_trace(tmp_path: Path):
    path = tmp_path / "dup.sgy"
    write_crossline_sorted(path, positions=[(5, 20), (6, 20), (5, 20), (6, 22)])
    with pytest.raises(DataError, match=r"dup.sgy, record trace 2: inconsistent geometry: traces 0 and 2"):
        read_segy(path)


def test_holes_in_the_grid_are_an_error_unless_allowed(tmp_path: Path):
    path = tmp_path / "holes.sgy"
    positions = [(5, 20), (6, 20), (5, 22)]
    write_crossline_sorted(path, positions=positions)
    with pytest.raises(DataError, match="holes.sgy: inconsistent geometry: 3 traces .* inline 6, crossline 22"):
        read_segy(path)
    volume = read_segy(path, allow_holes=True)
    assert volume.present.tolist() == [[True, True], [True, False]]
    np.testing.assert_array_equal(volume.data[1, 1], np.zeros(N_SAMPLES))
    np.testing.assert_array_equal(volume.data[1, 0], trace_values(6, 20))
    rewritten = tmp_path / "rewritten.sgy"
    write_segy(rewritten, volume.data, volume.headers)
    assert rewritten.read_bytes() == path.read_bytes()


def test_wrong_shape_is_refused_before_anything_is_written(tmp_path: Path):
    headers = new_headers((2, 2), 4)
    with pytest.raises(ConfigError, match=r"shape \(2, 3, 4\) cannot be written with headers for shape \(2, 2, 4\)"):
        write_segy(tmp_path / "x.sgy", np.zeros((2, 3, 4), np.float32), headers)
    assert list(tmp_path.iterdir()) == []


def test_interrupted_write_leaves_no_half_written_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    path = tmp_path / "survey.sgy"
    data = np.ones((2, 2, 4), np.float32)
    write_segy(path, data, new_headers((2, 2), 4))
    before = path.read_bytes()

    def crash(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(segy, "_put_raw_headers", crash)
    with pytest.raises(KeyboardInterrupt):
        write_segy(path, 2 * data, new_headers((2, 2), 4))
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["survey.sgy"]
