"""Billing and quotas: plans, subscriptions, usage, the payment provider's events."""
