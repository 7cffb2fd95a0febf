"""Names of the channel-layer groups that websocket consumers join."""

import uuid

ALL_VIDEOS_GROUP = "videos.all"


def video_group(video_id: uuid.UUID | str) -> str:
    return f"video.{video_id}"


def user_group(user_id: int) -> str:
    return f"user.{user_id}"


# Staff's sockets on /ws/alerts/: platform alerts as they open and resolve.
STAFF_ALERTS_GROUP = "staff.alerts"
