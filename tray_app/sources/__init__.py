"""Adapters to the outside world (daemons, netlink, the helper, files, D-Bus). They emit `core` values."""
