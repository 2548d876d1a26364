"""The tray app: icon, menu model, refresh loop, notifications, preferences, autostart."""
