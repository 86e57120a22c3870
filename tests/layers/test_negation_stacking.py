"""NegationStacking / NegationUnstacking: every slot, in row-major order."""

import keras
import numpy as np
from keras import ops

from keras_clinclip.layers import NegationStacking
from keras_clinclip.layers import NegationUnstacking
from keras_clinclip.layers.negation_stacking import embed_with_negations


def test_stacking_then_unstacking_is_the_identity_on_rows():
    rng = np.random.default_rng(0)
    ids = rng.integers(1, 9, (3, 4)).astype("int32")
    negation_ids = rng.integers(1, 9, (3, 2, 4)).astype("int32")
    mask = np.ones((3, 4), bool)
    negation_mask = rng.random((3, 2, 4)) > 0.3
    stacked, stacked_mask = NegationStacking()(
        ids, mask, negation_ids, negation_mask
    )
    stacked = ops.convert_to_numpy(stacked)
    np.testing.assert_array_equal(stacked[:3], ids)
    np.testing.assert_array_equal(stacked[3:], negation_ids.reshape(6, 4))
    np.testing.assert_array_equal(
        ops.convert_to_numpy(stacked_mask)[3:],
        negation_mask.reshape(6, 4).astype("int32"),
    )
    reports, negations = NegationUnstacking(2)(stacked.astype("float32"), ids)
    np.testing.assert_array_equal(ops.convert_to_numpy(reports), ids)
    np.testing.assert_array_equal(ops.convert_to_numpy(negations), negation_ids)


def test_symbolic_shapes_and_config():
    ids = keras.KerasTensor((None, 5), dtype="int32")
    negations = keras.KerasTensor((None, 3, 5), dtype="int32")
    out, mask = NegationStacking().compute_output_spec(
        ids, ids, negations, negations
    )
    assert tuple(out.shape) == (None, 5) and mask.dtype == "int32"
    layer = NegationUnstacking(3, name="unpack")
    clone = NegationUnstacking.from_config(layer.get_config())
    assert clone.num_negations == 3


def test_embed_with_negations_gives_every_slot_its_embedding():
    rng = np.random.default_rng(1)
    inputs = {
        "token_ids": rng.integers(1, 9, (2, 3)).astype("int32"),
        "padding_mask": np.ones((2, 3), "int32"),
        "negation_token_ids": rng.integers(1, 9, (2, 2, 3)).astype("int32"),
        "negation_padding_mask": np.ones((2, 2, 3), "int32"),
    }

    def embed(ids, mask):
        return ops.cast(ids, "float32") * 2.0

    out = embed_with_negations(embed, inputs, 2)
    assert sorted(out) == ["negation_embeddings", "text_embeddings"]
    np.testing.assert_array_equal(
        ops.convert_to_numpy(out["negation_embeddings"]),
        2.0 * inputs["negation_token_ids"],
    )
