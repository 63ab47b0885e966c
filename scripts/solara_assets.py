"""Fill Solara's asset cache from the npm registry, so the dashboard needs no CDN at run time.

Solara's pages load their front end (the Vuetify app, RequireJS, the grid layout, Font Awesome)
from ``cdn.jsdelivr.net`` through a proxy that caches under ``sys.prefix/share/solara/cdn``.
This script reads which ``NAME@VERSION`` packages the installed solara refers to, downloads
each package's tarball from registry.npmjs.org once, at install time, and unpacks it where the
proxy looks, so the dashboard also works offline. Usage: ``python scripts/solara_assets.py``.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import re
import sys
import tarfile
import urllib.request
from importlib.metadata import version
from pathlib import Path

import solara
from solara.server import settings

REGISTRY = "https://registry.npmjs.org"
MAX_BYTES = 200_000_000  # the largest package (the Vuetify app) is about 15 MB packed
# "{{cdn}}/@scope/name@1.2.3/..." in templates, "${this.getCdn()}/name@1.2.3/..." in Vue files.
REFERENCE = re.compile(r"(?:\{\{\s*cdn\s*\}\}|getCdn\(\)\})/((?:@[\w.-]+/)?[\w.-]+)@([\w.+-]+)/")


def referenced_packages() -> set[tuple[str, str]]:
    """``(name, version)`` of every npm package the installed solara loads through its CDN proxy."""
    root = Path(solara.__file__).parent
    found: set[tuple[str, str]] = set()
    for path in [root / "server" / "templates" / "solara.html.j2", *(root / "widgets" / "vue").glob("*.vue")]:
        found |= set(REFERENCE.findall(path.read_text(encoding="utf-8")))
    fa = re.match(r"/((?:@[\w.-]+/)?[\w.-]+)@([\w.+-]+)/", settings.assets.fontawesome_path)
    if fa:
        found.add((fa.group(1), fa.group(2)))
    # Only exact versions: a major-only reference (vega@5, for Altair charts, which dmsim's
    # dashboard does not use) is resolved by the CDN, not by a registry tarball.
    found = {(n, v) for n, v in found if re.fullmatch(r"\d+\.\d+\.\d+([-+][\w.]+)?", v)}
    # The Vuetify 3 app is used only with ipyvuetify 3; dmsim pins ipyvuetify < 3.
    if int(version("ipyvuetify").split(".")[0]) < 3:
        found = {(n, v) for n, v in found if "vuetify3" not in n}
    return found


def fetch(name: str, ver: str, cache: Path) -> None:
    """Download ``name@ver`` from the npm registry, check its integrity, unpack it to ``cache/name@ver``.

    The proxy may already have cached single files there; unpacking overwrites them with the
    same files. A stamp file written last marks a complete package.
    """
    target = cache / f"{name}@{ver}"
    stamp = target / ".dmsim-complete"
    if stamp.exists():
        return
    with urllib.request.urlopen(f"{REGISTRY}/{name}/{ver}", timeout=60) as response:
        dist = json.load(response)["dist"]
    with urllib.request.urlopen(dist["tarball"], timeout=120) as response:
        data = response.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        raise SystemExit(f"solara assets: {name}@{ver} is larger than {MAX_BYTES} bytes; not unpacked")
    algorithm, _, digest = dist["integrity"].partition("-")  # Subresource Integrity: "sha512-BASE64"
    if base64.b64encode(hashlib.new(algorithm, data).digest()).decode() != digest:
        raise SystemExit(f"solara assets: {name}@{ver} does not match the registry's {algorithm} checksum")
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        for member in tar.getmembers():
            parts = Path(member.name).parts[1:]  # npm tarballs hold everything under package/
            if not member.isfile() or not parts:
                continue
            member.name = str(Path(*parts))
            tar.extract(member, target, filter="data")  # refuses absolute paths and escapes
    stamp.write_text(dist["integrity"] + "\n")


def main() -> None:
    """Fetch every referenced package that is not cached yet."""
    cache = Path(settings.assets.proxy_cache_dir)
    for name, ver in sorted(referenced_packages()):
        fetch(name, ver, cache)
        print(f"solara assets: {name}@{ver} in {cache}", file=sys.stderr)


if __name__ == "__main__":
    main()
