"""The root helper. Stdlib only; imports nothing from Qt, sources or ui (DESIGN.md, "Layers")."""
