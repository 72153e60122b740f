"""Member organisations: applying to join, moderation, the public directory, referral links."""
