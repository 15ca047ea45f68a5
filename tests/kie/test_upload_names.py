"""Upload names are per job: stable for one job (retries overwrite only its own files), distinct
across jobs and deployments, free of the user's file name, and not revealing the job's secret."""

from __future__ import annotations

import re

import pytest

from kiebot.kie.upload_names import JobUploads, extension_for


def test_one_job_always_gets_the_same_names() -> None:
    first, again = JobUploads(7, "secret-a"), JobUploads(7, "secret-a")
    assert first.upload_path == again.upload_path
    assert first.file_name("image_urls", 1, "image/png") == again.file_name("image_urls", 1, "image/png")


def test_names_differ_by_job_field_index_and_secret() -> None:
    names = {
        JobUploads(7, "secret-a").file_name("image", 0, "image/jpeg"),
        JobUploads(8, "secret-a").file_name("image", 0, "image/jpeg"),
        JobUploads(7, "secret-b").file_name("image", 0, "image/jpeg"),  # same id, another deployment
        JobUploads(7, "secret-a").file_name("image", 1, "image/jpeg"),
        JobUploads(7, "secret-a").file_name("image_url", 0, "image/jpeg"),
    }
    assert len(names) == 5
    assert JobUploads(7, "secret-a").upload_path != JobUploads(8, "secret-a").upload_path
    assert JobUploads(7, "secret-a").upload_path != JobUploads(7, "secret-b").upload_path


def test_the_shape_of_a_name_and_its_folder() -> None:
    uploads = JobUploads(42, "s3cr3t-token")
    assert re.fullmatch(r"kiebot/j42-[0-9a-f]{16}", uploads.upload_path)
    assert re.fullmatch(r"j42-audio_url-0-[0-9a-f]{16}\.mp3", uploads.file_name("audio_url", 0, "audio/mpeg"))
    assert "s3cr3t" not in uploads.upload_path + uploads.file_name("x", 0, "image/png")


def test_the_extension_comes_from_a_fixed_table_never_from_the_sender() -> None:
    assert extension_for("image/jpeg") == "jpg"
    assert extension_for("IMAGE/PNG; charset=binary") == "png"
    assert extension_for("application/x-msdownload") == "bin"
    assert extension_for("image/../../etc") == "bin"
    assert JobUploads(1, "s").file_name("../../evil path", 0, "image/png").startswith("j1-______evil_path-0-")


def test_a_job_without_its_secret_has_no_names() -> None:
    with pytest.raises(ValueError):
        JobUploads(1, "")
    with pytest.raises(ValueError):
        JobUploads(1, "s").file_name("image", -1, "image/png")
