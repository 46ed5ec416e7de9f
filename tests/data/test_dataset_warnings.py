"""Warnings about a data set too small or too uniform to train on (issue 13)."""
from __future__ import annotations

from dcgan.data import dataset_warnings


def test_dataset_warnings():
    assert dataset_warnings(60_000, 128) == []
    few = dataset_warnings(20, 64)
    assert len(few) == 2 and "fewer than one batch of 64" in few[0] and "only 20 image(s)" in few[1]
    assert any("batch size 1" in w and "BatchNorm" in w for w in dataset_warnings(5000, 1))
    assert len(dataset_warnings(300, 16)) == 1
