"""Input checks shared by the report functions."""


def as_text(report, name="report"):
    """Return `report` as a `str`, or raise a clear error.

    `str` passes through; `bytes` are decoded as UTF-8 (a `ValueError`
    names the first bad byte); `None` and other types raise `TypeError`.
    """
    if isinstance(report, str):
        return report
    if isinstance(report, (bytes, bytearray)):
        try:
            return bytes(report).decode("utf-8")
        except UnicodeDecodeError as error:
            bad = bytes(report)[error.start]
            raise ValueError(
                f"{name} is not valid UTF-8: byte 0x{bad:02x} at offset "
                f"{error.start}"
            ) from None
    if report is None:
        raise TypeError(f"{name} is None; expected a str")
    raise TypeError(
        f"{name} must be a str (or UTF-8 bytes), got {type(report).__name__}"
    )
