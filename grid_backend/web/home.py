"""The landing page: where the console and the field app start."""

from __future__ import annotations

from litestar import Controller, get
from litestar.response import Template


class HomeController(Controller):
    include_in_schema = False

    @get("/", name="home")
    async def home(self) -> Template:
        return Template(template_name="home.html")
