"""The Learn page's pure figure builders (explorer/learn_charts.py): the model diagram and the score histograms."""
from __future__ import annotations

import numpy as np

from dcgan.analysis.overview import model_overview
from dcgan.nets.models import Discriminator, Generator, count_parameters
from explorer.learn_charts import overview_dot, score_histograms


def test_the_diagram_has_every_block_and_no_d_without_one():
    G = Generator(z_dim=16, image_size=28, channels=1, width=8)
    D = Discriminator(28, 1, 8)
    dot = overview_dot(model_overview(G, D))
    assert dot.startswith("digraph") and dot.rstrip().endswith("}")
    assert "cluster_d" in dot and "image -> d0" in dot and "g0 -> g1" in dot
    assert f"G: {count_parameters(G):,} parameters" in dot and "1×28×28" in dot and "layer 1:" in dot
    alone = overview_dot(model_overview(G, None, "no D here"))
    assert "cluster_d" not in alone and "d0" not in alone and "image" in alone


def test_score_histograms_before_and_after():
    rng = np.random.default_rng(0)
    before = score_histograms(rng.random(8), rng.random(8), None, None, "probability")
    assert len(before.data) == 2
    both = score_histograms(rng.normal(size=8), rng.normal(size=8), rng.normal(size=8), rng.normal(size=8), "logit")
    assert len(both.data) == 4 and [t.name for t in both.data] == ["real", "fake (G's)"] * 2
    same = score_histograms(np.zeros(4), np.zeros(4), None, None, "logit")  # one value: still a range
    assert same.data[0].xbins.end > same.data[0].xbins.start
