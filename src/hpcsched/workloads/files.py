"""Opening an input file the same way for every reader: bytes, gunzipped, one-line errors."""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Callable
from pathlib import Path


def read_input_bytes(path: Path, fail: Callable[[str], Exception], what_to_give: str) -> bytes:
    """The file's bytes, gunzipped when they start with the gzip magic (trust bytes, not names).

    ``fail(reason)`` builds the reader's own one-line error; ``what_to_give`` completes the hint
    for a directory ("give an .swf or .swf.gz file").
    """
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise fail("no such file (check the path)") from None
    except IsADirectoryError:
        raise fail(f"it is a directory ({what_to_give})") from None
    except PermissionError:
        raise fail("permission denied (check the file's permissions)") from None
    except OSError as exc:
        raise fail(f"{exc.strerror or exc} (check the path and the disk)") from None
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as exc:
            raise fail(f"corrupt gzip data ({exc}); re-download or re-compress it") from None
    elif path.name.endswith(".gz"):
        raise fail("named .gz but not gzip-compressed (rename it or gzip it)")
    return raw
