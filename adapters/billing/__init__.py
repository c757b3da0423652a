"""Payment provider adapters behind ports.billing (BillingGateway, WebhookVerifier)."""
