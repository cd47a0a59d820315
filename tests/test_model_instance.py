"""Optional image-level instance strengthening (docs/method.md, "Instance strengthening (IS)")."""

import torch

from ktn_model.modeling.instance import InstanceStrengthening, person_masks


def _target():
    return {"boxes": torch.tensor([[4.0, 8.0, 20.0, 16.0], [24.0, 0.0, 32.0, 8.0]]),
            "dp_valid": torch.tensor([True, False]),
            "dp_masks": torch.ones(2, 256, 256, dtype=torch.uint8)}


def test_person_masks_mark_bodies_and_ignore_persons_without_densepose():
    expected = torch.zeros(6, 10, dtype=torch.long)
    expected[2:5, 1:6] = 1  # cells whose top-left corner (4j, 4i) lies in the first box
    expected[0:3, 6:9] = -1  # second person has no DensePose: ignored
    assert torch.equal(person_masks(_target(), (6, 10)), expected)


def test_person_masks_of_an_image_without_persons_are_background():
    empty = {"boxes": torch.zeros(0, 4), "dp_valid": torch.zeros(0, dtype=torch.bool),
             "dp_masks": torch.zeros(0, 256, 256, dtype=torch.uint8)}
    assert torch.count_nonzero(person_masks(empty, (2, 3))) == 0


def test_instance_strengthening_loss_is_weighted_cross_entropy():
    module = InstanceStrengthening(8, weight=2.0)
    p_c = torch.randn(1, 8, 6, 10, requires_grad=True)
    loss = module(p_c, [_target()])
    gt = person_masks(_target(), (6, 10))
    expected = 2.0 * torch.nn.functional.cross_entropy(module.predictor(p_c), gt[None], ignore_index=-1)
    assert torch.allclose(loss, expected)
    loss.backward()
    assert p_c.grad.abs().sum() > 0
