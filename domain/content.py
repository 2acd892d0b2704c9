"""Content parts of a chat message: text and images (an http(s) URL or a base64 data URI).

A message with images keeps its parts in order (a caption before or after its picture
means something); its ``content`` is still the text of those parts, which is what every
estimate and bound reads. An image is checked where it enters: a URL must be http(s)
without spaces, a data URI must be ``data:image/<png|jpeg|gif|webp>;base64,<payload>``
whose payload is valid base64 and starts with that format's signature (providers refuse a
mismatch; better a clear 422 before anything is held).
"""

import base64
import binascii
import re
from enum import StrEnum

import msgspec

from domain.errors import InvalidValueError

MAX_IMAGE_URL_LENGTH = 8192  # an http(s) URL; data URIs are bounded by the body size limit
IMAGE_MEDIA_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp")
_SIGNATURES: dict[str, tuple[bytes, ...]] = {
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/gif": (b"GIF87a", b"GIF89a"),
    "image/webp": (b"RIFF",),  # bytes 8..12 are "WEBP", checked below
}
_HTTP_URL = re.compile(r"https?://[^\s/?#@]+(?:[/?#][^\s]*)?", re.IGNORECASE)
_DATA_URI = re.compile(r"data:(image/[a-z0-9.+-]+);base64,", re.IGNORECASE)


class ImageDetail(StrEnum):
    """OpenAI's fidelity hint; other providers have no equivalent and ignore it."""

    AUTO = "auto"
    LOW = "low"
    HIGH = "high"


class TextPart(msgspec.Struct, frozen=True, tag="text"):
    text: str


class ImagePart(msgspec.Struct, frozen=True, kw_only=True, tag="image"):
    """An image by URL (the provider fetches it) or inline as a data URI."""

    url: str
    detail: ImageDetail | None = None

    def __post_init__(self) -> None:
        check_image_url(self.url)

    @property
    def is_data(self) -> bool:
        return self.url[:5].lower() == "data:"

    @property
    def media_type(self) -> str | None:
        """The declared type of a data URI (lower case), None for a URL."""
        match = _DATA_URI.match(self.url) if self.is_data else None
        return match.group(1).lower() if match else None

    @property
    def base64_data(self) -> str:
        """The payload of a data URI (base64 text, as providers take it); '' for a URL."""
        return self.url.partition(",")[2] if self.is_data else ""


ContentPart = TextPart | ImagePart


def check_image_url(url: str) -> None:
    """Raise ``InvalidValueError`` unless ``url`` is an http(s) URL or a well-formed image data URI."""
    if url[:5].lower() == "data:":
        _check_data_uri(url)
        return
    if len(url) > MAX_IMAGE_URL_LENGTH:
        raise InvalidValueError(f"an image URL must be at most {MAX_IMAGE_URL_LENGTH} characters (or use a data URI)")
    if not _HTTP_URL.fullmatch(url):
        raise InvalidValueError(
            "an image url must be an http(s) URL or a data URI (data:image/png;base64,...) without spaces"
        )


def _check_data_uri(url: str) -> None:
    match = _DATA_URI.match(url)
    if match is None:
        raise InvalidValueError("an image data URI must look like data:image/png;base64,<base64 data>")
    media_type = match.group(1).lower()
    if media_type not in IMAGE_MEDIA_TYPES:
        raise InvalidValueError(f"image type {media_type} is not supported (use {', '.join(IMAGE_MEDIA_TYPES)})")
    payload = url[match.end() :]
    if not payload:
        raise InvalidValueError("an image data URI has no data")
    try:
        head = base64.b64decode(payload[:24], validate=True)
        base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidValueError("an image data URI's data is not valid base64") from None
    signatures = _SIGNATURES[media_type]
    if not head.startswith(signatures) or (media_type == "image/webp" and head[8:12] != b"WEBP"):
        raise InvalidValueError(f"an image data URI's bytes are not a {media_type.removeprefix('image/')} image")


def text_of(parts: tuple[ContentPart, ...] | list[ContentPart]) -> str:
    """The text of a message's parts: separate parts stay separate words (one newline)."""
    return "\n".join(part.text for part in parts if isinstance(part, TextPart))


def image_count(parts: tuple[ContentPart, ...]) -> int:
    return sum(1 for part in parts if isinstance(part, ImagePart))
