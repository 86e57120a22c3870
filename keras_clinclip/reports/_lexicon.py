"""The lexicon of keras_clinclip.reports, loaded from its YAML data files.

The phrases live in `keras_clinclip/reports/data/*.yaml`; users add or
replace entries with their own YAML files (same schema) listed in the
environment variable `KERAS_CLINCLIP_REPORT_PHRASES` (separated by
`os.pathsep`), read once per process. Every regular expression is compiled
once here, into one alternation per kind, so that a sentence is scanned in
a single pass.
"""

import functools
import os
import pathlib
import re

import yaml

from keras_clinclip.chexpert import CHEXPERT_OBSERVATIONS

DATA_DIR = pathlib.Path(__file__).parent / "data"
ENV_VAR = "KERAS_CLINCLIP_REPORT_PHRASES"

TRIGGER_KINDS = (
    "pseudo",
    "negation_pre",
    "negation_post",
    "uncertainty_pre",
    "uncertainty_post",
    "positive_post",
    "alternative",
    "terminators",
)

# Word boundaries for the alternations: letters and digits only, so that
# "x-ray" or "effusion;" still match.
_LEFT = r"(?<![a-z0-9])"
_RIGHT = r"(?![a-z0-9])"


def _read_yaml(path):
    try:
        with open(path, encoding="utf-8") as f:
            data = yaml.safe_load(f) or {}
    except (OSError, yaml.YAMLError) as error:
        raise ValueError(f"cannot read phrase file {path}: {error}") from None
    if not isinstance(data, dict):
        raise ValueError(f"phrase file {path} must hold a mapping")
    return data


def _check_pattern(pattern, where):
    if not isinstance(pattern, str) or not pattern:
        raise ValueError(f"{where}: a pattern must be a non-empty string")
    try:
        compiled = re.compile(pattern)
    except re.error as error:
        raise ValueError(f"{where}: bad pattern {pattern!r}: {error}") from None
    if compiled.groups:
        raise ValueError(
            f"{where}: pattern {pattern!r} has a capturing group; use (?:...)"
        )
    return pattern


_MACRO = re.compile(r"%([a-z_]+)%")


def _expand(pattern, macros, where):
    """Replace each `%name%` of a pattern by the macro `name`."""
    if not isinstance(pattern, str):
        return pattern

    def replace(match):
        name = match.group(1)
        if name not in macros:
            raise ValueError(
                f"{where}: unknown macro %{name}% in {pattern!r}; known: "
                f"{sorted(macros)}"
            )
        return f"(?:{macros[name]})"

    return _MACRO.sub(replace, pattern)


def _alternation(entries):
    """One regex of `(p1)|(p2)|...`, longest pattern first.

    Returns the compiled regex and the payload of each group (group i + 1).
    """
    entries = sorted(entries, key=lambda e: -len(e[0]))
    body = "|".join(f"({pattern})" for pattern, _ in entries)
    regex = re.compile(f"{_LEFT}(?:{body}){_RIGHT}")
    return regex, [payload for _, payload in entries]


class Lexicon:
    """The compiled phrases (findings, triggers, anatomy)."""

    def __init__(self, findings, triggers, anatomy, macros=None):
        macros = dict(macros or {})
        for name, body in macros.items():
            macros[name] = _expand(body, macros, f"macro {name!r}")
        findings = {
            name: {
                key: [
                    _expand(p, macros, f"finding {name!r} {key}") for p in value
                ]
                if key in ("mentions", "normal") and value
                else value
                for key, value in spec.items()
            }
            for name, spec in findings.items()
        }
        triggers = {
            kind: [_expand(p, macros, kind) for p in value]
            if isinstance(value, list)
            else value
            for kind, value in triggers.items()
        }
        self.macros = macros
        self.findings = findings
        self.triggers = triggers
        self.anatomy = anatomy
        # Mentions: (finding name, kind) with kind "mention", "normal" or
        # "ignore".
        entries = []
        for name, spec in findings.items():
            observation = spec.get("observation")
            if (
                observation is not None
                and observation not in CHEXPERT_OBSERVATIONS
            ):
                raise ValueError(
                    f"finding {name!r}: unknown observation {observation!r}; "
                    f"choose one of {CHEXPERT_OBSERVATIONS}"
                )
            for other in spec.get("also") or []:
                if other not in CHEXPERT_OBSERVATIONS[1:]:
                    raise ValueError(
                        f"finding {name!r}: unknown observation {other!r} in "
                        f"'also'; choose one of {CHEXPERT_OBSERVATIONS[1:]}"
                    )
            for pattern in spec.get("mentions") or []:
                where = f"finding {name!r} mention"
                entries.append((_check_pattern(pattern, where), (name, "m")))
            for pattern in spec.get("normal") or []:
                where = f"finding {name!r} normal"
                entries.append((_check_pattern(pattern, where), (name, "n")))
        for pattern in triggers.get("ignore") or []:
            entries.append((_check_pattern(pattern, "ignore"), (None, "i")))
        self.mention_re, self.mention_payload = _alternation(entries)

        entries = []
        for kind in TRIGGER_KINDS:
            for pattern in triggers.get(kind) or []:
                if kind == "terminators" and not re.search(
                    r"[a-z0-9]", pattern
                ):
                    continue  # punctuation, handled apart
                entries.append((_check_pattern(pattern, kind), kind))
        self.trigger_re, self.trigger_payload = _alternation(entries)
        self.punctuation = "".join(
            p
            for p in triggers.get("terminators") or []
            if not re.search(r"[a-z0-9]", p)
        )

        # Anatomy, sides, severity, descriptors (graphs).
        self.regions = tuple(anatomy.get("regions") or ())
        entries = []
        for name, spec in (anatomy.get("anatomy") or {}).items():
            region = spec.get("region")
            if region not in self.regions:
                raise ValueError(
                    f"anatomy {name!r}: region {region!r} is not one of "
                    f"{self.regions}"
                )
            for pattern in spec.get("patterns") or []:
                where = f"anatomy {name!r}"
                entries.append((_check_pattern(pattern, where), ("a", name)))
        for side, patterns in (anatomy.get("sides") or {}).items():
            for pattern in patterns:
                entries.append((_check_pattern(pattern, "sides"), ("s", side)))
        for word in anatomy.get("severity") or {}:
            entries.append((re.escape(word), ("v", word)))
        for word in anatomy.get("descriptors") or []:
            entries.append((re.escape(word), ("d", word)))
        self.anatomy_re, self.anatomy_payload = _alternation(entries)
        self.severity = {
            k: float(v) for k, v in (anatomy.get("severity") or {}).items()
        }
        self.anatomy_names = tuple((anatomy.get("anatomy") or {}).keys())
        self.descriptors = tuple(anatomy.get("descriptors") or ())
        self.finding_names = tuple(findings)
        # Findings with "also" state several observations; the sentences of
        # edited reports and the graph nodes use each observation's own
        # (first) finding instead.
        self.combined = frozenset(
            name for name, spec in findings.items() if spec.get("also")
        )
        self.by_observation = {}
        for name, spec in findings.items():
            observation = spec.get("observation")
            if observation:
                self.by_observation.setdefault(observation, []).append(name)


def finding_of(mention):
    """The finding that stands for `mention` in edits and graphs.

    A phrase stating two observations ("the cardiac and mediastinal
    silhouettes") stands for the first finding of each observation.
    """
    lex = lexicon()
    if mention.finding in lex.combined or (
        lex.findings[mention.finding].get("observation") != mention.observation
    ):
        return lex.by_observation[mention.observation][0]
    return mention.finding


def _merge(base, extra):
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            base[key] = {**base[key], **value}
        elif isinstance(value, list) and isinstance(base.get(key), list):
            base[key] = base[key] + [v for v in value if v not in base[key]]
        else:
            base[key] = value
    return base


@functools.cache
def lexicon():
    """The process-wide `Lexicon`, built once."""
    findings = _read_yaml(DATA_DIR / "findings.yaml")
    triggers = _read_yaml(DATA_DIR / "triggers.yaml")
    anatomy = _read_yaml(DATA_DIR / "anatomy.yaml")
    for path in filter(None, os.environ.get(ENV_VAR, "").split(os.pathsep)):
        extra = _read_yaml(path)
        _merge(findings, {"findings": extra.get("findings") or {}})
        _merge(findings, {"macros": extra.get("macros") or {}})
        _merge(
            triggers,
            {
                k: v
                for k, v in extra.items()
                if k in TRIGGER_KINDS or k == "ignore"
            },
        )
        _merge(
            anatomy,
            {
                k: v
                for k, v in extra.items()
                if k in ("anatomy", "sides", "severity", "descriptors")
            },
        )
    return Lexicon(
        findings["findings"], triggers, anatomy, findings.get("macros")
    )


def lower(text):
    """`text.lower()` that keeps every character at its offset."""
    lowered = text.lower()
    if len(lowered) != len(text):
        lowered = "".join(c.lower()[:1] or c for c in text)
    return lowered


def check_observation(finding):
    """Raise a `ValueError` naming `finding` unless it is one of the 14."""
    if finding not in CHEXPERT_OBSERVATIONS:
        raise ValueError(
            f"unknown finding {finding!r}: choose one of the CheXpert "
            f"observations {', '.join(CHEXPERT_OBSERVATIONS)}"
        )
    return finding
