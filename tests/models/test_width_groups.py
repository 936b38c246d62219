"""The transformer models run rows of similar width together (:func:`graphsbr.nn.by_width`): scores, losses and
gradients must be those of the batch run as one group."""
import pytest
import torch

from graphsbr.models import MODELS
from graphsbr.nn import packing
from graphsbr.train.config import model_config

from .helpers import SMALL, batch_of

#: (model, settings, gradient tolerance relative to each gradient's largest entry). HIE's QR backward divides by
#: |R_jj| raised to sqrt(eps) on sequences shorter than r, which magnifies float32 round-off (a different sum order)
#: to about 1e-3 of the gradient; without HIE, ASIF's gradients agree to round-off too.
GROUPED = [("sasrec", {}, 1e-4), ("nova", {}, 1e-4), ("difsr", {}, 1e-4), ("core", {}, 1e-4), ("comif", {}, 1e-4),
           ("asif", {"hie": False}, 1e-4), ("asif", {}, 1e-2), ("scorenet", {}, 1e-4)]


def outputs(model, batch):
    torch.manual_seed(0)  # the same random draws (COMIF's behaviour sequences) in both runs
    scores = model(batch)
    loss, _ = model.loss(batch)
    grads = torch.autograd.grad(loss, [p for p in model.parameters() if p.requires_grad], allow_unused=True)
    return scores, loss, grads


@pytest.mark.parametrize(("name", "settings", "tolerance"), GROUPED)
def test_width_groups_change_nothing(name, settings, tolerance, dataset, one_thread, monkeypatch):
    torch.manual_seed(0)
    cls = MODELS[name]
    model = cls.from_dataset(dataset, model_config(cls, {**SMALL[name], **settings})).eval()  # eval: no dropout
    batch = batch_of(dataset, model, slice(0, 200))
    edges = (2, 4, 8)
    groups = torch.bucketize(batch.lengths, torch.tensor(edges)).unique()
    assert len(groups) >= 3, batch.lengths.unique()
    monkeypatch.setattr(packing, "MIN_GROUP_ROWS", 1)
    monkeypatch.setattr(packing, "WIDTH_EDGES", ())
    whole = outputs(model, batch)
    monkeypatch.setattr(packing, "WIDTH_EDGES", edges)
    grouped = outputs(model, batch)
    torch.testing.assert_close(grouped[0], whole[0])
    torch.testing.assert_close(grouped[1], whole[1])
    for g, w in zip(grouped[2], whole[2]):
        assert (g is None) == (w is None)
        if g is not None:
            assert (g - w).abs().max() <= tolerance * w.abs().max() + 1e-7, name
