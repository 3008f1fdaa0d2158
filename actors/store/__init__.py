"""Redis: the task store (keys, reads, atomic writes as Lua scripts in `lua/`), the
worker registry, where Redis is, and riding out its outages."""
