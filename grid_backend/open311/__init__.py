"""Open311 GeoReport v2 at /open311/v2: the hazard categories as services, cases as service
requests (public view only), reports from integrators' keys (docs/open311.md)."""
