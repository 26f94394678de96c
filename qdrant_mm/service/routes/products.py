"""``GET /products/{id}`` (a product's stored payload) and ``GET /images/{path}`` (a product
image from ``QDRANT_MM_IMAGE_ROOT``, never from anywhere else)."""

from __future__ import annotations

from pathlib import PurePosixPath

from fastapi import APIRouter
from fastapi.responses import FileResponse

from qdrant_mm.catalog import point_id
from qdrant_mm.search import INTERNAL_FIELDS
from qdrant_mm.service.deps import ReadySearcherDep, StateDep
from qdrant_mm.service.errors import ServiceError
from qdrant_mm.service.schemas import ErrorOut, ProductOut

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
    """A product's stored payload, by its catalog id."""
    found = searcher.backend.retrieve(state.collection, [point_id(product_id)])
    if not found:
        raise ServiceError(404, f"no product {product_id!r} in collection {state.collection!r}")
    payload = {k: v for k, v in found[0].payload.items() if k not in INTERNAL_FIELDS}
    return ProductOut(
        id=str(payload.get("product_id", product_id)),
        payload=payload,
        image_url=state.image_url(payload.get("image")),
    )


@router.get(
    "/images/{path:path}",
    response_class=FileResponse,
    responses={404: {"model": ErrorOut}, 400: {"model": ErrorOut}},
)
def get_image(path: str, state: StateDep) -> FileResponse:
    """A product image from the image folder (``QDRANT_MM_IMAGE_ROOT``).

    Messages name the path as requested (relative to the folder), never the server's folder."""
    root = state.image_root
    if root is None:
        raise ServiceError(404, "no image folder configured: set QDRANT_MM_IMAGE_ROOT")
    if not path or "\x00" in path or "\\" in path:
        raise ServiceError(400, f"invalid image path {path!r}")
    rel = PurePosixPath(path)
    if rel.is_absolute() or ".." in rel.parts or path.startswith("~"):
        raise ServiceError(
            400, f"invalid image path {path!r}: give a path relative to the image folder"
        )
    try:
        target = (root / rel).resolve(strict=True)
    except (FileNotFoundError, NotADirectoryError):
        raise ServiceError(404, f"no image {path!r}") from None
    except (OSError, RuntimeError):  # symlink loop, permission
        raise ServiceError(404, f"cannot read image {path!r}") from None
    if not target.is_relative_to(root):
        raise ServiceError(403, f"refused image path {path!r}: it leads outside the image folder")
    if not target.is_file():
        raise ServiceError(404, f"no image {path!r}")
    media_type = IMAGE_TYPES.get(target.suffix.lower())
    if media_type is None:
        raise ServiceError(
            404, f"refused {path!r}: only image files are served ({', '.join(sorted(IMAGE_TYPES))})"
        )
    return FileResponse(
        target, media_type=media_type, headers={"Cache-Control": "public, max-age=3600"}
    )
