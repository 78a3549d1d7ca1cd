"""matplotlib's font list for the grading kernel, built once outside the sandbox.

matplotlib scans the machine's fonts on its first import and keeps the list in its config
folder. The sandboxed kernel's config folder is in its private, empty ``/tmp``, so every graded
notebook that plots scanned the fonts again: about 0.3 CPU-seconds per notebook here (22 system
fonts; more on a machine with more). The list is built once per user and matplotlib version,
in the user's cache folder, and each kernel gets it as a read-only file in its own config
folder (which stays writable, so matplotlib's other caches work as before).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from importlib import util
from pathlib import Path

KERNEL_CONFIG_DIR = "/tmp/matplotlib"  # the kernel's MPLCONFIGDIR inside the sandbox
BUILD_SECONDS = 120


def cache_root() -> Path:
    """Where the prepared font lists are kept: the user's cache folder."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "dropout-from-scratch"


def font_list_files() -> dict[str, Path]:
    """{path inside the sandbox: prepared file} for the kernel's matplotlib config folder, built
    on first use; empty when matplotlib is not installed or the list cannot be built (the
    kernel then builds its own, as without this)."""
    try:
        version = _matplotlib_version()
        if version is None:
            return {}
        folder = cache_root() / f"matplotlib-{version}"
        if not folder.is_dir():
            _build(folder)
        return {f"{KERNEL_CONFIG_DIR}/{path.name}": path for path in sorted(folder.glob("fontlist-*.json"))}
    except (OSError, subprocess.SubprocessError):
        return {}


def _matplotlib_version() -> str | None:
    """matplotlib's installed version (None: not installed), read from the name of its
    ``.dist-info`` folder beside the package; importlib.metadata, whose import and search were a
    third of the kernel launcher's start, only where that folder is not found (a system package)."""
    spec = util.find_spec("matplotlib")
    if spec is None or not spec.origin:
        return None
    found = list(Path(spec.origin).parent.parent.glob("matplotlib-*.dist-info"))
    if len(found) == 1:
        return found[0].name[len("matplotlib-"):-len(".dist-info")]
    from importlib import metadata

    try:
        return metadata.version("matplotlib")
    except metadata.PackageNotFoundError:
        return None


def _build(folder: Path) -> None:
    """Let matplotlib write its font list into a new folder, then move it into place whole (a
    kernel starting at the same time sees no half-written list)."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    building = Path(tempfile.mkdtemp(prefix=".building-", dir=folder.parent))
    try:
        subprocess.run([sys.executable, "-c", "import matplotlib.font_manager"], check=True, timeout=BUILD_SECONDS,
                       env={**os.environ, "MPLCONFIGDIR": str(building)}, capture_output=True)
        try:
            building.rename(folder)
        except OSError:  # another kernel put its list there first
            pass
    finally:
        shutil.rmtree(building, ignore_errors=True)
