"""The backbone stays its graph and its config (issue 31).

Size limits of `ClinCLIPBackbone`: its module's line count, its
constructor's parameter count (`**kwargs` included) and
`compile` defined once by the package along the method resolution order
of every ClinCLIP model (Keras's own `compile` underneath is not ours).
"""

import inspect
import pathlib

import pytest

from keras_clinclip.models import ClinCLIPBackbone
from keras_clinclip.models import ClinCLIPPretrainer
from keras_clinclip.models import ContrastiveModel

pytestmark = pytest.mark.backend_independent

MAX_CONSTRUCTOR_PARAMETERS = 10
MAX_LINES = 250  # keras-hub's CLIPBackbone: 187


def _own_definitions(cls, name):
    return [
        klass.__qualname__
        for klass in cls.mro()
        if klass.__module__.startswith("keras_clinclip") and name in vars(klass)
    ]


def test_backbone_module_is_at_most_250_lines():
    path = pathlib.Path(inspect.getfile(ClinCLIPBackbone))
    assert path.name == "clinclip_backbone.py"
    lines = path.read_text(encoding="utf-8").count("\n")
    assert lines <= MAX_LINES, f"{path.name}: {lines} lines"


def test_backbone_constructor_takes_at_most_ten_parameters():
    parameters = list(inspect.signature(ClinCLIPBackbone).parameters)
    assert len(parameters) <= MAX_CONSTRUCTOR_PARAMETERS, parameters


@pytest.mark.parametrize(
    "cls", [ClinCLIPBackbone, ClinCLIPPretrainer, ContrastiveModel]
)
def test_compile_is_defined_once_along_the_mro(cls):
    assert _own_definitions(cls, "compile") == ["ContrastiveLossMixin"]


def test_the_checks_see_a_second_compile():
    class Again(ClinCLIPBackbone):
        def compile(self, *args, **kwargs):
            return super().compile(*args, **kwargs)

    Again.__module__ = "keras_clinclip.planted"
    assert len(_own_definitions(Again, "compile")) == 2
