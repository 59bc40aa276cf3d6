"""Pure logic: no I/O, no event loop, no framework. Every time decision takes ``now``."""
