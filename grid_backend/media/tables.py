from piccolo.columns import DoublePrecision, ForeignKey, Integer, Serial, Timestamptz, Varchar
from piccolo.columns.base import OnDelete
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table

from grid_backend.people.tables import Account


class Photo(Table, tablename="photo"):
    """One photo, stored once per content (SHA-256 of the original bytes).

    Files live under GRID_MEDIA_ROOT by digest: the original privately as evidence, a display
    copy and a thumbnail as JPEG without metadata."""

    id: Serial  # Piccolo's implicit primary key, annotated for the type checker only
    sha256 = Varchar(length=64, unique=True)
    mime = Varchar(length=32)
    width = Integer()
    height = Integer()
    size_bytes = Integer()
    dhash = Varchar(length=16, index=True)
    gps_lat = DoublePrecision(null=True, default=None)
    gps_lng = DoublePrecision(null=True, default=None)
    captured_at = Timestamptz(null=True, default=None)
    captured_local = Varchar(length=32, null=True, default=None)  # EXIF time without offset
    # who read the position and the time: "exif" (the server, from the file) or "phone" (the
    # phone, before it shrank the photo and its metadata went); None on rows from before
    gps_source = Varchar(length=8, null=True, default=None)
    captured_source = Varchar(length=8, null=True, default=None)
    created_at = Timestamptz(default=TimestamptzNow())


class PhotoUpload(Table, tablename="photo_upload"):
    """Who uploaded a photo: a photo may be attached only by someone who uploaded it."""

    id: Serial  # Piccolo's implicit primary key, annotated for the type checker only
    photo = ForeignKey(Photo, index=True, on_delete=OnDelete.cascade)
    account = ForeignKey(Account, index=True, on_delete=OnDelete.cascade)
    created_at = Timestamptz(default=TimestamptzNow())
