"""Names for the files a job uploads to Kie: one job's names can never be another job's.

Kie's upload API overwrites a file uploaded again under the same ``uploadPath`` + ``fileName``
(https://docs.kie.ai/file-upload-api/quickstart), and a task downloads its input URLs some time
after ``createTask`` answered. Under a shared name, a second user's upload in between replaces the
first user's photo, and the first user's generation is made from a stranger's picture. So every
input gets

* a per-job folder: ``kiebot/j<job id>-<tag>``;
* a name built from the job, the wire field and the index: ``j<job id>-<wire>-<index>-<tag>.<ext>``;

where ``tag`` is 64 random bits derived (HMAC-SHA256) from a secret stored with the job, so a
retry of the job (a requeue after a 429/5xx, a restart) re-uploads under the *same* names and only
ever overwrites its own files, while another deployment's job with the same id cannot collide.
The derivation is one-way: the URLs Kie hands out never reveal the job's secret.

The user's own file name is never used (it is theirs to choose, so anyone could pick another
job's name, or a path); the extension comes from a fixed table keyed by the detected MIME type.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from typing import Final

ROOT: Final = "kiebot"
_CONTEXT: Final = b"kiebot:kie-upload-names:v1"
_UNSAFE: Final = re.compile(r"[^A-Za-z0-9_]")
EXTENSIONS: Final[dict[str, str]] = {
    "image/jpeg": "jpg",
    "image/png": "png",
    "image/webp": "webp",
    "image/gif": "gif",
    "audio/mpeg": "mp3",
    "audio/wav": "wav",
    "audio/x-wav": "wav",
    "audio/aac": "aac",
    "audio/mp4": "m4a",
    "audio/ogg": "ogg",
    "audio/flac": "flac",
    "video/mp4": "mp4",
    "video/quicktime": "mov",
}


def extension_for(mime_type: str) -> str:
    """The file extension for a detected MIME type (``bin`` for anything not in the table)."""
    return EXTENSIONS.get(mime_type.split(";")[0].strip().lower(), "bin")


@dataclass(frozen=True)
class JobUploads:
    """The upload folder and file names of one job.

    Args:
        job_id: the job's id (the database row).
        secret: a random secret stored with the job that never changes (its callback token).
    """

    job_id: int
    secret: str

    def __post_init__(self) -> None:
        if not self.secret:
            raise ValueError("a job's upload names need its stored secret")

    @property
    def tag(self) -> str:
        """64 bits, stable for this job, unguessable without its secret."""
        return hmac.new(self.secret.encode(), _CONTEXT, hashlib.sha256).hexdigest()[:16]

    @property
    def upload_path(self) -> str:
        return f"{ROOT}/j{self.job_id}-{self.tag}"

    def file_name(self, wire: str, index: int, mime_type: str) -> str:
        """The name of input ``index`` of wire field ``wire``, with the extension of ``mime_type``."""
        if index < 0:
            raise ValueError("index must not be negative")
        field = _UNSAFE.sub("_", wire)[:40] or "input"
        return f"j{self.job_id}-{field}-{index}-{self.tag}.{extension_for(mime_type)}"
