"""The torch gather with two gloo processes on 127.0.0.1.

Usage: dist_torch_gloo.py RANK WORLD PORT OUT.npz. Each rank computes the
loss of its half of a global batch against the gathered columns and its
gradients; the test compares them with the single-process global loss.
"""

import os
import sys

os.environ["KERAS_BACKEND"] = "torch"

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.distributed as dist  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(__file__))))

from keras_clinclip.backend import collectives  # noqa: E402
from keras_clinclip.losses import SoftLabelContrastive  # noqa: E402
from tests.losses import reference  # noqa: E402

KEYS = ("image_embeddings", "text_embeddings", "negation_embeddings")


def main(rank, world, port, out):
    dist.init_process_group(
        "gloo",
        init_method=f"tcp://127.0.0.1:{port}",
        rank=rank,
        world_size=world,
    )
    assert collectives.num_replicas() == world
    y_true, y_pred = reference.random_batch(n=8, seed=0)
    rows = slice(rank * 8 // world, (rank + 1) * 8 // world)
    local_true = {k: v[rows] for k, v in y_true.items()}
    local_pred = {
        k: (v[rows] if k != "logit_scale" else v) for k, v in y_pred.items()
    }
    leaves = {k: torch.tensor(local_pred[k], requires_grad=True) for k in KEYS}
    loss = SoftLabelContrastive(negation_soft_targets=True)
    value = loss(local_true, dict(local_pred, **leaves))
    value.backward()
    np.savez(
        out,
        loss=value.detach().numpy(),
        offset=np.asarray(
            collectives.replica_offset(len(local_true["labels"]))
        ),
        **{k: leaves[k].grad.numpy() for k in KEYS},
    )
    dist.destroy_process_group()


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4])
