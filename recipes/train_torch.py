"""Train ClinCLIP on PyTorch: one device, or several through torchrun + DDP.

    python recipes/train_torch.py --dataset=synthetic --epochs=1
    torchrun --nproc_per_node=4 recipes/train_torch.py --batch_size=256

Under `torchrun` every process joins the process group (nccl on GPUs,
gloo on CPU), starts from rank 0's weights, reads its contiguous slice of
each global batch (`--batch_size` is global), gathers the embeddings of
all processes in the loss (with gradient) and averages the gradients
before each AdamW step: the DDP recipe, on Keras's own `model.fit`. Rank 0
writes logs, checkpoints and backups.
"""

import os
import sys

os.environ["KERAS_BACKEND"] = "torch"

from absl import app  # noqa: E402

from keras_clinclip.training.config import config_from_args  # noqa: E402
from keras_clinclip.training.config import define_absl_flags  # noqa: E402

define_absl_flags()


def main(argv):
    del argv
    from absl import flags

    from keras_clinclip.training import distribution
    from keras_clinclip.training.train import train

    setup = distribution.torch_setup()
    result = train(config_from_args(flags.FLAGS), setup=setup)
    print(
        f"FINISHED steps={result.steps} start={result.start_step} "
        f"replicas={setup.num_replicas} {setup.description}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(app.run(main))
