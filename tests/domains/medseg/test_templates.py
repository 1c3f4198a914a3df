"""The real MNI152 template from nilearn's data folder, with T1 contrast facts that could be false."""

import numpy as np
import pytest

from domains.medseg.templates import colin27_available, load_colin27_aal, load_mni152, tissue_labels
from sciddm.errors import ConfigError


@pytest.fixture(scope="module")
def tissue():
    return load_mni152("tissue")


def test_mni152_grid_and_tissue_volumes(tissue):
    assert tissue.image.data.shape == (197, 233, 189)
    assert tissue.image.spacing == (1.0, 1.0, 1.0)
    assert tissue.image.affine[:3, 3] == pytest.approx([-98.0, -134.0, -72.0])
    millilitres = [np.count_nonzero(tissue.labels == k) / 1000.0 for k in (1, 2)]  # 1 mm^3 voxels
    assert 300 < millilitres[1] < 900  # white matter of an adult brain template
    assert 1000 < sum(millilitres) < 2000  # grey + white matter


def test_t1_contrast_orders_white_above_grey_above_background(tissue):
    means = [tissue.image.data[tissue.labels == k].mean() for k in range(3)]
    assert means[2] > means[1] > 5 * means[0]


def test_wm_task_thresholds_the_probability_map():
    wm = np.array([0.2, 0.5, 0.9])
    assert tissue_labels(np.zeros(3), wm, "wm").tolist() == [0, 1, 1]
    assert tissue_labels(np.zeros(3), wm, "wm", threshold=0.6).tolist() == [0, 0, 1]
    assert tissue_labels(np.array([0.7, 0.3, 0.1]), wm, "tissue").tolist() == [1, 2, 2]
    with pytest.raises(ConfigError, match="unknown MNI152 task 'csf'"):
        tissue_labels(np.zeros(3), wm, "csf")


@pytest.mark.skipif(not colin27_available(), reason="Debian mricron-data not installed")
def test_colin27_aal_has_116_regions():
    subject = load_colin27_aal()
    assert len(subject.label_names) == 117
