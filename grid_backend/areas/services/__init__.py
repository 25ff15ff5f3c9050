"""The area tree: reading, GeoJSON import and export, locate, duty coverage.

One module a concern: `reading` (lists, one area, the export), `geojson` (reading an import
file), `importing` (writing it), `locating` (the grid at a point and its team) and `coverage`.
Rosters and the team on duty come from `people.duty`."""

from grid_backend.areas.services.coverage import COVERED_DUTIES, coverage
from grid_backend.areas.services.geojson import (
    KINDS,
    MAX_IMPORT_FEATURES,
    AreaInput,
    _Errors,
    parse_feature_collection,
    parse_polygon,
    resolve_datum,
)
from grid_backend.areas.services.importing import apply_areas, import_geojson
from grid_backend.areas.services.locating import locate, locate_point, team_members, to_wgs84
from grid_backend.areas.services.reading import (
    area_path_of,
    export_geojson,
    get_area,
    list_areas,
)
from grid_backend.people.duty import team_on_duty

__all__ = [
    "COVERED_DUTIES",
    "KINDS",
    "MAX_IMPORT_FEATURES",
    "AreaInput",
    "_Errors",
    "apply_areas",
    "area_path_of",
    "coverage",
    "export_geojson",
    "get_area",
    "import_geojson",
    "list_areas",
    "locate",
    "locate_point",
    "parse_feature_collection",
    "parse_polygon",
    "resolve_datum",
    "team_members",
    "team_on_duty",
    "to_wgs84",
]
