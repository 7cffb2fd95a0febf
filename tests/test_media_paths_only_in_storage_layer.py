"""No code outside the storage layer builds a filesystem path to media.

Media may live in an object store, where no such path exists: code that reaches for `FieldFile.path`,
`default_storage.path()` or joins MEDIA_ROOT itself works on one backend and breaks on the other. The storage
layer (videos/media_store.py) hands out local paths when a step needs one (`local_copy`).
"""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
APPS = ("accounts", "audit", "mediaplatform", "notifications", "processing", "videos")
# The storage layer itself; settings define MEDIA_ROOT; the front's nginx configuration serves it on the
# filesystem backend; the test settings place it; the health check measures its disk's free space; a migration
# between backends builds the filesystem backend itself.
ALLOWED = {
    "videos/media_store.py",
    "videos/services/storage_migration.py",
    "mediaplatform/health.py",
    "mediaplatform/settings.py",
    "mediaplatform/test_settings.py",
    "mediaplatform/serve.py",
}
FILE_FIELDS = {"file", "weights", "rendition", "poster", "thumbnails_sprite"}


def _offences(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            # video.file.path, model.weights.path, ...
            if node.attr == "path" and isinstance(node.value, ast.Attribute) and node.value.attr in FILE_FIELDS:
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}: .{node.value.attr}.path")
            if node.attr == "MEDIA_ROOT":
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}: MEDIA_ROOT")
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "path"
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id in {"default_storage", "storage"}
        ):
            found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {node.func.value.id}.path()")
    return found


def test_only_the_storage_layer_builds_filesystem_paths_to_media():
    offences = []
    for app in APPS:
        for path in sorted((ROOT / app).rglob("*.py")):
            relative = path.relative_to(ROOT).as_posix()
            if "/migrations/" in relative or relative in ALLOWED:
                continue
            offences += _offences(path)
    assert offences == [], "media paths built outside videos/media_store.py:\n" + "\n".join(offences)
