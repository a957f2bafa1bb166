"""Channels: an assistant reached on WhatsApp (Cloud API), by SMS (Twilio) or on Telegram, its
customers' messages coming in at a channel's own inbound URL and the replies going back out."""
