"""Pure logic: no Qt, no I/O. Everything here is tested without a display or root."""
