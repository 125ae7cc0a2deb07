"""Qt tray UI: renders the Snapshot, forwards user actions to the controller."""
