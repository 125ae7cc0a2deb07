"""The user's desktop: notifications, settings, one instance per session, autostart, opening URLs, probes."""
