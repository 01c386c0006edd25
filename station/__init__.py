"""Inline camera inspection station for cast parts."""

import os

# OpenCV and its FFmpeg print their own warnings to stderr; the station reports failures itself,
# one line each. Set before cv2 is first imported; an operator's own setting wins.
os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")

__version__ = "0.1.0"
