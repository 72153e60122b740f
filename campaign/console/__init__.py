"""The organisers' console: accounts, dashboard, moderation, exports, audit log."""
