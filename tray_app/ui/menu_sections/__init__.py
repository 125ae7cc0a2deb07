"""Menu sections for exit nodes, devices, accounts and Mullvad locations (issue 12).

Each section owns one submenu of the tray menu. Like the rest of the menu it is updated in place: a
section keeps its QActions and changes text/checked/enabled only when they differ, and it rebuilds the
list in a submenu (devices, exit nodes, relay locations) only when that list's content changed, keeping
and reusing the existing actions; so an open menu does not jump and a StatusNotifierItem host gets one
LayoutUpdated per real change.
"""
