"""make_dataset on every backend: contract, determinism, files, errors."""

import logging

import numpy as np
import pytest
import tensorflow as tf

from keras_clinclip.data import NegationOptions
from keras_clinclip.data import PipelineOptions
from keras_clinclip.data import dataset_options
from keras_clinclip.data import make_dataset
from keras_clinclip.data import synthetic_pairs
from keras_clinclip.data.records import select
from tests.data import trees


class HashPreprocessor:
    """Any object with `tokenize` and `convert_images` will do.

    Token 0 of each text is a hash of the whole text, so tests can tell
    which record a batch row came from.
    """

    length = 6

    def tokenize(self, texts):
        ids = tf.strings.to_hash_bucket_fast(texts, 1_000_000) + 1
        ids = tf.repeat(ids[..., None], self.length, axis=-1)
        ids = tf.cast(ids, "int32")
        return {"token_ids": ids, "padding_mask": ids > 0}

    def convert_images(self, images):
        return tf.image.grayscale_to_rgb(tf.cast(images, "float32"))


def _key(text):
    return int(tf.strings.to_hash_bucket_fast(text, 1_000_000)) + 1


@pytest.fixture(scope="module")
def records():
    return synthetic_pairs(10, seed=0, image_size=32, num_negations=2)


def _rows(dataset):
    return [int(v) for x, _ in dataset for v in x["token_ids"][:, 0]]


def test_batches_follow_the_contract(records):
    from tests.helpers import tiny_preprocessor

    dataset = make_dataset(records, tiny_preprocessor(), batch_size=4)
    x, y = next(iter(dataset))
    assert tuple(x["images"].shape) == (4, 32, 32, 3)
    assert x["images"].dtype == tf.float32
    assert tuple(x["token_ids"].shape) == (4, 16)
    assert x["token_ids"].dtype == tf.int32
    assert x["padding_mask"].dtype == tf.bool
    assert tuple(x["negation_token_ids"].shape) == (4, 2, 16)
    assert tuple(x["negation_padding_mask"].shape) == (4, 2, 16)
    assert tuple(x["graph_nodes"].shape)[:1] == (4,)
    assert tuple(x["graph_adjacency"].shape)[1:] == (32, 32)
    assert tuple(y["labels"].shape) == (4, 14)
    np.testing.assert_array_equal(
        np.isnan(y["labels"].numpy()), np.isnan(records["labels"][:4])
    )
    # Slots whose negation reaches the model as its report's tokens are
    # masked by the collision guard (tests/data/test_truncation.py).
    masked = {(r, k) for r, k, _ in dataset.error_log.masked_negations}
    expected_mask = [
        [
            float(k < len(records["negations"][i]) and (i, k) not in masked)
            for k in range(2)
        ]
        for i in range(4)
    ]
    np.testing.assert_array_equal(y["negation_mask"].numpy(), expected_mask)
    np.testing.assert_array_equal(
        y["negation_labels"].numpy(), records["negation_labels"][:4]
    )
    batches = list(dataset)
    assert sum(len(b[1]["labels"]) for b in batches) == 10
    dropped = make_dataset(
        records,
        tiny_preprocessor(),
        4,
        options=PipelineOptions(drop_remainder=True),
    )
    assert [len(b[1]["labels"]) for b in dropped] == [4, 4]


def test_same_seed_same_batches(records):
    pre = HashPreprocessor()
    options = PipelineOptions(seed=7, drop_remainder=False)
    a = make_dataset(records, pre, 3, training=True, options=options)
    b = make_dataset(records, pre, 3, training=True, options=options)
    first = [x["images"].numpy() for x, _ in a]
    second = [x["images"].numpy() for x, _ in b]
    for p, q in zip(first, second):
        np.testing.assert_array_equal(p, q)
    assert _rows(a) != _rows(
        make_dataset(
            records, pre, 3, training=True, options=PipelineOptions(seed=8)
        )
    )
    # A new epoch reshuffles and re-augments, deterministically.
    epoch2 = [x["images"].numpy() for x, _ in a]
    assert any(not np.array_equal(p, q) for p, q in zip(first, epoch2))
    order = sorted(_rows(a))
    assert order == sorted(_key(t) for t in records["report"])


def test_autotune_thread_is_off_unless_asked(records):
    """tf.data's autotuning thread stalls every epoch's end by up to 5 s."""
    pre = HashPreprocessor()
    default = make_dataset(records, pre, batch_size=4)
    assert default.options().autotune.enabled is False
    assert default.options().deterministic is True
    tuned = make_dataset(
        records, pre, batch_size=4, options=PipelineOptions(autotune=True)
    )
    assert tuned.options().autotune.enabled is True
    # Same batches either way: only the tuning differs.
    assert _rows(default) == _rows(tuned)
    options = dataset_options(autotune=True, deterministic=False)
    assert options.autotune.enabled is True
    assert options.deterministic is False


def test_split_and_shards(records):
    pre = HashPreprocessor()
    keys = [_key(t) for t in records["report"]]
    train = make_dataset(records, pre, batch_size=4, split="train")
    wanted = [k for k, s in zip(keys, records["split"]) if s == "train"]
    assert _rows(train) == wanted
    shards = [
        _rows(
            make_dataset(
                records,
                pre,
                batch_size=2,
                options=PipelineOptions(shard=(2, i)),
            )
        )
        for i in range(2)
    ]
    assert sorted(shards[0] + shards[1]) == sorted(keys)
    assert not set(shards[0]) & set(shards[1])


def test_no_horizontal_flip_by_default():
    image = np.zeros((6, 32, 32), np.uint8)
    image[:, :, :12] = 255  # bright on the image's left only
    base = synthetic_pairs(6, seed=1, image_size=32, graphs=False)
    base["image"] = image
    pre = HashPreprocessor()
    for x, _ in make_dataset(base, pre, batch_size=6, training=True):
        left = x["images"][:, :, :10].numpy().mean(axis=(1, 2, 3))
        right = x["images"][:, :, -10:].numpy().mean(axis=(1, 2, 3))
        assert np.all(left > right + 0.3)
    flipped = make_dataset(
        base,
        pre,
        6,
        training=True,
        options=PipelineOptions(augmentation={"horizontal_flip": True}),
    )
    x, _ = next(iter(flipped))
    left = x["images"][:, :, :10].numpy().mean(axis=(1, 2, 3))
    right = x["images"][:, :, -10:].numpy().mean(axis=(1, 2, 3))
    assert np.any(right > left)


def _file_records(tmp_path):
    from tests.data.test_images import write_dicom

    paths = [
        trees.write_image(tmp_path / "a.png", seed=1),
        trees.write_image(tmp_path / "b.jpg", seed=2),
        write_dicom(
            tmp_path / "c.dcm", np.tile(np.linspace(0, 4000, 40), (30, 1))
        ),
        trees.write_image(tmp_path / "d.png", seed=3),
    ]
    return {
        "id": ["a", "b", "c", "d"],
        "image_path": [str(p) for p in paths],
        "report": ["No effusion.", "Edema.", "Small nodule.", "Clear."],
        "labels": np.full((4, 14), np.nan, np.float32),
        "split": ["train"] * 4,
    }


def test_decodes_png_jpeg_and_dicom(tmp_path):
    records = _file_records(tmp_path)
    dataset = make_dataset(records, HashPreprocessor(), 4, image_size=24)
    x, _ = next(iter(dataset))
    images = x["images"].numpy()
    assert images.shape == (4, 24, 24, 3)
    assert images.min() >= 0.0 and images.max() <= 1.0
    # The DICOM ramp goes from black (left) to white (right).
    assert images[2, :, -3:].mean() > 0.9 and images[2, :, :3].mean() < 0.1


def _corrupt(tmp_path):
    records = _file_records(tmp_path)
    (tmp_path / "b.jpg").write_bytes(b"\xff\xd8\xff" + b"\0" * 20)
    return records


def test_strict_mode_names_the_file(tmp_path):
    records = _corrupt(tmp_path)
    dataset = make_dataset(records, HashPreprocessor(), 2, image_size=16)
    with pytest.raises(Exception, match=r"row 2: .*b\.jpg"):
        list(dataset)
    bad = dict(records, labels=records["labels"].copy())
    bad["labels"][3, 2] = 3.0
    with pytest.raises(ValueError, match=r"row 4 \(id d.*label 3\.0"):
        make_dataset(bad, HashPreprocessor(), 2)
    empty = dict(records, report=["x", "", "y", "z"])
    with pytest.raises(ValueError, match=r"row 2 .*empty report"):
        make_dataset(empty, HashPreprocessor(), 2)
    missing = dict(records, image_path=records["image_path"][:3] + ["no.png"])
    with pytest.raises(ValueError, match="no.png"):
        make_dataset(missing, HashPreprocessor(), 2)


def test_skip_mode_counts_and_logs(tmp_path, caplog):
    records = _corrupt(tmp_path)
    five = {
        key: (
            np.concatenate([value, value[:1]])
            if isinstance(value, np.ndarray)
            else list(value) + [value[0]]
        )
        for key, value in records.items()
    }
    five["id"][4] = "e"
    five["report"][4] = ""  # an empty report
    dataset = make_dataset(
        five,
        HashPreprocessor(),
        2,
        image_size=16,
        options=PipelineOptions(on_error="skip"),
    )
    with caplog.at_level(logging.WARNING, logger="keras_clinclip.data"):
        rows = _rows(dataset)
        rows_again = _rows(dataset)
    kept = [_key(five["report"][i]) for i in (0, 2, 3)]
    assert rows == kept and rows_again == kept
    log = dataset.error_log
    assert len(log.epochs) == 2
    assert log.epochs[0]["skipped"] == 2
    assert "b.jpg" in log.epochs[0]["decode_errors"][0][1]
    assert "empty report" in log.epochs[0]["record_errors"][0][2]
    assert "skipped 2 sample(s)" in caplog.text


def test_feeds_a_fit_step(records):
    from tests.helpers import tiny_backbone
    from tests.helpers import tiny_preprocessor

    # Negations on, graph branch off: the graph arrays' batching is checked
    # above, and the graph encoder would double the compile time here.
    model = tiny_backbone(num_negations=2)
    model.compile()
    train = select(records, list(range(4)))
    dataset = make_dataset(
        train,
        tiny_preprocessor(),
        batch_size=4,
        training=True,
        options=PipelineOptions(graphs=False),
    )
    x, _ = next(iter(dataset))
    assert "graph_nodes" not in x
    history = model.fit(dataset, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][-1])


@pytest.mark.parametrize("layout", ["mimic-jpg", "mimic-dcm", "chexpert"])
def test_loader_trees_feed_the_pipeline(tmp_path, layout):
    from keras_clinclip.data import chexpert
    from keras_clinclip.data import mimic_cxr

    if layout == "chexpert":
        records = chexpert(trees.chexpert_tree(tmp_path))
    else:
        fmt = layout.split("-")[1]
        records = mimic_cxr(trees.mimic_tree(tmp_path, fmt, "zip"))
    n = len(records["id"])
    dataset = make_dataset(records, HashPreprocessor(), 4, image_size=16)
    x, y = next(iter(dataset))
    assert tuple(x["images"].shape) == (n, 16, 16, 3)
    assert sorted(int(v) for v in x["token_ids"][:, 0]) == sorted(
        _key(t) for t in records["report"]
    )
    np.testing.assert_array_equal(
        np.isnan(y["labels"].numpy()), np.isnan(records["labels"])
    )


def _batches(dataset, count):
    return [
        (x["images"].numpy(), x["token_ids"][:, 0].numpy())
        for x, _ in dataset.take(count)
    ]


def _same(a, b):
    return len(a) == len(b) and all(
        np.array_equal(ia, ib) and np.array_equal(ta, tb)
        for (ia, ta), (ib, tb) in zip(a, b)
    )


@pytest.mark.parametrize("on_error", ["raise", "skip"])
def test_a_stream_from_any_step_replays_an_uninterrupted_one(records, on_error):
    # 10 rows, batches of 4: 2 batches per pass; steps 0..6 span 4 passes.
    def stream(start):
        return make_dataset(
            records,
            HashPreprocessor(),
            batch_size=4,
            image_size=32,
            training=True,
            options=PipelineOptions(
                seed=3, on_error=on_error, start_step=start
            ),
        )

    whole = stream(0)
    reference = _batches(whole, 7)
    # A second iterator of the same dataset object (Keras may make one to
    # peek at a batch) sees the same batches: nothing is stateful.
    assert _same(_batches(whole, 7), reference)
    for start in (1, 2, 5):
        assert _same(_batches(stream(start), 7 - start), reference[start:])
    # Each pass has its own order and augmentation.
    assert not np.array_equal(reference[0][1], reference[2][1])
    assert not np.array_equal(reference[0][0], reference[2][0])


def test_a_stream_refuses_a_pass_without_a_batch(records):
    with pytest.raises(ValueError, match="no batch of 16"):
        make_dataset(
            records,
            HashPreprocessor(),
            batch_size=16,
            training=True,
            image_size=32,
            options=PipelineOptions(start_step=0),
        )


@pytest.mark.backend_independent
def test_negations_without_labels_size_k_from_the_longest_list():
    # `negations` alone (no `negation_labels`), of uneven lengths: K is the
    # longest list; a row without negations gets masked empty slots.
    base = synthetic_pairs(3, seed=0, image_size=16, graphs=False)
    base = {k: v for k, v in base.items() if not k.startswith("negation")}
    base["negations"] = [["No a.", "No b."], [], ["No c."]]
    x, y = next(iter(make_dataset(base, HashPreprocessor(), 3, image_size=16)))
    assert tuple(x["negation_token_ids"].shape) == (3, 2, 6)
    np.testing.assert_array_equal(
        y["negation_mask"].numpy(), [[1, 1], [0, 0], [1, 0]]
    )
    assert not y["negation_labels"].numpy().any()
    # Every list empty: one masked slot per study.
    base["negations"] = [[], [], []]
    _, y = next(iter(make_dataset(base, HashPreprocessor(), 3, image_size=16)))
    np.testing.assert_array_equal(y["negation_mask"].numpy(), [[0]] * 3)


@pytest.mark.backend_independent
def test_options_refuse_unknown_modes_when_built():
    with pytest.raises(ValueError, match="on_error must be 'raise' or"):
        PipelineOptions(on_error="ignore")
    with pytest.raises(ValueError, match="count must be >= 0"):
        NegationOptions(count=-1)
