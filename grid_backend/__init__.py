"""grid-backend: the server behind Chongqing-style "141" grassroots emergency governance."""

import os

# Piccolo finds its engine through this module; set before any query is built.
os.environ.setdefault("PICCOLO_CONF", "grid_backend.piccolo_conf")
