"""What talks to Mullvad, Tailscale and the kernel: the status sources (Qt) and their one-shot readers."""
