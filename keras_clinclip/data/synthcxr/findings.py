"""The SynthCXR findings: a registry from a finding's name to its drawing.

Each finding is a `FindingKind`: its default side and zone, a short
description, and up to three small functions:

- `anatomy(anatomy, finding)`: changes the study's `Anatomy` before
  anything is drawn (a bigger heart, taller lungs, a raised diaphragm);
- `draw(canvas, finding)`: draws on the renderer's `Canvas` at its
  `stage` of the picture (see `STAGES`);
- `region(canvas, finding)`: the boolean mask of where it was drawn, for
  `SynthCXR.finding_mask` (the label used to score localisation).

The built-in findings are registered by `keras_clinclip.data.synthcxr`;
`register_finding` adds your own.

Example:
>>> from keras_clinclip.data.synthcxr import REGISTRY
>>> REGISTRY["effusion"].side, REGISTRY["effusion"].stage
('right', 'fluid')
"""

import collections
import dataclasses
from collections.abc import Callable
from collections.abc import Mapping

SIDES = ("right", "left", "bilateral")
ZONES = ("upper", "middle", "lower")

# When a finding's `draw` runs, in the renderer's order:
#   spine        after the vertebrae (osteophytes);
#   mediastinum  after the heart, mediastinum and aortic knob;
#   pleura       before the lung markings are drawn (a pneumothorax hides
#                them: `canvas.visible`);
#   ribs         while the ribs are built (`canvas.ribs`, a fracture);
#   lungs        opacities inside the lungs, after ribs and clavicles;
#   fluid        after the opacities (an effusion covers them);
#   devices      on top of everything (`canvas.overlay`, scaled by 0.9).
STAGES = ("spine", "mediastinum", "pleura", "ribs", "lungs", "fluid", "devices")

Finding = collections.namedtuple(
    "Finding", ["name", "side", "zone", "severity"]
)


@dataclasses.dataclass(frozen=True)
class FindingKind:
    """How SynthCXR draws one finding (see the module docstring).

    Args:
        name: the finding's name (`"effusion"`).
        side: default side (the patient's), one of `SIDES` or `None`.
        zone: default zone, one of `ZONES` or `None`.
        description: a short description of its signature.
        draw: `draw(canvas, finding)`, or `None`.
        stage: when `draw` runs, one of `STAGES`.
        anatomy: `anatomy(anatomy, finding)`, or `None`.
        region: `region(canvas, finding) -> bool mask`, or `None` (no
            region: `SynthCXR.finding_mask` refuses it).
        combine: several entries of this finding are drawn once, at the
            greatest severity (a curved spine is curved once).

    Example:
    >>> kind = FindingKind("spot", side="left", zone="upper")
    >>> kind.stage
    'lungs'
    """

    name: str
    side: str | None = None
    zone: str | None = None
    description: str = ""
    draw: Callable | None = None
    stage: str = "lungs"
    anatomy: Callable | None = None
    region: Callable | None = None
    combine: bool = False


# name -> FindingKind, in registration order.
REGISTRY = {}


def register_finding(name, *, replace=False, **fields):
    """Add a finding to SynthCXR (or, with `replace=True`, redefine one).

    Args:
        name: the finding's name, used in finding specifications.
        replace: allow redefining a registered name.
        **fields: the other `FindingKind` fields (`side`, `zone`,
            `description`, `draw`, `stage`, `anatomy`, `region`,
            `combine`).

    Returns:
        The registered `FindingKind`.

    Raises:
        ValueError: for a taken name, an unknown stage, side or zone.

    Example:
    >>> from keras_clinclip.data.synthcxr import SynthCXR, raster
    >>> def draw_dot(canvas, finding):
    ...     canvas.density += finding.severity * raster.disk(
    ...         canvas.xx, canvas.yy, 0.3, 0.4, 0.05)
    >>> kind = register_finding("dot", side="right", draw=draw_dot)
    >>> image = SynthCXR(32).render(["dot"], seed=0)
    >>> unregister_finding("dot").name
    'dot'
    """
    if name in REGISTRY and not replace:
        raise ValueError(
            f"SynthCXR finding {name!r} is already registered; pass "
            "replace=True to redefine it."
        )
    kind = FindingKind(name, **fields)
    if kind.stage not in STAGES:
        raise ValueError(
            f"Finding {name!r}: stage must be one of {STAGES}, got "
            f"{kind.stage!r}."
        )
    _check_place(name, kind.side, kind.zone)
    REGISTRY[name] = kind
    return kind


def unregister_finding(name):
    """Remove a registered finding.

    Args:
        name: a registered finding's name.

    Returns:
        The removed `FindingKind`.

    Example:
    >>> _ = register_finding("spot")
    >>> unregister_finding("spot").name
    'spot'
    """
    return REGISTRY.pop(name)


class _View(Mapping):
    """A read-only view of the registry: name -> `project(kind)`."""

    def __init__(self, project, keep=lambda kind: True):
        self._project, self._keep = project, keep

    def _names(self):
        return [n for n, kind in REGISTRY.items() if self._keep(kind)]

    def __getitem__(self, name):
        kind = REGISTRY[name]
        if not self._keep(kind):
            raise KeyError(name)
        return self._project(kind)

    def __iter__(self):
        return iter(self._names())

    def __len__(self):
        return len(self._names())

    def __repr__(self):
        return repr(dict(self))


# name -> (default side, default zone, description): the registry as the
# plain table it used to be.
FINDINGS = _View(lambda kind: (kind.side, kind.zone, kind.description))

# The findings with a region (`SynthCXR.finding_mask`) -> the zone used
# (None: the finding's own zone; "any": the whole lung of its side).
REGION_FINDINGS = _View(
    lambda kind: getattr(kind.region, "zone", None),
    keep=lambda kind: kind.region is not None,
)


def sides(side, default="right"):
    """The sides a finding is drawn on (`bilateral` is both).

    Args:
        side: `"right"`, `"left"`, `"bilateral"` or `None`.
        default: the side used for `None`.

    Returns:
        A tuple of `"right"` and/or `"left"`.

    Example:
    >>> sides("bilateral"), sides(None)
    (('right', 'left'), ('right',))
    """
    side = side or default
    return ("right", "left") if side == "bilateral" else (side,)


def _check_place(name, side, zone):
    if side is not None and side not in SIDES:
        raise ValueError(
            f"Finding {name!r}: side must be one of {SIDES}, got {side!r}."
        )
    if zone is not None and zone not in ZONES:
        raise ValueError(
            f"Finding {name!r}: zone must be one of {ZONES}, got {zone!r}."
        )


def normalize_findings(findings):
    """Turn finding specifications into a list of `Finding` tuples.

    Args:
        findings: an iterable of finding names (`"effusion"`), dicts with
            keys `name` (or `finding`), `side`, `zone`, `severity`, or
            tuples `(name, side, zone, severity)`. Missing fields take the
            finding's defaults (severity 0.5).

    Returns:
        A list of `Finding(name, side, zone, severity)`.

    Example:
    >>> normalize_findings(["effusion"])[0].side
    'right'
    """
    out = []
    for item in findings or ():
        if isinstance(item, str):
            item = {"name": item}
        elif isinstance(item, (tuple, list)):
            item = dict(zip(Finding._fields, item))
        elif not isinstance(item, dict):
            raise TypeError(
                f"A finding must be a name, dict or tuple; got {item!r}."
            )
        name = item.get("name", item.get("finding"))
        if name not in REGISTRY:
            raise ValueError(
                f"Unknown SynthCXR finding {name!r}. Known findings: "
                f"{sorted(REGISTRY)}."
            )
        kind = REGISTRY[name]
        side = item.get("side") or kind.side
        zone = item.get("zone") or kind.zone
        _check_place(name, side, zone)
        severity = item.get("severity")
        severity = 0.5 if severity is None else float(severity)
        if not 0.0 <= severity <= 1.0:
            raise ValueError(
                f"Finding {name!r}: severity must be in [0, 1], got {severity}."
            )
        out.append(Finding(name, side, zone, severity))
    return out


def combine_repeats(found):
    """Merge the repeated entries of `combine` findings.

    Args:
        found: a list of `Finding`.

    Returns:
        The list with each `combine` finding kept once, where it first
        appears, at the greatest severity of its entries.

    Example:
    >>> f = normalize_findings([("scoliosis", None, None, 0.2),
    ...                         "effusion", ("scoliosis", None, None, 0.9)])
    >>> [(x.name, x.severity) for x in combine_repeats(f)]
    [('scoliosis', 0.9), ('effusion', 0.5)]
    """
    out, seen = [], set()
    for f in found:
        if not REGISTRY[f.name].combine:
            out.append(f)
        elif f.name not in seen:
            seen.add(f.name)
            worst = max(g.severity for g in found if g.name == f.name)
            out.append(f._replace(severity=worst))
    return out
