import matplotlib.image as mpimg
import networkx as nx

from domains.graphs.plots import write_graph_grid


def test_picture_is_written_atomically(tmp_path):
    path = write_graph_grid([nx.cycle_graph(5)] * 3, [nx.path_graph(4)] * 2, tmp_path / "grid.png", per_row=3)
    image = mpimg.imread(path)
    assert image.shape[0] > 100 and image.shape[1] > 300 and image[..., :3].std() > 0.01  # not blank
    assert [p.name for p in tmp_path.iterdir()] == ["grid.png"]
