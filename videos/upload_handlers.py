"""Upload handler that streams every file to disk and hashes it on the way."""

import hashlib

from django.conf import settings
from django.core.files.uploadhandler import StopUpload, TemporaryFileUploadHandler


class HashingTemporaryFileUploadHandler(TemporaryFileUploadHandler):
    """Writes chunks to a temporary file while computing their SHA-256.

    The finished file carries `.sha256`; a file over VIDEO_MAX_UPLOAD_BYTES
    stops the upload and marks the request so the view can answer 413.
    """

    def new_file(self, *args, **kwargs):
        super().new_file(*args, **kwargs)
        self._sha256 = hashlib.sha256()
        self._received = 0

    def receive_data_chunk(self, raw_data, start):
        self._received += len(raw_data)
        if self._received > settings.VIDEO_MAX_UPLOAD_BYTES:
            self.request.upload_too_large = True
            self.file.close()
            raise StopUpload(connection_reset=False)
        self._sha256.update(raw_data)
        return super().receive_data_chunk(raw_data, start)

    def file_complete(self, file_size):
        uploaded = super().file_complete(file_size)
        if uploaded is not None:
            uploaded.sha256 = self._sha256.hexdigest()
        return uploaded
