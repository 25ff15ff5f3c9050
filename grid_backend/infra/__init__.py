"""Code that reaches into a library's internals, fenced.

Each module here depends on how a pinned library works inside, not only on its documented
interface. So each has
- a contract test in tests/infra/ that fails loudly when an upgrade changes what it relies on;
- a setting that switches it off, back to the library's stock behaviour:
  - `sqlite`: Piccolo's SQLite transactions on connections kept open
    (GRID_SQLITE_REUSE_CONNECTIONS);
  - `network`: httpcore's network backend on plain asyncio (GRID_NOTIFY_ASYNCIO_NETWORK).

Nothing here imports the rest of grid_backend: the modules that use it decide, from the
settings, whether to."""
