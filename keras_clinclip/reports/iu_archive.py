"""The one reader of the IU X-ray report archive (XML files in a .tgz).

The 3,955 Indiana University chest X-ray reports (Demner-Fushman et al.,
2016; CC BY-NC-ND 4.0) are read at run time from the `torchxrayvision`
package (`data/NLMCXR_reports.tgz`, found with `importlib.util.find_spec`;
torchxrayvision is never imported); nothing derived from them is stored
in this repository. The archive is parsed once per process and file
version; `keras_clinclip.data.iu_xray` (the dataset) and the report
benchmarks both read it through `read_iu_archive`.
"""

import os
import re
import tarfile
import xml.etree.ElementTree as ET

from keras_clinclip.utils import package_data_path

IU_ARCHIVE = "data/NLMCXR_reports.tgz"

# (path, modification time) -> the parsed rows.
_PARSED = {}


def _text(element):
    """The text of `element` with its white space runs made one space."""
    if element is None or element.text is None:
        return ""
    return " ".join(element.text.split())


def _number(study):
    digits = re.sub(r"\D", "", study)
    return int(digits) if digits else 0


def _parse(path):
    rows = []
    with tarfile.open(path, "r:gz") as archive:
        for member in archive:
            if not member.isfile() or not member.name.endswith(".xml"):
                continue
            root = ET.fromstring(archive.extractfile(member).read())
            uid = root.find("uId")
            sections = {
                node.get("Label", "").upper(): _text(node)
                for node in root.iter("AbstractText")
            }
            findings = sections.get("FINDINGS", "")
            impression = sections.get("IMPRESSION", "")
            rows.append(
                {
                    "id": uid.get("id") if uid is not None else member.name,
                    "findings": findings,
                    "impression": impression,
                    "report": " ".join(p for p in (findings, impression) if p),
                    "mesh": tuple(_text(m) for m in root.findall("MeSH/major")),
                    "mesh_automatic": tuple(
                        _text(m) for m in root.findall("MeSH/automatic")
                    ),
                }
            )
    rows.sort(key=lambda row: _number(row["id"]))
    return tuple(rows)


def read_iu_archive(path=None):
    """Every report of the IU X-ray archive, parsed once per process.

    Args:
        path: the archive; defaults to `torchxrayvision`'s
            `data/NLMCXR_reports.tgz`.

    Returns:
        A tuple of dicts sorted by report number, one per XML file (also
        the reports with neither FINDINGS nor IMPRESSION), with `id`
        (`"CXR1"`...), `findings`, `impression`, `report` (FINDINGS then
        IMPRESSION, joined by a space), `mesh` and `mesh_automatic`
        (tuples of MeSH strings such as `"Opacity/lung/base/left"`). Text
        has its white space runs made one space. The rows are shared
        between callers: copy a row before changing it.

    Example:
    >>> rows = read_iu_archive()  # doctest: +SKIP
    >>> len(rows), rows[0]["id"]  # doctest: +SKIP
    (3955, 'CXR1')
    """
    if path is None:
        path = package_data_path("torchxrayvision", IU_ARCHIVE)
    key = (os.path.abspath(path), os.path.getmtime(path))
    if key not in _PARSED:
        _PARSED[key] = _parse(path)
    return _PARSED[key]
