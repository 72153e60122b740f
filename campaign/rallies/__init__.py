"""Mobilisation days and rallies: propose, publish, find the nearest, RSVP, calendars."""
