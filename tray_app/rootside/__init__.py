"""The root side, seen from the unprivileged app: the bypass helper runs and the reconciler's published status."""
