"""Accounts and sign-in: passwords, JWT access tokens, rotating refresh tokens, throttled logins."""
