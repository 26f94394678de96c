"""``GET /products/{id}`` (a product's stored payload and the URLs of its photos) and
``GET /images/{path}`` (a product image from ``QDRANT_MM_IMAGE_ROOT`` or, without it, the
catalog folders sync recorded, never from anywhere else)."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from fastapi import APIRouter
from fastapi.responses import FileResponse

from qdrant_mm.catalog import point_id
from qdrant_mm.search import INTERNAL_FIELDS
from qdrant_mm.service.deps import ReadySearcherDep, StateDep
from qdrant_mm.service.errors import ServiceError
from qdrant_mm.service.schemas import ErrorOut, ProductOut
from qdrant_mm.service.state import photo_refs

router = APIRouter(tags=["products"])

#: File types served under /images (no SVG or HTML: nothing that can run script).
IMAGE_TYPES = {
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".png": "image/png",
    ".webp": "image/webp",
    ".gif": "image/gif",
    ".bmp": "image/bmp",
    ".tif": "image/tiff",
    ".tiff": "image/tiff",
}


@router.get(
    "/products/{product_id}", response_model=ProductOut, responses={404: {"model": ErrorOut}}
)
def get_product(product_id: str, state: StateDep, searcher: ReadySearcherDep) -> ProductOut:
    """A product's stored payload, by its catalog id, with the URLs of its photos."""
    found = searcher.backend.retrieve(state.collection, [point_id(product_id)])
    if not found:
        raise ServiceError(404, f"no product {product_id!r} in collection {state.collection!r}")
    payload = {k: v for k, v in found[0].payload.items() if k not in INTERNAL_FIELDS}
    refs = photo_refs(payload)
    return ProductOut(
        id=str(payload.get("product_id", product_id)),
        payload=payload,
        image_url=state.image_url(refs[0]) if refs else None,
        image_urls=state.photo_urls(payload),
    )


def _find_image(folders: list[Path], rel: PurePosixPath, path: str) -> Path:
    """The first file ``rel`` names inside one of ``folders`` (after resolving symlinks: a
    path that leads outside its folder is refused)."""
    outside = False
    for root in folders:
        try:
            target = (root / rel).resolve(strict=True)
        except (FileNotFoundError, NotADirectoryError):
            continue
        except (OSError, RuntimeError):  # symlink loop, permission
            raise ServiceError(404, f"cannot read image {path!r}") from None
        if not target.is_relative_to(root):
            outside = True
            continue
        if target.is_file():
            return target
    if outside:
        raise ServiceError(403, f"refused image path {path!r}: it leads outside the image folder")
    raise ServiceError(404, f"no image {path!r}")


@router.get(
    "/images/{path:path}",
    response_class=FileResponse,
    responses={404: {"model": ErrorOut}, 400: {"model": ErrorOut}},
)
def get_image(path: str, state: StateDep) -> FileResponse:
    """A product image from the image folder (``QDRANT_MM_IMAGE_ROOT``, else the catalog
    folders recorded by sync).

    Messages name the path as requested (relative to the folder), never the server's folder."""
    folders = state.image_folders()
    if not folders:
        raise ServiceError(
            404,
            "no image folder: set QDRANT_MM_IMAGE_ROOT, or sync a catalog whose images are files",
        )
    if not path or "\x00" in path or "\\" in path:
        raise ServiceError(400, f"invalid image path {path!r}")
    rel = PurePosixPath(path)
    if rel.is_absolute() or ".." in rel.parts or path.startswith("~"):
        raise ServiceError(
            400, f"invalid image path {path!r}: give a path relative to the image folder"
        )
    target = _find_image(folders, rel, path)
    media_type = IMAGE_TYPES.get(target.suffix.lower())
    if media_type is None:
        raise ServiceError(
            404, f"refused {path!r}: only image files are served ({', '.join(sorted(IMAGE_TYPES))})"
        )
    return FileResponse(
        target, media_type=media_type, headers={"Cache-Control": "public, max-age=3600"}
    )
