"""The table of advisory locks: every name its own class of keys, and every lock in the code taken through it."""

import re
import uuid
from pathlib import Path

import pytest

from mediaplatform.advisory_locks import AdvisoryLock, advisory_lock_key

REPOSITORY = Path(__file__).resolve().parents[2]
APP_FOLDERS = ("audit", "mediaplatform", "notifications", "processing", "videos")


def test_names_map_to_distinct_classes():
    values = [lock.value for lock in AdvisoryLock]
    assert len(values) == len(set(values))
    assert all(0 < value < 2**15 for value in values)  # a positive bigint key, whatever the subject


@pytest.mark.parametrize(
    "subject", [0, 1, 42, 2**48 - 1, uuid.UUID(int=0), uuid.uuid4(), "f3c1e5a4-9b6f-4c4e-8d9e-0a1b2c3d4e5f"]
)
def test_one_subject_under_two_names_gives_two_keys(subject):
    keys = {advisory_lock_key(lock, subject) for lock in AdvisoryLock}
    assert len(keys) == len(AdvisoryLock)
    assert all(0 < key < 2**63 for key in keys)


def test_integer_ids_never_collide_within_a_name_and_uuids_read_the_same_as_their_text():
    keys = {advisory_lock_key(AdvisoryLock.VIDEO_ADMISSION, owner_id) for owner_id in range(1, 5000)}
    assert len(keys) == 4999
    job_id = uuid.uuid4()
    assert advisory_lock_key(AdvisoryLock.JOB_RUN, job_id) == advisory_lock_key(AdvisoryLock.JOB_RUN, str(job_id))


@pytest.mark.parametrize("subject", [-1, 2**48])
def test_an_integer_outside_the_subject_bits_is_refused(subject):
    with pytest.raises(ValueError):
        advisory_lock_key(AdvisoryLock.UPLOAD_SESSIONS, subject)


def test_every_advisory_lock_in_the_apps_goes_through_the_table():
    table = REPOSITORY / "mediaplatform" / "advisory_locks.py"
    outside = [
        f"{path.relative_to(REPOSITORY)}:{number}"
        for folder in APP_FOLDERS
        for path in (REPOSITORY / folder).rglob("*.py")
        if path != table
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if re.search(r"pg_(try_)?advisory", line)
    ]
    assert outside == []
