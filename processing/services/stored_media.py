"""What processing keeps in the media store, for the sweeps and the migration that videos cannot see from there."""

from processing.models import AnnotatedVideo, DetectorModel
from processing.services.playback import RENDITIONS_DIRECTORY
from videos.services.storage_migration import VIDEO_MEDIA_FOLDERS, MediaReference, video_media_references

WEIGHTS_FOLDER = "models"
# The folders that hold media (and nothing else): what a migration lists for orphans.
MEDIA_FOLDERS = (*VIDEO_MEDIA_FOLDERS, RENDITIONS_DIRECTORY, WEIGHTS_FOLDER)


def processing_media_references() -> list[MediaReference]:
    """Annotated videos and detector weights: the stored objects processing rows refer to."""
    references = [
        MediaReference(name=name, kind="annotated video", video_id=video_id)
        for name, video_id in AnnotatedVideo.objects.exclude(file="").values_list("file", "job__video_id")
    ]
    references += [
        MediaReference(name=name, kind="model weights")
        for name in DetectorModel.objects.exclude(weights="").values_list("weights", flat=True)
    ]
    return references


def referenced_media() -> list[MediaReference]:
    """Every stored object a row refers to, in both apps."""
    return video_media_references() + processing_media_references()
